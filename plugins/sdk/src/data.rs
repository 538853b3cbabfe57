//! A domain's static data — manifest, categories, forms, checklist, self-tests — as `'static` Rust
//! values baked at build time from the crate's TOML files, so a fresh instance pays nothing to parse.

use std::fmt::Write as _;

/// Text shown to people, in Simplified Chinese and English.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct I18n {
    pub zh: &'static str,
    pub en: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ymd {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InForce {
    pub from: Ymd,
    pub until: Option<Ymd>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeUnit {
    Hours,
    WorkingDays,
    CalendarDays,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeLimit {
    pub amount: u32,
    pub unit: TimeUnit,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Statute {
    pub id: &'static str,
    pub title: I18n,
    /// The promulgation or latest amendment date of the text cited.
    pub version: &'static str,
    pub version_zh: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Citation {
    pub statute: &'static Statute,
    pub article: u32,
    pub clause: Option<u32>,
    pub item: Option<u32>,
    pub excerpt: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FineRule {
    /// Yuan amounts in fen.
    Fixed {
        min_fen: i64,
        max_fen: i64,
    },
    /// Basis points of an amount from the facts (10000 = the whole amount).
    PercentOf {
        fact: &'static str,
        min_bp: u32,
        max_bp: u32,
    },
    MultipleOf {
        fact: &'static str,
        min_bp: u32,
        max_bp: u32,
    },
    /// So much in fen for each unit of a quantity fact: counted (integer) or measured (decimal).
    PerUnit {
        fact: &'static str,
        min_fen: i64,
        max_fen: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PenaltyKind {
    Warning,
    PublicCriticism,
    Fine(FineRule),
    ConfiscateGains,
    ConfiscateProperty(I18n),
    SuspendLicence(I18n),
    LowerQualification(I18n),
    RevokeLicence(I18n),
    RestrictBusiness(I18n),
    SuspendBusiness(I18n),
    Close(I18n),
    RestrictPractice(I18n),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Penalty {
    pub kind: PenaltyKind,
    pub optional: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    pub fact: &'static str,
    pub any_of: &'static [&'static str],
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tier {
    pub code: &'static str,
    pub circumstances: I18n,
    pub conditions: &'static [Condition],
    pub penalties: &'static [Penalty],
    pub orders: &'static [I18n],
    pub basis: &'static [Citation],
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ItemKind {
    Penalty,
    CoerciveMeasure,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Item {
    pub code: &'static str,
    pub kind: ItemKind,
    pub title: I18n,
    pub keywords: &'static [&'static str],
    pub violation: &'static [Citation],
    pub penalty_basis: &'static [Citation],
    pub tiers: &'static [Tier],
    pub compliance: Option<TimeLimit>,
    pub hearing: bool,
    pub in_force: InForce,
    /// Officers' notes: boundaries with other domains' items.
    pub notes: &'static [I18n],
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldKind {
    Text,
    LongText,
    Integer,
    Decimal,
    Money,
    Date,
    Datetime,
    Choice,
    MultiChoice,
    Boolean,
    GeoPoint,
    Attachment,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChoiceOption {
    pub value: &'static str,
    pub label: I18n,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Constraint {
    /// Inclusive; money bounds are in yuan.
    Range {
        min: Option<f64>,
        max: Option<f64>,
    },
    Length {
        min: Option<u32>,
        max: Option<u32>,
    },
    Pattern(&'static str),
    Options(&'static [ChoiceOption]),
    NotFuture,
    MaxCount(u32),
    MediaTypes(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    pub id: &'static str,
    pub label: I18n,
    pub help: I18n,
    pub kind: FieldKind,
    pub required: bool,
    pub constraints: &'static [Constraint],
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Form {
    pub id: &'static str,
    pub title: I18n,
    pub fields: &'static [Field],
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Category {
    pub code: &'static str,
    pub name: I18n,
    pub description: I18n,
    pub keywords_zh: &'static [&'static str],
    pub keywords_en: &'static [&'static str],
    pub response: TimeLimit,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Manifest {
    pub domain: &'static str,
    pub name: I18n,
    pub version: &'static str,
    pub publisher: &'static str,
    pub in_force: InForce,
    pub memory_bytes: Option<u64>,
    pub call_millis: Option<u32>,
    pub component_bytes: Option<u64>,
}

/// A fact value in a self-test, as written in `golden.toml`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FactValue {
    Bool(bool),
    Str(&'static str),
    /// Yuan, for money facts; a plain number otherwise.
    Number(f64),
    Date(Ymd),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SelfTest {
    pub name: &'static str,
    pub item: &'static str,
    pub facts: &'static [(&'static str, FactValue)],
    pub tier: &'static str,
    /// The expected fine band in fen; none when the tier imposes no fine.
    pub fine: Option<(i64, i64)>,
}

/// Everything a domain declares about itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Domain {
    pub manifest: Manifest,
    pub statutes: &'static [Statute],
    pub categories: &'static [Category],
    pub forms: &'static [Form],
    pub checklist: &'static [Item],
    pub self_tests: &'static [SelfTest],
}

impl Domain {
    pub fn form(&self, id: &str) -> Option<&'static Form> {
        self.forms.iter().find(|f| f.id == id)
    }

    pub fn item(&self, code: &str) -> Option<&'static Item> {
        self.checklist.iter().find(|i| i.code == code)
    }
}

impl Form {
    pub fn field(&self, id: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.id == id)
    }
}

impl Field {
    pub fn options(&self) -> &'static [ChoiceOption] {
        self.constraints
            .iter()
            .find_map(|c| match c {
                Constraint::Options(o) => Some(*o),
                _ => None,
            })
            .unwrap_or(&[])
    }
}

// ---------------------------------------------------------------------------------------------
// Baking: writing a value as the Rust expression that rebuilds it, for the generated data file.

/// Writes `self` as a Rust expression in scope of `casegrid_plugin_sdk::data::*`.
pub trait Bake {
    fn bake(&self, out: &mut String);
}

impl Bake for &'static str {
    fn bake(&self, out: &mut String) {
        let _ = write!(out, "{self:?}");
    }
}

macro_rules! bake_plain {
    ($($t:ty),*) => {$(
        impl Bake for $t {
            fn bake(&self, out: &mut String) {
                let _ = write!(out, "{self:?}");
            }
        }
    )*};
}
bake_plain!(bool, u8, u32, i32, i64, u64);

impl Bake for f64 {
    fn bake(&self, out: &mut String) {
        // `{:?}` always keeps a decimal point or exponent, so the literal stays an f64.
        let _ = write!(out, "{self:?}");
    }
}

impl<T: Bake> Bake for Option<T> {
    fn bake(&self, out: &mut String) {
        match self {
            None => out.push_str("None"),
            Some(v) => {
                out.push_str("Some(");
                v.bake(out);
                out.push(')');
            }
        }
    }
}

impl<T: Bake> Bake for &'static [T] {
    fn bake(&self, out: &mut String) {
        out.push_str("&[");
        for v in self.iter() {
            v.bake(out);
            out.push(',');
        }
        out.push(']');
    }
}

impl<A: Bake, B: Bake> Bake for (A, B) {
    fn bake(&self, out: &mut String) {
        out.push('(');
        self.0.bake(out);
        out.push(',');
        self.1.bake(out);
        out.push(')');
    }
}

/// A statute is baked by reference to the `static` the generated file declares for it.
impl Bake for &'static Statute {
    fn bake(&self, out: &mut String) {
        let _ = write!(out, "&{}", statute_static_name(self.id));
    }
}

/// The name of the `static` holding a statute in the generated file.
pub fn statute_static_name(id: &str) -> String {
    let mut name = String::from("STATUTE_");
    name.extend(id.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }));
    name
}

macro_rules! bake_struct {
    ($($name:ident { $($field:ident),* $(,)? })*) => {$(
        impl Bake for $name {
            fn bake(&self, out: &mut String) {
                out.push_str(concat!(stringify!($name), " {"));
                $(
                    out.push_str(concat!(stringify!($field), ": "));
                    Bake::bake(&self.$field, out);
                    out.push(',');
                )*
                out.push('}');
            }
        }
    )*};
}

bake_struct! {
    I18n { zh, en }
    Ymd { year, month, day }
    InForce { from, until }
    TimeLimit { amount, unit }
    Statute { id, title, version, version_zh }
    Citation { statute, article, clause, item, excerpt }
    Penalty { kind, optional }
    Condition { fact, any_of }
    Tier { code, circumstances, conditions, penalties, orders, basis }
    Item { code, kind, title, keywords, violation, penalty_basis, tiers, compliance, hearing, in_force, notes }
    ChoiceOption { value, label }
    Field { id, label, help, kind, required, constraints }
    Form { id, title, fields }
    Category { code, name, description, keywords_zh, keywords_en, response }
    Manifest { domain, name, version, publisher, in_force, memory_bytes, call_millis, component_bytes }
    SelfTest { name, item, facts, tier, fine }
}

macro_rules! bake_unit_enum {
    ($($name:ident { $($variant:ident),* $(,)? })*) => {$(
        impl Bake for $name {
            fn bake(&self, out: &mut String) {
                out.push_str(match self {
                    $($name::$variant => concat!(stringify!($name), "::", stringify!($variant)),)*
                });
            }
        }
    )*};
}

bake_unit_enum! {
    TimeUnit { Hours, WorkingDays, CalendarDays }
    ItemKind { Penalty, CoerciveMeasure }
    FieldKind { Text, LongText, Integer, Decimal, Money, Date, Datetime, Choice, MultiChoice, Boolean, GeoPoint, Attachment }
}

/// Writes `Enum::Variant(inner)` for a one-field tuple variant.
fn bake_tuple(out: &mut String, path: &str, inner: &dyn Bake) {
    out.push_str(path);
    out.push('(');
    inner.bake(out);
    out.push(')');
}

impl Bake for FineRule {
    fn bake(&self, out: &mut String) {
        match *self {
            FineRule::Fixed { min_fen, max_fen } => {
                let _ = write!(out, "FineRule::Fixed {{ min_fen: {min_fen}, max_fen: {max_fen} }}");
            }
            FineRule::PercentOf { fact, min_bp, max_bp } => {
                let _ = write!(out, "FineRule::PercentOf {{ fact: {fact:?}, min_bp: {min_bp}, max_bp: {max_bp} }}");
            }
            FineRule::MultipleOf { fact, min_bp, max_bp } => {
                let _ = write!(out, "FineRule::MultipleOf {{ fact: {fact:?}, min_bp: {min_bp}, max_bp: {max_bp} }}");
            }
            FineRule::PerUnit { fact, min_fen, max_fen } => {
                let _ = write!(out, "FineRule::PerUnit {{ fact: {fact:?}, min_fen: {min_fen}, max_fen: {max_fen} }}");
            }
        }
    }
}

impl Bake for PenaltyKind {
    fn bake(&self, out: &mut String) {
        match self {
            PenaltyKind::Warning => out.push_str("PenaltyKind::Warning"),
            PenaltyKind::PublicCriticism => out.push_str("PenaltyKind::PublicCriticism"),
            PenaltyKind::ConfiscateGains => out.push_str("PenaltyKind::ConfiscateGains"),
            PenaltyKind::Fine(rule) => bake_tuple(out, "PenaltyKind::Fine", rule),
            PenaltyKind::ConfiscateProperty(t) => bake_tuple(out, "PenaltyKind::ConfiscateProperty", t),
            PenaltyKind::SuspendLicence(t) => bake_tuple(out, "PenaltyKind::SuspendLicence", t),
            PenaltyKind::LowerQualification(t) => bake_tuple(out, "PenaltyKind::LowerQualification", t),
            PenaltyKind::RevokeLicence(t) => bake_tuple(out, "PenaltyKind::RevokeLicence", t),
            PenaltyKind::RestrictBusiness(t) => bake_tuple(out, "PenaltyKind::RestrictBusiness", t),
            PenaltyKind::SuspendBusiness(t) => bake_tuple(out, "PenaltyKind::SuspendBusiness", t),
            PenaltyKind::Close(t) => bake_tuple(out, "PenaltyKind::Close", t),
            PenaltyKind::RestrictPractice(t) => bake_tuple(out, "PenaltyKind::RestrictPractice", t),
        }
    }
}

impl Bake for Constraint {
    fn bake(&self, out: &mut String) {
        match self {
            Constraint::Range { min, max } => {
                out.push_str("Constraint::Range { min: ");
                min.bake(out);
                out.push_str(", max: ");
                max.bake(out);
                out.push('}');
            }
            Constraint::Length { min, max } => {
                out.push_str("Constraint::Length { min: ");
                min.bake(out);
                out.push_str(", max: ");
                max.bake(out);
                out.push('}');
            }
            Constraint::Pattern(p) => bake_tuple(out, "Constraint::Pattern", p),
            Constraint::Options(o) => bake_tuple(out, "Constraint::Options", o),
            Constraint::NotFuture => out.push_str("Constraint::NotFuture"),
            Constraint::MaxCount(n) => bake_tuple(out, "Constraint::MaxCount", n),
            Constraint::MediaTypes(m) => bake_tuple(out, "Constraint::MediaTypes", m),
        }
    }
}

impl Bake for FactValue {
    fn bake(&self, out: &mut String) {
        match self {
            FactValue::Bool(b) => bake_tuple(out, "FactValue::Bool", b),
            FactValue::Str(s) => bake_tuple(out, "FactValue::Str", s),
            FactValue::Number(n) => bake_tuple(out, "FactValue::Number", n),
            FactValue::Date(d) => bake_tuple(out, "FactValue::Date", d),
        }
    }
}

impl Domain {
    /// The Rust source of the generated data file: one `static` per statute, then `DOMAIN`.
    pub fn to_rust(&self) -> String {
        let mut out = String::from("// @generated by casegrid-plugin-sdk from the crate's TOML data files.\n");
        for s in self.statutes {
            let _ = write!(out, "static {}: Statute = ", statute_static_name(s.id));
            s.bake(&mut out);
            out.push_str(";\n");
        }
        out.push_str("pub static DOMAIN: Domain = Domain { manifest: ");
        self.manifest.bake(&mut out);
        out.push_str(", statutes: &[");
        for s in self.statutes {
            out.push_str(&statute_static_name(s.id));
            out.push(',');
        }
        out.push_str("], categories: ");
        self.categories.bake(&mut out);
        out.push_str(", forms: ");
        self.forms.bake(&mut out);
        out.push_str(", checklist: ");
        self.checklist.bake(&mut out);
        out.push_str(", self_tests: ");
        self.self_tests.bake(&mut out);
        out.push_str("};\n");
        out
    }
}
