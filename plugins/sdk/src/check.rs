//! Checks of a domain's data that hold for every domain: unique codes, the three required forms,
//! both languages present, every tier grounded in a citation, ordered ranges, and conditions that
//! name real facts. Run at build time and in the domain's own tests; the host checks again at load.

use crate::data::*;
use std::collections::BTreeSet;

/// The forms every domain must supply.
pub const REQUIRED_FORMS: [&str; 3] = ["report", "inspection", "case-facts"];

/// Every problem found, as readable sentences; empty when the data is sound.
pub fn domain(d: &Domain) -> Vec<String> {
    let mut p = Vec::new();
    let m = &d.manifest;
    text(&mut p, "manifest name", &m.name);
    if !m.domain.chars().all(|c| c.is_ascii_lowercase() || c == '-') || m.domain.is_empty() {
        p.push(format!("manifest: domain code `{}` must be lower-case letters and '-'", m.domain));
    }
    if m.publisher.trim().is_empty() {
        p.push("manifest: publisher is empty".into());
    }
    unique(&mut p, "category code", d.categories.iter().map(|c| c.code));
    for c in d.categories {
        text(&mut p, &format!("category {}", c.code), &c.name);
        text(&mut p, &format!("category {} description", c.code), &c.description);
        if c.keywords_zh.is_empty() || c.keywords_en.is_empty() {
            p.push(format!("category {}: needs Chinese and English keywords", c.code));
        }
    }
    unique(&mut p, "form id", d.forms.iter().map(|f| f.id));
    for id in REQUIRED_FORMS {
        if d.form(id).is_none() {
            p.push(format!("forms: the `{id}` form is missing"));
        }
    }
    for f in d.forms {
        text(&mut p, &format!("form {}", f.id), &f.title);
        unique(&mut p, &format!("field id in form {}", f.id), f.fields.iter().map(|x| x.id));
        for fd in f.fields {
            text(&mut p, &format!("form {} field {}", f.id, fd.id), &fd.label);
            let has_options = !fd.options().is_empty();
            if matches!(fd.kind, FieldKind::Choice | FieldKind::MultiChoice) != has_options {
                p.push(format!("form {} field {}: choice fields, and only they, list options", f.id, fd.id));
            }
            for c in fd.constraints {
                if let Constraint::Range { min: Some(a), max: Some(b) } = c
                    && a > b
                {
                    p.push(format!("form {} field {}: range {a}..{b} is reversed", f.id, fd.id));
                }
            }
        }
    }
    let facts = d.form("case-facts");
    unique(&mut p, "checklist item code", d.checklist.iter().map(|i| i.code));
    for it in d.checklist {
        let ctx = format!("item {}", it.code);
        text(&mut p, &ctx, &it.title);
        if it.violation.is_empty() {
            p.push(format!("{ctx}: no legal basis for the violation"));
        }
        if it.penalty_basis.is_empty() {
            p.push(format!("{ctx}: no legal basis for the penalty"));
        }
        if it.tiers.is_empty() {
            p.push(format!("{ctx}: no discretion tier"));
        }
        if let Some(until) = it.in_force.until
            && until <= it.in_force.from
        {
            p.push(format!("{ctx}: in force until {until:?}, before it starts"));
        }
        unique(&mut p, &format!("tier code in {ctx}"), it.tiers.iter().map(|t| t.code));
        for c in it.violation.iter().chain(it.penalty_basis) {
            citation(&mut p, &ctx, c);
        }
        for t in it.tiers {
            let ctx = format!("{ctx} tier {}", t.code);
            text(&mut p, &ctx, &t.circumstances);
            if t.basis.is_empty() {
                p.push(format!("{ctx}: no legal basis"));
            }
            for c in t.basis {
                citation(&mut p, &ctx, c);
            }
            let fines = t.penalties.iter().filter(|x| matches!(x.kind, PenaltyKind::Fine(_))).count();
            if fines > 1 {
                p.push(format!("{ctx}: more than one fine in a tier (APL art. 29: one act, one fine)"));
            }
            for pen in t.penalties {
                if let PenaltyKind::Fine(rule) = pen.kind {
                    fine(&mut p, &ctx, rule, facts);
                }
            }
            for cond in t.conditions {
                condition(&mut p, &ctx, cond, facts);
            }
        }
    }
    for st in d.self_tests {
        match d.item(st.item) {
            None => p.push(format!("self-test `{}`: no item {}", st.name, st.item)),
            Some(it) if !it.tiers.iter().any(|t| t.code == st.tier) => {
                p.push(format!("self-test `{}`: item {} has no tier {}", st.name, st.item, st.tier))
            }
            Some(_) => {}
        }
    }
    p
}

fn text(p: &mut Vec<String>, ctx: &str, t: &I18n) {
    if t.zh.trim().is_empty() {
        p.push(format!("{ctx}: Chinese text is empty"));
    }
    if t.en.trim().is_empty() {
        p.push(format!("{ctx}: English text is empty"));
    }
}

fn unique<'a>(p: &mut Vec<String>, what: &str, codes: impl Iterator<Item = &'a str>) {
    let mut seen = BTreeSet::new();
    for c in codes {
        if c.trim().is_empty() {
            p.push(format!("an empty {what}"));
        } else if !seen.insert(c) {
            p.push(format!("{what} `{c}` appears twice"));
        }
    }
}

fn citation(p: &mut Vec<String>, ctx: &str, c: &Citation) {
    if c.article == 0 {
        p.push(format!("{ctx}: citation of {} has no article", c.statute.title.zh));
    }
    if c.statute.version.len() != 10 {
        p.push(format!("{ctx}: statute {} has no version date (YYYY-MM-DD)", c.statute.id));
    }
}

fn fine(p: &mut Vec<String>, ctx: &str, rule: FineRule, facts: Option<&Form>) {
    match rule {
        FineRule::PerUnit { fact, min_fen, max_fen } => {
            if min_fen < 0 || min_fen > max_fen || max_fen == 0 {
                p.push(format!("{ctx}: per-unit fine {min_fen}..{max_fen} fen is not an ordered, positive range"));
            }
            match facts.and_then(|f| f.field(fact)) {
                // A quantity with a declared maximum, so the fine cannot overflow.
                Some(f) if matches!(f.kind, FieldKind::Integer | FieldKind::Decimal) => {
                    if !f.constraints.iter().any(|c| matches!(c, Constraint::Range { max: Some(_), .. })) {
                        p.push(format!("{ctx}: the fine is counted per `{fact}`, which declares no maximum"));
                    }
                }
                Some(_) => p.push(format!("{ctx}: the fine is counted per `{fact}`, which is not a number field")),
                None => p.push(format!("{ctx}: the fine is counted per `{fact}`, which the case-facts form lacks")),
            }
        }
        FineRule::Fixed { min_fen, max_fen } => {
            if min_fen < 0 || min_fen > max_fen || max_fen == 0 {
                p.push(format!("{ctx}: fine range {min_fen}..{max_fen} fen is not an ordered, positive range"));
            }
        }
        FineRule::PercentOf { fact, min_bp, max_bp } | FineRule::MultipleOf { fact, min_bp, max_bp } => {
            if min_bp > max_bp || max_bp == 0 {
                p.push(format!("{ctx}: proportional fine {min_bp}..{max_bp} bp is not an ordered, positive range"));
            }
            match facts.and_then(|f| f.field(fact)) {
                // An unbounded amount could overflow the fine: the field must declare its maximum.
                Some(f) if f.kind == FieldKind::Money => {
                    if !f.constraints.iter().any(|c| matches!(c, Constraint::Range { max: Some(_), .. })) {
                        p.push(format!("{ctx}: the fine is proportional to `{fact}`, which declares no maximum"));
                    }
                }
                Some(_) => p.push(format!("{ctx}: the fine is proportional to `{fact}`, which is not a money field")),
                None => p.push(format!("{ctx}: the fine is proportional to `{fact}`, which the case-facts form lacks")),
            }
        }
    }
}

fn condition(p: &mut Vec<String>, ctx: &str, c: &Condition, facts: Option<&Form>) {
    let Some(field) = facts.and_then(|f| f.field(c.fact)) else {
        p.push(format!("{ctx}: a condition tests `{}`, which the case-facts form lacks", c.fact));
        return;
    };
    for v in c.any_of {
        let ok = match field.kind {
            FieldKind::Boolean => matches!(*v, "true" | "false"),
            FieldKind::Choice | FieldKind::MultiChoice => field.options().iter().any(|o| o.value == *v),
            _ => false,
        };
        if !ok {
            p.push(format!("{ctx}: a condition expects `{v}` of `{}`, which that field cannot hold", c.fact));
        }
    }
}
