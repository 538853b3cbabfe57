//! Build-time reading of a domain crate's data files (`plugin.toml`, `forms.toml`, `checklist.toml`,
//! `golden.toml`): parsed, checked, and baked into `$OUT_DIR/domain.rs` for [`crate::include_domain!`].
//!
//! Call [`domain`] from the crate's `build.rs`. A data error fails the build with the file and the
//! problem, so a wrong checklist never reaches a component.

use crate::check;
use crate::data::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Reads the four data files from the crate's directory and writes `$OUT_DIR/domain.rs`.
/// Panics (failing the build) with a readable report when a file is missing or wrong.
pub fn domain() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR is set by cargo"));
    let version = std::env::var("CARGO_PKG_VERSION").expect("CARGO_PKG_VERSION is set by cargo");
    domain_from(&Sources::in_dir(&dir), &version);
}

/// Where a domain's four data files are. A crate may take some from another crate's directory
/// (an earlier version of a domain's rules keeps the current forms, say).
#[derive(Debug, Clone)]
pub struct Sources {
    pub plugin: PathBuf,
    pub forms: PathBuf,
    pub checklist: PathBuf,
    /// Optional: without the file, the plugin declares no self-tests.
    pub golden: PathBuf,
}

impl Sources {
    pub fn in_dir(dir: &Path) -> Sources {
        Sources {
            plugin: dir.join("plugin.toml"),
            forms: dir.join("forms.toml"),
            checklist: dir.join("checklist.toml"),
            golden: dir.join("golden.toml"),
        }
    }
}

/// [`domain`] with the data files and the version given.
pub fn domain_from(files: &Sources, version: &str) {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    for f in [&files.plugin, &files.forms, &files.checklist, &files.golden] {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    match load_from(files, version) {
        Ok(domain) => {
            let problems = check::domain(&domain);
            if !problems.is_empty() {
                panic!(
                    "the domain data in {} has problems:\n  - {}",
                    files.checklist.display(),
                    problems.join("\n  - ")
                );
            }
            std::fs::write(out.join("domain.rs"), domain.to_rust()).expect("write the generated domain data");
        }
        Err(e) => panic!("{e}"),
    }
}

/// Parses the data files in `dir` into static data. `version` is the plugin's semver.
pub fn load(dir: &Path, version: &str) -> Result<Domain, String> {
    load_from(&Sources::in_dir(dir), version)
}

/// Parses the data files named by `files` into static data.
pub fn load_from(files: &Sources, version: &str) -> Result<Domain, String> {
    let plugin: PluginFile = read(&files.plugin)?;
    let forms: FormsFile = read(&files.forms)?;
    let checklist: ChecklistFile = read(&files.checklist)?;
    let golden: GoldenFile = if files.golden.exists() { read(&files.golden)? } else { GoldenFile::default() };

    let statutes: &'static [Statute] = leak_vec(checklist.statute.iter().map(|s| Statute {
        id: leak(&s.id),
        title: i18n(&s.title_zh, &s.title_en),
        version: leak(&s.version),
        version_zh: leak(&s.version_zh),
    }));
    let by_id: BTreeMap<&str, &'static Statute> = statutes.iter().map(|s| (s.id, s)).collect();
    let cite = |c: &CiteToml, ctx: &str| -> Result<Citation, String> {
        let statute = by_id.get(c.statute.as_str()).ok_or_else(|| {
            format!("checklist.toml: {ctx} cites statute `{}`, which no [[statute]] declares", c.statute)
        })?;
        Ok(Citation {
            statute,
            article: c.article,
            clause: c.clause,
            item: c.item,
            excerpt: leak(c.excerpt.as_deref().unwrap_or("")),
        })
    };
    let cites = |list: &[CiteToml], ctx: &str| -> Result<&'static [Citation], String> {
        Ok(leak_vec(list.iter().map(|c| cite(c, ctx)).collect::<Result<Vec<_>, _>>()?))
    };

    let mut items = Vec::new();
    for it in &checklist.item {
        let mut tiers = Vec::new();
        for t in &it.tier {
            let ctx = format!("item {} tier {}", it.code, t.code);
            let penalties = t.penalty.iter().map(|p| penalty(p, &ctx)).collect::<Result<Vec<_>, _>>()?;
            let orders = zip_i18n(&t.orders_zh, &t.orders_en, &ctx)?;
            tiers.push(Tier {
                code: leak(&t.code),
                circumstances: i18n(&t.circumstances_zh, &t.circumstances_en),
                conditions: leak_vec(
                    t.when.iter().map(|(fact, v)| Condition { fact: leak(fact), any_of: v.strings() }),
                ),
                penalties: leak_vec(penalties),
                orders,
                basis: cites(&t.basis, &ctx)?,
            });
        }
        items.push(Item {
            code: leak(&it.code),
            kind: match it.kind.as_str() {
                "penalty" => ItemKind::Penalty,
                "coercive" => ItemKind::CoerciveMeasure,
                other => {
                    return Err(format!(
                        "checklist.toml: item {} has kind `{other}`; use penalty or coercive",
                        it.code
                    ));
                }
            },
            title: i18n(&it.title_zh, &it.title_en),
            keywords: leak_vec(it.keywords_zh.iter().chain(&it.keywords_en).map(|k| leak(k))),
            violation: cites(&it.violation, &format!("item {} violation", it.code))?,
            penalty_basis: cites(&it.penalty_basis, &format!("item {} penalty_basis", it.code))?,
            tiers: leak_vec(tiers),
            compliance: it.compliance.as_ref().map(|c| c.to_limit()).transpose()?,
            hearing: it.hearing,
            in_force: it.in_force.to_static()?,
            notes: zip_i18n(&it.notes_zh, &it.notes_en, &format!("item {} notes", it.code))?,
        });
    }

    let mut form_list = Vec::new();
    for f in &forms.form {
        let mut fields = Vec::new();
        for fd in &f.field {
            fields.push(field(fd, &f.id)?);
        }
        form_list.push(Form { id: leak(&f.id), title: i18n(&f.title_zh, &f.title_en), fields: leak_vec(fields) });
    }

    let categories = plugin
        .category
        .iter()
        .map(|c| {
            Ok(Category {
                code: leak(&c.code),
                name: i18n(&c.name_zh, &c.name_en),
                description: i18n(&c.description_zh, &c.description_en),
                keywords_zh: leak_vec(c.keywords_zh.iter().map(|k| leak(k))),
                keywords_en: leak_vec(c.keywords_en.iter().map(|k| leak(k.to_lowercase()))),
                response: c.response.to_limit()?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;

    let self_tests = golden
        .case
        .iter()
        .map(|c| SelfTest {
            name: leak(&c.name),
            item: leak(&c.item),
            facts: leak_vec(c.facts.iter().map(|(k, v)| {
                let v = match v {
                    toml::Value::Boolean(b) => FactValue::Bool(*b),
                    toml::Value::Integer(i) => FactValue::Number(*i as f64),
                    toml::Value::Float(f) => FactValue::Number(*f),
                    toml::Value::String(s) => FactValue::Str(leak(s)),
                    toml::Value::Datetime(d) if d.date.is_some() && d.time.is_none() => {
                        let d = d.date.expect("checked");
                        FactValue::Date(Ymd { year: i32::from(d.year), month: d.month, day: d.day })
                    }
                    other => FactValue::Str(leak(other.to_string())),
                };
                (leak(k), v)
            })),
            tier: leak(&c.tier),
            fine: match (c.fine_min_yuan, c.fine_max_yuan) {
                (Some(a), Some(b)) => Some((yuan_to_fen(a), yuan_to_fen(b))),
                _ => None,
            },
        })
        .collect::<Vec<_>>();

    let m = &plugin.manifest;
    Ok(Domain {
        manifest: Manifest {
            domain: leak(&m.domain),
            name: i18n(&m.name_zh, &m.name_en),
            version: leak(version),
            publisher: leak(&m.publisher),
            in_force: m.in_force.to_static()?,
            memory_bytes: m.memory_bytes,
            call_millis: m.call_millis,
            component_bytes: m.component_bytes,
        },
        statutes,
        categories: leak_vec(categories),
        forms: leak_vec(form_list),
        checklist: leak_vec(items),
        self_tests: leak_vec(self_tests),
    })
}

fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

// The build script is a short-lived process: leaking gives the `'static` data the baker writes out.
fn leak(s: impl AsRef<str>) -> &'static str {
    String::from(s.as_ref()).leak()
}

fn leak_vec<T>(it: impl IntoIterator<Item = T>) -> &'static [T] {
    it.into_iter().collect::<Vec<_>>().leak()
}

fn i18n(zh: &str, en: &str) -> I18n {
    I18n { zh: leak(zh), en: leak(en) }
}

fn zip_i18n(zh: &[String], en: &[String], ctx: &str) -> Result<&'static [I18n], String> {
    if zh.len() != en.len() {
        return Err(format!("{ctx}: {} Chinese texts but {} English ones", zh.len(), en.len()));
    }
    Ok(leak_vec(zh.iter().zip(en).map(|(z, e)| i18n(z, e))))
}

fn yuan_to_fen(y: f64) -> i64 {
    (y * 100.0).round() as i64
}

/// Percent and multiple bounds to basis points: 5 % is 500 bp, 1.5x is 15000 bp.
fn to_bp(v: f64, per: f64) -> u32 {
    (v * per).round() as u32
}

fn parse_date(s: &str) -> Result<Ymd, String> {
    let mut parts = s.splitn(3, '-');
    let mut next = |what: &str| -> Result<i64, String> {
        parts
            .next()
            .and_then(|p| p.parse::<i64>().ok())
            .ok_or_else(|| format!("date `{s}`: the {what} is missing or not a number (use YYYY-MM-DD)"))
    };
    let (year, month, day) = (next("year")?, next("month")?, next("day")?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(format!("date `{s}` is not a calendar date"));
    }
    Ok(Ymd { year: year as i32, month: month as u8, day: day as u8 })
}

fn penalty(p: &PenaltyToml, ctx: &str) -> Result<Penalty, String> {
    let text = || -> Result<I18n, String> {
        match (&p.what_zh, &p.what_en) {
            (Some(z), Some(e)) => Ok(i18n(z, e)),
            _ => Err(format!("{ctx}: a `{}` penalty needs what_zh and what_en", p.kind)),
        }
    };
    let kind = match p.kind.as_str() {
        "warning" => PenaltyKind::Warning,
        "public-criticism" => PenaltyKind::PublicCriticism,
        "confiscate-gains" => PenaltyKind::ConfiscateGains,
        "fine" => PenaltyKind::Fine(match (&p.percent_of, &p.multiple_of, p.min_yuan, p.max_yuan) {
            (None, None, min, Some(max)) if p.per_unit.is_some() => FineRule::PerUnit {
                fact: leak(p.per_unit.as_deref().unwrap_or_default()),
                min_fen: yuan_to_fen(min.unwrap_or(0.0)),
                max_fen: yuan_to_fen(max),
            },
            _ if p.per_unit.is_some() => {
                return Err(format!("{ctx}: a per-unit fine takes per_unit, min_yuan and max_yuan only"));
            }
            (Some(fact), None, None, None) => FineRule::PercentOf {
                fact: leak(fact),
                min_bp: to_bp(p.min.unwrap_or(0.0), 100.0),
                max_bp: to_bp(p.max.ok_or_else(|| format!("{ctx}: a percent fine needs `max`"))?, 100.0),
            },
            (None, Some(fact), None, None) => FineRule::MultipleOf {
                fact: leak(fact),
                min_bp: to_bp(p.min.unwrap_or(0.0), 10_000.0),
                max_bp: to_bp(p.max.ok_or_else(|| format!("{ctx}: a multiple fine needs `max`"))?, 10_000.0),
            },
            (None, None, min, Some(max)) => {
                FineRule::Fixed { min_fen: yuan_to_fen(min.unwrap_or(0.0)), max_fen: yuan_to_fen(max) }
            }
            _ => {
                return Err(format!(
                    "{ctx}: a fine is exactly one of min_yuan/max_yuan, percent_of, multiple_of, per_unit"
                ));
            }
        }),
        "confiscate-property" => PenaltyKind::ConfiscateProperty(text()?),
        "suspend-licence" => PenaltyKind::SuspendLicence(text()?),
        "lower-qualification" => PenaltyKind::LowerQualification(text()?),
        "revoke-licence" => PenaltyKind::RevokeLicence(text()?),
        "restrict-business" => PenaltyKind::RestrictBusiness(text()?),
        "suspend-business" => PenaltyKind::SuspendBusiness(text()?),
        "close" => PenaltyKind::Close(text()?),
        "restrict-practice" => PenaltyKind::RestrictPractice(text()?),
        other => return Err(format!("{ctx}: unknown penalty kind `{other}`")),
    };
    Ok(Penalty { kind, optional: p.optional })
}

fn field(f: &FieldToml, form: &str) -> Result<Field, String> {
    let ctx = format!("forms.toml: form {form} field {}", f.id);
    let kind = match f.kind.as_str() {
        "text" => FieldKind::Text,
        "long-text" => FieldKind::LongText,
        "integer" => FieldKind::Integer,
        "decimal" => FieldKind::Decimal,
        "money" => FieldKind::Money,
        "date" => FieldKind::Date,
        "datetime" => FieldKind::Datetime,
        "choice" => FieldKind::Choice,
        "multi-choice" => FieldKind::MultiChoice,
        "boolean" => FieldKind::Boolean,
        "geo-point" => FieldKind::GeoPoint,
        "attachment" => FieldKind::Attachment,
        other => return Err(format!("{ctx}: unknown kind `{other}`")),
    };
    let mut constraints = Vec::new();
    if f.min.is_some() || f.max.is_some() {
        constraints.push(Constraint::Range { min: f.min, max: f.max });
    }
    if f.min_len.is_some() || f.max_len.is_some() {
        constraints.push(Constraint::Length { min: f.min_len, max: f.max_len });
    }
    if let Some(p) = &f.pattern {
        crate::pattern::Pattern::parse(p)
            .map_err(|e| format!("{ctx}: pattern outside the portable subset: {}", e.0))?;
        regex_lite::Regex::new(p).map_err(|e| format!("{ctx}: pattern is not a regular expression: {e}"))?;
        constraints.push(Constraint::Pattern(leak(p)));
    }
    if !f.options.is_empty() {
        constraints.push(Constraint::Options(leak_vec(
            f.options.iter().map(|o| ChoiceOption { value: leak(&o.value), label: i18n(&o.zh, &o.en) }),
        )));
    }
    if f.not_future {
        constraints.push(Constraint::NotFuture);
    }
    if let Some(n) = f.max_count {
        constraints.push(Constraint::MaxCount(n));
    }
    if !f.media_types.is_empty() {
        constraints.push(Constraint::MediaTypes(leak_vec(f.media_types.iter().map(|m| leak(m)))));
    }
    Ok(Field {
        id: leak(&f.id),
        label: i18n(&f.label_zh, &f.label_en),
        help: i18n(&f.help_zh, &f.help_en),
        kind,
        required: f.required,
        constraints: leak_vec(constraints),
    })
}

// ---------------------------------------------------------------------------------------------
// The files' shapes. Unknown keys are errors: a misspelt key must not silently drop law.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginFile {
    manifest: ManifestToml,
    #[serde(default)]
    category: Vec<CategoryToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestToml {
    domain: String,
    name_zh: String,
    name_en: String,
    publisher: String,
    in_force: InForceToml,
    memory_bytes: Option<u64>,
    call_millis: Option<u32>,
    component_bytes: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InForceToml {
    from: String,
    until: Option<String>,
}

impl InForceToml {
    fn to_static(&self) -> Result<InForce, String> {
        Ok(InForce { from: parse_date(&self.from)?, until: self.until.as_deref().map(parse_date).transpose()? })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitToml {
    #[serde(alias = "days")]
    amount: u32,
    unit: String,
}

impl LimitToml {
    fn to_limit(&self) -> Result<TimeLimit, String> {
        let unit = match self.unit.as_str() {
            "hours" => TimeUnit::Hours,
            "working-days" => TimeUnit::WorkingDays,
            "calendar-days" => TimeUnit::CalendarDays,
            other => {
                return Err(format!("time unit `{other}`: use hours, working-days or calendar-days"));
            }
        };
        Ok(TimeLimit { amount: self.amount, unit })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryToml {
    code: String,
    name_zh: String,
    name_en: String,
    description_zh: String,
    description_en: String,
    keywords_zh: Vec<String>,
    keywords_en: Vec<String>,
    response: LimitToml,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormsFile {
    form: Vec<FormToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormToml {
    id: String,
    title_zh: String,
    title_en: String,
    field: Vec<FieldToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldToml {
    id: String,
    label_zh: String,
    label_en: String,
    #[serde(default)]
    help_zh: String,
    #[serde(default)]
    help_en: String,
    kind: String,
    #[serde(default)]
    required: bool,
    min: Option<f64>,
    max: Option<f64>,
    min_len: Option<u32>,
    max_len: Option<u32>,
    pattern: Option<String>,
    #[serde(default)]
    options: Vec<OptionToml>,
    #[serde(default)]
    not_future: bool,
    max_count: Option<u32>,
    #[serde(default)]
    media_types: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionToml {
    value: String,
    zh: String,
    en: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChecklistFile {
    statute: Vec<StatuteToml>,
    item: Vec<ItemToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatuteToml {
    id: String,
    title_zh: String,
    title_en: String,
    version: String,
    version_zh: String,
    #[allow(dead_code)] // where the text was read: for reviewers of the data file
    source: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CiteToml {
    statute: String,
    article: u32,
    clause: Option<u32>,
    item: Option<u32>,
    excerpt: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemToml {
    code: String,
    kind: String,
    title_zh: String,
    title_en: String,
    #[serde(default)]
    keywords_zh: Vec<String>,
    #[serde(default)]
    keywords_en: Vec<String>,
    #[serde(default)]
    hearing: bool,
    compliance: Option<LimitToml>,
    in_force: InForceToml,
    #[serde(default)]
    notes_zh: Vec<String>,
    #[serde(default)]
    notes_en: Vec<String>,
    violation: Vec<CiteToml>,
    penalty_basis: Vec<CiteToml>,
    tier: Vec<TierToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TierToml {
    code: String,
    circumstances_zh: String,
    circumstances_en: String,
    #[serde(default)]
    when: BTreeMap<String, WhenToml>,
    basis: Vec<CiteToml>,
    #[serde(default)]
    orders_zh: Vec<String>,
    #[serde(default)]
    orders_en: Vec<String>,
    #[serde(default)]
    penalty: Vec<PenaltyToml>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum WhenToml {
    Bool(bool),
    One(String),
    Any(Vec<String>),
}

impl WhenToml {
    fn strings(&self) -> &'static [&'static str] {
        match self {
            WhenToml::Bool(b) => leak_vec([if *b { "true" } else { "false" }]),
            WhenToml::One(s) => leak_vec([leak(s)]),
            WhenToml::Any(v) => leak_vec(v.iter().map(|s| leak(s))),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PenaltyToml {
    kind: String,
    #[serde(default)]
    optional: bool,
    min_yuan: Option<f64>,
    max_yuan: Option<f64>,
    percent_of: Option<String>,
    multiple_of: Option<String>,
    per_unit: Option<String>,
    min: Option<f64>,
    max: Option<f64>,
    what_zh: Option<String>,
    what_en: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GoldenFile {
    #[serde(default)]
    case: Vec<GoldenToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GoldenToml {
    name: String,
    item: String,
    facts: BTreeMap<String, toml::Value>,
    tier: String,
    fine_min_yuan: Option<f64>,
    fine_max_yuan: Option<f64>,
}
