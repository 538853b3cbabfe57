//! Approval and decision (法制审核、审批、决定): the proposal submitted to its chain, each step
//! approved or rejected, the last approval deciding; the summary decision on the spot; the
//! decision served.

use super::{Cx, Effects, Result};
use crate::cases::gates::{self, invalid, refused};
use crate::cases::lighter::{self, Applies, BandError};
use crate::cases::workflow::{
    act_reference, applicable, both, chain_for, form_error, imposed_fine, one_act_one_fine, text,
    unreachable_assessment, when,
};
use crate::cases::{CaseRow, Decision, Proposal, Service};
use crate::money::yuan;
use crate::plugins::bindings::{FieldValue, ItemKind, PenaltyKind};
use crate::store::rfc3339;
use serde_json::json;

/// To the approval chain, legal review included where required (APL art. 58).
pub async fn submit(cx: &mut Cx<'_>, k: &mut CaseRow) -> Result<Effects> {
    let p = k.proposal.clone().expect("gate has_proposal");
    one_act_one_fine(cx.c, cx.caller, k, p.fine_fen).await?;
    let chain = chain_for(
        cx.f.settings,
        &k.domain,
        &p.item,
        p.fine_fen,
        k.legal_review != "none",
        p.deviation_reason.is_some(),
    );
    k.progress.approval_round += 1;
    let record = json!({"round": k.progress.approval_round, "chain": chain});
    Ok(Effects { new_round: Some(chain), ..Effects::record(record) })
}

/// One step approved; the last one decides, once legal review passed and the rules that apply
/// still give what was approved.
pub async fn approve(cx: &mut Cx<'_>, k: &mut CaseRow, comment: String) -> Result<Effects> {
    let step = gates::open_step(&cx.f.steps, k.progress.approval_round)?.clone();
    let last = !cx.f.steps.iter().any(|x| x.round == step.round && x.step > step.step);
    if step.role == "legal-reviewer" {
        k.legal_review = "passed".into();
    }
    let mut fx = Effects {
        approval: Some((step.id, "approved", comment.clone())),
        ..Effects::record(json!({"step": step.step, "role": step.role, "comment": comment, "final": last}))
    };
    if last {
        decide(cx, k, &mut fx).await?;
    }
    Ok(fx)
}

/// The last approval: the decision, numbered and rendered in the transaction.
async fn decide(cx: &mut Cx<'_>, k: &mut CaseRow, fx: &mut Effects) -> Result<()> {
    let p = k.proposal.clone().ok_or_else(|| refused("no-proposal", "the proposal is gone"))?;
    gates::legal_review_done(k)?;
    // APL art. 37 speaks of the rules at the decision: assessed again now, the lighter rule must
    // still give what was approved.
    if !p.manual {
        let facts = k.facts.clone().unwrap_or_default();
        let (old, new) = both(cx.state, k, (cx.pinned, cx.callable), &p.item, &facts).await;
        let (applies, _) = applicable(&old, &new)?;
        let a = if applies == Applies::Current { new.outcome.assessment() } else { old.outcome.assessment() };
        let same = applies == p.applies
            && a.is_some_and(|a| a.tier == p.tier && a.fine_range.as_ref().map(|r| (r.min, r.max)) == p.fine_band);
        if !same {
            return Err(refused(
                "rules-changed",
                "the rules that apply changed since the proposal (a new version serves): propose again under them",
            ));
        }
        fx.assessments.push(("decision-pinned", p.item.clone(), facts.clone(), old));
        fx.assessments.push(("decision-current", p.item.clone(), facts, new));
    }
    fx.recheck_in_tx = Some(p.fine_fen);
    k.progress.decision = Some(decision_of(&p, cx.f.now, false));
    k.stage = crate::cases::stage::DECIDED.into();
    fx.documents.push("decision");
    fx.event = Some("decided");
    Ok(())
}

fn decision_of(p: &Proposal, now: i64, summary: bool) -> Decision {
    Decision {
        number: String::new(),
        decided_at: now,
        summary,
        item: p.item.clone(),
        tier: p.tier.clone(),
        applies: p.applies,
        penalties: p.penalties.clone(),
        fine_fen: p.fine_fen,
        orders: p.orders.clone(),
    }
}

/// Back to the investigation: a new proposal and a new notice. What the party was told and said
/// stays on file, and a heard case stays heard.
pub fn reject(cx: &Cx<'_>, k: &mut CaseRow, comment: &str) -> Result<Effects> {
    let step = gates::open_step(&cx.f.steps, k.progress.approval_round)?.clone();
    let comment = text(comment, "comment", 2, 2000)?;
    let before = json!({"notice": k.progress.notice.take(), "hearing": k.progress.hearing.take(), "proposal": k.proposal.take(),
                        "rejected_by": cx.caller.login, "comment": comment, "at": rfc3339(cx.f.now)});
    k.progress.history.push(before);
    if k.legal_review == "passed" {
        k.legal_review = "required".into();
    }
    Ok(Effects {
        approval: Some((step.id, "rejected", comment.clone())),
        ..Effects::record(json!({"step": step.step, "role": step.role, "comment": comment}))
    })
}

/// Summary procedure (APL art. 51–52): decided and handed over on the spot.
pub async fn decide_summary(
    cx: &mut Cx<'_>,
    k: &mut CaseRow,
    item: String,
    facts: Vec<FieldValue>,
    fine_fen: Option<i64>,
    reason: Option<String>,
) -> Result<Effects> {
    let it = cx.pinned.data().checklist.iter().find(|i| i.code == item);
    if !it.is_some_and(|i| i.kind == ItemKind::Penalty) {
        return Err(invalid(
            "item",
            "unknown-item",
            format!("no penalty item {item} in {} {}", k.domain, k.plugin_version),
        ));
    }
    if cx.callable {
        let errors = cx.pinned.validate("case-facts", facts.clone(), act_reference(k)).await?;
        if !errors.is_empty() {
            return Err(form_error(&errors));
        }
    }
    k.item_code = Some(item.clone());
    k.facts = Some(facts.clone());
    let (old, new) = both(cx.state, k, (cx.pinned, cx.callable), &item, &facts).await;
    let (applies, because) = applicable(&old, &new)?;
    let a = if applies == Applies::Current { new.outcome.assessment() } else { old.outcome.assessment() }
        .cloned()
        .unwrap_or_else(|| unreachable_assessment(&item));
    // APL art. 51: a warning or a fine only.
    let mandatory: Vec<_> = a.penalties.iter().filter(|p| !p.optional).cloned().collect();
    if mandatory.is_empty() || mandatory.iter().any(|p| !matches!(p.kind, PenaltyKind::Warning | PenaltyKind::Fine(_)))
    {
        return Err(refused("not-summary", "the summary procedure gives only a warning or a fine (APL art. 51)"));
    }
    gates::summary_limit(k, cx.f.settings, fine_fen)?;
    match lighter::check_fine(&a, fine_fen) {
        Err(BandError::Outside { fine, min, max }) => {
            return Err(invalid(
                "fine_fen",
                "outside-band",
                format!("{} is outside {}–{}", yuan(fine), yuan(min), yuan(max)),
            ));
        }
        Err(_) => return Err(invalid("fine_fen", "band", "the fine does not fit the tier")),
        Ok(deviates) if deviates && reason.as_deref().is_none_or(|r| r.trim().chars().count() < 10) => {
            return Err(invalid("reason", "reason-required", "a fine away from the recommendation needs its reason"));
        }
        Ok(_) => {}
    }
    let fine = imposed_fine(&mandatory, fine_fen);
    let proposal = Proposal {
        item: item.clone(),
        pinned: old.clone(),
        current: new.clone(),
        applies,
        applies_because: because,
        tier: a.tier.clone(),
        penalties: mandatory,
        orders: a.orders.clone(),
        basis: a.basis.clone(),
        fine_band: a.fine_range.as_ref().map(|r| (r.min, r.max)),
        recommended_fine_fen: a.recommended_fine,
        fine_fen: fine,
        deviation_reason: reason,
        manual: false,
        legal_review: vec![],
        chain: vec![],
        proposed_by: cx.caller.login.clone(),
        proposed_at: cx.f.now,
    };
    k.progress.decision = Some(decision_of(&proposal, cx.f.now, true));
    k.proposal = Some(proposal);
    // Handed over on the spot (APL art. 52).
    k.progress.service = Some(Service { served_at: cx.f.now, how: "当场交付".into() });
    Ok(Effects {
        recheck_in_tx: Some(fine),
        assessments: vec![("pinned", item.clone(), facts.clone(), old), ("current", item.clone(), facts, new)],
        ..Effects::record(json!({"item": item, "tier": a.tier, "fine_fen": fine, "applies": applies}))
    })
}

/// The decision reached the party (APL art. 61).
pub fn serve_decision(cx: &Cx<'_>, k: &mut CaseRow, how: &str, served_at: Option<&str>) -> Result<Effects> {
    let how = text(how, "how", 2, 200)?;
    let decided = k.progress.decision.as_ref().map_or(cx.f.now, |d| d.decided_at);
    let at = when(served_at, "served_at", decided, cx.f.now)?;
    k.progress.service = Some(Service { served_at: at, how: how.clone() });
    Ok(Effects::record(json!({"how": how, "served_at": rfc3339(at)})))
}
