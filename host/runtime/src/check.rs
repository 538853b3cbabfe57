//! The conformance check of a plugin's static data and self-tests: what `casegrid plugin check` runs
//! and what every load enforces. The host trusts no SDK: everything is checked again here, on what
//! the component actually returned.

use super::bindings::{
    Assessment, CONTRACT, Constraint, Date, FieldKind, FieldValue, FineRule, Form, Item, PenaltyKind, Text, Value,
};
use super::engine::Plugin;
use crate::money::band;
use serde::Serialize;
use std::collections::BTreeSet;

/// The forms every plugin must supply.
pub const REQUIRED_FORMS: [&str; 3] = ["report", "inspection", "case-facts"];

/// Every way the plugin's static data breaks the contract; empty when it is sound.
pub fn static_data(p: &Plugin) -> Vec<String> {
    let mut out = Vec::new();
    let m = p.manifest();
    if m.domain.is_empty() || !m.domain.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
        out.push(format!("manifest: domain code `{}` must be lower-case letters and '-'", m.domain));
    }
    if !is_semver(&m.version) {
        out.push(format!("manifest: version `{}` is not semver (MAJOR.MINOR.PATCH)", m.version));
    }
    if m.contract != CONTRACT {
        out.push(format!("manifest: built against contract {}, this host serves {CONTRACT}", m.contract));
    }
    if m.publisher.trim().is_empty() {
        out.push("manifest: publisher is empty".into());
    }
    text(&mut out, "manifest name", &m.name);
    let d = p.data();
    unique(&mut out, "category code", d.categories.iter().map(|c| c.code.as_str()));
    for c in &d.categories {
        text(&mut out, &format!("category {}", c.code), &c.name);
        if c.keywords_zh.is_empty() || c.keywords_en.is_empty() {
            out.push(format!("category {}: needs keywords in Chinese and English", c.code));
        }
    }
    unique(&mut out, "form id", d.forms.iter().map(|f| f.id.as_str()));
    for id in REQUIRED_FORMS {
        if !d.forms.iter().any(|f| f.id == id) {
            out.push(format!("forms: the `{id}` form is missing"));
        }
    }
    for f in &d.forms {
        text(&mut out, &format!("form {}", f.id), &f.title);
        unique(&mut out, &format!("field id in form {}", f.id), f.fields.iter().map(|x| x.id.as_str()));
        for fd in &f.fields {
            text(&mut out, &format!("form {} field {}", f.id, fd.id), &fd.label);
            let options = fd.constraints.iter().any(|c| matches!(c, Constraint::Options(o) if !o.is_empty()));
            if matches!(fd.kind, FieldKind::Choice | FieldKind::MultiChoice) != options {
                out.push(format!("form {} field {}: choice fields, and only they, list options", f.id, fd.id));
            }
            for c in &fd.constraints {
                if let Constraint::Range(r) = c
                    && let (Some(a), Some(b)) = (r.min, r.max)
                    && a > b
                {
                    out.push(format!("form {} field {}: range {a}..{b} is reversed", f.id, fd.id));
                }
            }
        }
    }
    unique(&mut out, "checklist item code", d.checklist.iter().map(|i| i.code.as_str()));
    let facts = d.forms.iter().find(|f| f.id == "case-facts");
    for it in &d.checklist {
        item(&mut out, it, facts);
    }
    out
}

fn ymd(d: &Date) -> (i32, u8, u8) {
    (d.year, d.month, d.day)
}

fn item(out: &mut Vec<String>, it: &Item, facts: Option<&Form>) {
    let ctx = format!("item {}", it.code);
    text(out, &ctx, &it.title);
    if let Some(until) = &it.in_force.until
        && ymd(until) <= ymd(&it.in_force.from)
    {
        out.push(format!("{ctx}: in force until before it starts"));
    }
    let field = |id: &str| facts.and_then(|f| f.fields.iter().find(|x| x.id == id));
    if it.violation_basis.is_empty() {
        out.push(format!("{ctx}: no legal basis for the violation"));
    }
    if it.penalty_basis.is_empty() {
        out.push(format!("{ctx}: no legal basis for the penalty"));
    }
    if it.tiers.is_empty() {
        out.push(format!("{ctx}: no discretion tier"));
    }
    for c in it.violation_basis.iter().chain(&it.penalty_basis) {
        if c.article == 0 || c.statute.zh.trim().is_empty() {
            out.push(format!("{ctx}: a citation lacks its statute or article"));
        }
    }
    unique(out, &format!("tier code in {ctx}"), it.tiers.iter().map(|t| t.code.as_str()));
    for t in &it.tiers {
        let ctx = format!("{ctx} tier {}", t.code);
        text(out, &ctx, &t.circumstances);
        if t.basis.is_empty() {
            out.push(format!("{ctx}: no legal basis"));
        }
        for p in &t.penalties {
            if let PenaltyKind::Fine(rule) = &p.kind {
                let (lo, hi) = match rule {
                    FineRule::Fixed(r) => (r.min, r.max),
                    FineRule::PerUnit(r) => {
                        if !field(&r.fact).is_some_and(|f| matches!(f.kind, FieldKind::Integer | FieldKind::Decimal)) {
                            out.push(format!(
                                "{ctx}: the fine is counted per `{}`, not a number field of case-facts",
                                r.fact
                            ));
                        }
                        (r.min_each, r.max_each)
                    }
                    FineRule::PercentOf(r) | FineRule::MultipleOf(r) => {
                        if !field(&r.fact).is_some_and(|f| f.kind == FieldKind::Money) {
                            out.push(format!(
                                "{ctx}: the fine is proportional to `{}`, not a money field of case-facts",
                                r.fact
                            ));
                        }
                        (i64::from(r.min_bp), i64::from(r.max_bp))
                    }
                };
                if lo < 0 || lo > hi || hi == 0 {
                    out.push(format!("{ctx}: fine range {lo}..{hi} is not ordered and positive"));
                }
            }
        }
        for c in &t.conditions {
            let allowed: Vec<&str> = match field(&c.fact) {
                Some(f) if f.kind == FieldKind::Boolean => vec!["true", "false"],
                Some(f) => f
                    .constraints
                    .iter()
                    .filter_map(|k| match k {
                        Constraint::Options(o) => Some(o.iter().map(|o| o.value.as_str())),
                        _ => None,
                    })
                    .flatten()
                    .collect(),
                None => {
                    out.push(format!("{ctx}: a condition tests `{}`, which the case-facts form lacks", c.fact));
                    continue;
                }
            };
            for v in &c.any_of {
                if !allowed.contains(&v.as_str()) {
                    out.push(format!("{ctx}: a condition expects `{v}` of `{}`, which that field cannot hold", c.fact));
                }
            }
        }
    }
}

fn text(out: &mut Vec<String>, ctx: &str, t: &Text) {
    if t.zh.trim().is_empty() {
        out.push(format!("{ctx}: Chinese text is missing"));
    }
    if t.en.trim().is_empty() {
        out.push(format!("{ctx}: English text is missing"));
    }
}

fn unique<'a>(out: &mut Vec<String>, what: &str, codes: impl Iterator<Item = &'a str>) {
    let mut seen = BTreeSet::new();
    for c in codes {
        if !seen.insert(c) {
            out.push(format!("{what} `{c}` appears more than once"));
        }
    }
}

fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<_> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// Whether an assessment the plugin gave fits its own published checklist: the item asked for, one
/// of its tiers, that tier's penalties, a fine band inside the tier's statutory band for the amounts
/// in the facts, and a recommendation inside the band. A plugin that answers otherwise breaks the
/// contract, and no penalty outside the published band reaches an officer.
pub fn assessment(p: &Plugin, item_code: &str, facts: &[FieldValue], a: &Assessment) -> Result<(), String> {
    if a.item != item_code {
        return Err(format!("asked to assess {item_code}, answered for {}", a.item));
    }
    let tier = tier_of(p, item_code, &a.tier)?;
    if a.penalties != tier.penalties {
        return Err(format!("the penalties differ from those of tier {}", tier.code));
    }
    let band = statutory_band(p, item_code, &tier.code, facts)?;
    let (lo, hi, r) = match (band, &a.fine_range) {
        (None, None) if a.recommended_fine.is_none() => return Ok(()),
        (Some((lo, hi)), Some(r)) => (i128::from(lo), i128::from(hi), r),
        _ => return Err(format!("the fine does not match tier {}", tier.code)),
    };
    let (min, max) = (i128::from(r.min), i128::from(r.max));
    if min > max || min < lo || max > hi {
        return Err(format!("fine band {}..{} fen is outside the tier's band {lo}..{hi}", r.min, r.max));
    }
    match a.recommended_fine {
        Some(x) if (r.min..=r.max).contains(&x) => Ok(()),
        other => Err(format!("recommended fine {other:?} is outside the band {}..{}", r.min, r.max)),
    }
}

/// A tier of an item of the plugin's published checklist.
fn tier_of<'a>(p: &'a Plugin, item_code: &str, tier_code: &str) -> Result<&'a super::bindings::Tier, String> {
    let item = p
        .data()
        .checklist
        .iter()
        .find(|i| i.code == item_code)
        .ok_or_else(|| format!("no item {item_code} in the checklist"))?;
    item.tiers.iter().find(|t| t.code == tier_code).ok_or_else(|| format!("item {item_code} has no tier {tier_code}"))
}

/// The statutory fine band (fen) of an item's tier for the amounts in the facts: fixed, per unit of a
/// quantity, or a share or multiple of an amount; `None` when the tier imposes no fine. The host
/// computes it from the published checklist alone, to check a plugin's answer and to assess by hand
/// in manual mode.
pub fn statutory_band(
    p: &Plugin,
    item_code: &str,
    tier_code: &str,
    facts: &[FieldValue],
) -> Result<Option<(i64, i64)>, String> {
    let tier = tier_of(p, item_code, tier_code)?;
    let Some(rule) = tier.penalties.iter().find_map(|p| match &p.kind {
        PenaltyKind::Fine(r) => Some(r),
        _ => None,
    }) else {
        return Ok(None);
    };
    let (lo, hi) = match rule {
        FineRule::Fixed(f) => (i128::from(f.min), i128::from(f.max)),
        FineRule::PerUnit(pu) => {
            let milli = facts
                .iter()
                .find_map(|f| match (&f.field, &f.value) {
                    (name, Value::Integer(n)) if *name == pu.fact => Some(i128::from(*n) * 1000),
                    (name, Value::Decimal(x)) if *name == pu.fact && x.is_finite() => {
                        Some((x * 1000.0).round() as i128)
                    }
                    _ => None,
                })
                .ok_or_else(|| format!("a fine counted per `{}` without that quantity in the facts", pu.fact))?;
            (milli * i128::from(pu.min_each) / 1000, (milli * i128::from(pu.max_each) + 999) / 1000)
        }
        FineRule::PercentOf(pf) | FineRule::MultipleOf(pf) => {
            let amount = facts
                .iter()
                .find_map(|f| match (&f.field, &f.value) {
                    (name, Value::Money(m)) if *name == pf.fact => Some(i128::from(*m)),
                    _ => None,
                })
                .ok_or_else(|| format!("a fine proportional to `{}` without that amount in the facts", pf.fact))?;
            (amount * i128::from(pf.min_bp) / 10_000, (amount * i128::from(pf.max_bp) + 9_999) / 10_000)
        }
    };
    let clamp = |x: i128| i64::try_from(x).unwrap_or(i64::MAX);
    Ok(Some((clamp(lo), clamp(hi))))
}

/// Everything `casegrid plugin check` checks beyond loading: the static data against the contract
/// and the plugin's self-tests. Publishing refuses a version unless it passes.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub problems: Vec<String>,
    pub self_tests: Vec<SelfTestOutcome>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.problems.is_empty() && self.self_tests.iter().all(|t| t.passed)
    }
}

/// Runs every check on a loaded plugin at reference time `at`.
pub fn full(p: &Plugin, at: i64) -> Report {
    Report { problems: static_data(p), self_tests: self_tests(p, at) }
}

/// The outcome of one of the plugin's declared self-tests.
#[derive(Debug, Clone, Serialize)]
pub struct SelfTestOutcome {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// Runs every self-test the plugin declares on the production sandbox, at reference time `at` or,
/// for a version whose rules are no longer (or not yet) in force then, on the last (or first) day
/// they are: an earlier version of a domain's rules is tested on its own dates.
pub fn self_tests(p: &Plugin, at: i64) -> Vec<SelfTestOutcome> {
    let range = &p.manifest().in_force;
    let day = |d: &Date| crate::day::Day::parse(&format!("{:04}-{:02}-{:02}", d.year, d.month, d.day));
    let from = day(&range.from).map(|d| d.start_ms() / 1000);
    let until = range.until.as_ref().and_then(day).map(|d| d.start_ms() / 1000);
    let at = match (from, until) {
        (Some(f), _) if at < f => f,
        (_, Some(u)) if at >= u => u - 1,
        _ => at,
    };
    p.data()
        .self_tests
        .iter()
        .map(|t| {
            let facts = t.facts.clone();
            let got = p.call_blocking(at, 0, |g| g.assess(&t.item, &facts));
            let (passed, detail) = match got {
                Err(e) => (false, format!("the call failed: {e}")),
                Ok(Err(e)) => (false, format!("assessment refused: {e:?}")),
                Ok(Ok(a)) => {
                    let fine = a.fine_range.as_ref().map(|r| (r.min, r.max));
                    let want = t.expect_fine.as_ref().map(|r| (r.min, r.max));
                    if a.tier != t.expect_tier {
                        (false, format!("tier {} where {} was expected", a.tier, t.expect_tier))
                    } else if fine != want {
                        (false, format!("fine {} where {} was expected", band(fine), band(want)))
                    } else {
                        (true, format!("tier {}, fine {}", a.tier, band(fine)))
                    }
                }
            };
            SelfTestOutcome { name: t.name.clone(), passed, detail }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver() {
        assert!(is_semver("1.0.0"));
        assert!(is_semver("2.10.3-rc.1"));
        assert!(!is_semver("1.0"));
        assert!(!is_semver("v1.0.0"));
    }
}
