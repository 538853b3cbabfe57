//! Investigation (调查取证): the inspection record and the facts checked by the domain's forms, the
//! assessment under the pinned and the current rules, the proposal inside the discretion band, a
//! distinct act declared, the clock stopped for testing.

use super::{Cx, Effects, Result};
use crate::cases::lighter::{self, Applies, BandError};
use crate::cases::workflow::{
    act_reference, applicable, both, chain_for, form_error, imposed_fine, invalid, legal_review_reasons,
    one_act_one_fine, refused, static_band, text, unreachable_assessment,
};
use crate::cases::{CaseRow, Proposal};
use crate::money::yuan;
use crate::plugins::bindings::{Assessment, FieldValue, ItemKind, Penalty};
use serde_json::{Value, json};

pub async fn record_inspection(cx: &mut Cx<'_>, k: &CaseRow, values: Vec<FieldValue>) -> Result<Effects> {
    if cx.callable {
        let errors = cx.pinned.validate("inspection", values.clone(), cx.f.now / 1000).await?;
        if !errors.is_empty() {
            return Err(form_error(&errors));
        }
    }
    let checked = cx.callable;
    Ok(Effects {
        inspection: Some(json!({"form": "inspection", "values": values, "checked": checked})),
        ..Effects::record(json!({"form": "inspection", "checked_by": checked.then_some(&k.plugin_version)}))
    })
}

/// The checklist item and the circumstances, checked by the domain's `case-facts` form under the
/// rules of the time of the act.
pub async fn record_facts(cx: &mut Cx<'_>, k: &mut CaseRow, item: String, facts: Vec<FieldValue>) -> Result<Effects> {
    let it = cx.pinned.data().checklist.iter().find(|i| i.code == item).ok_or_else(|| {
        invalid("item", "unknown-item", format!("no item {item} in {} {}", k.domain, k.plugin_version))
    })?;
    if it.kind != ItemKind::Penalty {
        return Err(invalid(
            "item",
            "not-a-penalty",
            "a coercive measure is decided as a measure, not as the case's item",
        ));
    }
    if cx.callable {
        let errors = cx.pinned.validate("case-facts", facts.clone(), act_reference(k)).await?;
        if !errors.is_empty() {
            return Err(form_error(&errors));
        }
    }
    k.item_code = Some(item.clone());
    k.facts = Some(facts);
    k.proposal = None;
    Ok(Effects::record(json!({"item": item, "facts": k.facts})))
}

/// Both assessments of the lighter-law rule, for the officer to see; a refusal is stored, not
/// answered (the gate is at `propose`).
pub async fn assess(cx: &mut Cx<'_>, k: &CaseRow) -> Effects {
    let (item, facts) = (k.item_code.clone().unwrap_or_default(), k.facts.clone().unwrap_or_default());
    let (old, new) = both(cx.state, k, (cx.pinned, cx.callable), &item, &facts).await;
    let record = json!({"item": item, "pinned": {"version": old.version, "outcome": old.outcome}, "current": {"version": new.version, "outcome": new.outcome}});
    Effects {
        assessments: vec![("pinned", item.clone(), facts.clone(), old), ("current", item, facts, new)],
        ..Effects::record(record)
    }
}

/// The penalty proposed.
pub struct ProposeIn {
    pub fine_fen: Option<i64>,
    pub optional: Vec<String>,
    pub reason: Option<String>,
    pub tier: Option<String>,
    pub complex: bool,
}

pub async fn propose(cx: &mut Cx<'_>, k: &mut CaseRow, input: ProposeIn) -> Result<Effects> {
    let (item, facts) = (k.item_code.clone().unwrap_or_default(), k.facts.clone().unwrap_or_default());
    let (old, new) = both(cx.state, k, (cx.pinned, cx.callable), &item, &facts).await;
    let (applied, applies, because, manual) = match applicable(&old, &new) {
        Ok((applies, because)) => {
            let a = if applies == Applies::Current { new.outcome.assessment() } else { old.outcome.assessment() };
            (a.cloned().unwrap_or_else(|| unreachable_assessment(&item)), applies, because, false)
        }
        Err(e) if e.code == "manual-mode" => {
            let tier = input.tier.clone().ok_or_else(|| {
                invalid(
                    "tier",
                    "required",
                    "a version cannot be called (manual mode): name the tier from the published checklist",
                )
            })?;
            let (a, _) = static_band(cx.pinned, &item, &tier, &facts)?;
            let why = "manual mode: the published band of the rules at the time of the act, checked by the host";
            (a, Applies::Pinned, why.to_string(), true)
        }
        Err(e) => return Err(e),
    };
    if applied.penalties.is_empty() {
        return Err(refused(
            "no-penalty-tier",
            format!(
                "tier {} imposes no penalty ({}): close the case without penalty",
                applied.tier,
                applied.basis.iter().map(crate::cases::documents::cite).collect::<Vec<_>>().join("、")
            ),
        ));
    }
    let deviates = fine_in_band(&applied, input.fine_fen)?;
    let reason = input.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
    if deviates && reason.as_ref().is_none_or(|r| r.chars().count() < 10) {
        return Err(invalid(
            "reason",
            "reason-required",
            format!(
                "the fine departs from the recommended {}: give the reason in writing (at least 10 characters); it goes one approval level higher",
                applied.recommended_fine.map(yuan).unwrap_or_default()
            ),
        ));
    }
    let penalties = chosen_penalties(&applied.penalties, &input.optional)?;
    let fine = imposed_fine(&penalties, input.fine_fen);
    not_heavier_than_noticed(k, fine)?;
    one_act_one_fine(cx.c, cx.caller, k, fine).await?;
    let mut proposal = Proposal {
        item: item.clone(),
        pinned: old.clone(),
        current: new.clone(),
        applies,
        applies_because: because,
        tier: applied.tier.clone(),
        penalties,
        orders: applied.orders.clone(),
        basis: applied.basis.clone(),
        fine_band: applied.fine_range.as_ref().map(|r| (r.min, r.max)),
        recommended_fine_fen: applied.recommended_fine,
        fine_fen: fine,
        deviation_reason: reason.filter(|_| deviates),
        manual,
        legal_review: Vec::new(),
        chain: Vec::new(),
        proposed_by: cx.caller.login.clone(),
        proposed_at: cx.f.now,
    };
    k.proposal = Some(proposal.clone());
    let s = cx.f.settings;
    proposal.legal_review = legal_review_reasons(s, k, &proposal.penalties, fine, input.complex);
    proposal.chain = chain_for(s, &k.domain, &item, fine, !proposal.legal_review.is_empty(), deviates);
    k.legal_review = if proposal.legal_review.is_empty() { "none".into() } else { "required".into() };
    let record = json!({"item": item, "tier": proposal.tier, "fine_fen": fine, "applies": applies, "because": proposal.applies_because,
                        "pinned": {"version": old.version, "sha256": old.sha256}, "current": {"version": new.version, "sha256": new.sha256},
                        "deviation_reason": proposal.deviation_reason, "chain": proposal.chain, "legal_review": proposal.legal_review});
    k.proposal = Some(proposal);
    Ok(Effects {
        assessments: vec![("pinned", item.clone(), facts.clone(), old), ("current", item, facts, new)],
        ..Effects::record(record)
    })
}

/// APL art. 34: the fine inside the published band of the tier; whether it departs from the
/// recommendation.
fn fine_in_band(applied: &Assessment, fine_fen: Option<i64>) -> Result<bool> {
    match lighter::check_fine(applied, fine_fen) {
        Ok(d) => Ok(d),
        Err(BandError::Outside { fine, min, max }) => Err(invalid(
            "fine_fen",
            "outside-band",
            format!(
                "{} is outside the discretion band {}–{} of tier {}: refused",
                yuan(fine),
                yuan(min),
                yuan(max),
                applied.tier
            ),
        )),
        Err(BandError::FineRequired { min, max }) => Err(invalid(
            "fine_fen",
            "required",
            format!("tier {} imposes a fine of {}–{}", applied.tier, yuan(min), yuan(max)),
        )),
        Err(BandError::NoFineHere) => {
            Err(invalid("fine_fen", "no-fine", format!("tier {} imposes no fine", applied.tier)))
        }
    }
}

/// The tier's penalties that apply: every mandatory one, and the optional ones named by kind.
fn chosen_penalties(all: &[Penalty], optional: &[String]) -> Result<Vec<Penalty>> {
    let mut penalties = Vec::new();
    for p in all {
        let kind = serde_json::to_value(&p.kind).ok().and_then(|v| match v {
            Value::String(s) => Some(s),
            Value::Object(m) => m.keys().next().cloned(),
            _ => None,
        });
        if !p.optional || kind.as_ref().is_some_and(|k| optional.iter().any(|o| o.eq_ignore_ascii_case(k))) {
            penalties.push(p.clone());
        }
    }
    if penalties.is_empty() {
        return Err(invalid("optional", "no-penalty", "the tier imposes only optional penalties: name at least one"));
    }
    Ok(penalties)
}

/// APL art. 45: the party's statement and defence never make the penalty heavier.
fn not_heavier_than_noticed(k: &CaseRow, fine: Option<i64>) -> Result<()> {
    if let (Some(noticed), Some(f)) = (k.progress.noticed_fine_fen, fine)
        && f > noticed
    {
        return Err(invalid(
            "fine_fen",
            "heavier-than-noticed",
            format!(
                "the party was told of {}; a penalty is not made heavier after its defence (APL art. 45)",
                yuan(noticed)
            ),
        ));
    }
    Ok(())
}

/// The case is not the same act as an overlapping one of the same party (APL art. 29).
pub fn declare_distinct_act(k: &mut CaseRow, reason: &str) -> Result<Effects> {
    let reason = text(reason, "reason", 10, 1000)?;
    k.distinct_act = Some(reason.clone());
    k.legal_review = "required".into();
    Ok(Effects::record(json!({"reason": reason})))
}

/// APL art. 60: the decision clock stops for testing, inspection, quarantine or appraisal.
pub fn pause(reason: &str) -> Result<Effects> {
    if !matches!(reason, "testing" | "appraisal") {
        return Err(invalid("reason", "invalid-choice", "testing or appraisal (检测、检验、检疫、技术鉴定)"));
    }
    Ok(Effects { pause: Some(Some(reason.to_string())), ..Effects::record(json!({"reason": reason})) })
}
