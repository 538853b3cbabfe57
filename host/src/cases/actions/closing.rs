//! Closing without penalty and referral (不予处罚、移送): the head's decisions (APL art. 57), and the
//! referral's acceptance that closes the case.

use super::{Cx, Effects, Result};
use crate::cases::gates::invalid;
use crate::cases::workflow::{NO_PENALTY, text};
use crate::cases::{CaseRow, Closing, Outcome, ReferralOut, store};
use crate::clock::Day;
use serde_json::json;

/// 不予处罚, with one of the statutory reasons.
pub async fn close_without_penalty(cx: &mut Cx<'_>, k: &mut CaseRow, reason: String, note: &str) -> Result<Effects> {
    if !NO_PENALTY.iter().any(|(code, _)| *code == reason) {
        let codes: Vec<&str> = NO_PENALTY.iter().map(|(c, _)| *c).collect();
        return Err(invalid("reason", "invalid-choice", format!("one of {}", codes.join(", "))));
    }
    if reason == "limitation"
        && Day::of(k.discovered_at) <= crate::cases::clock::limitation_ends(k.act_end(), k.safety_harmed)
    {
        return Err(invalid(
            "reason",
            "not-expired",
            "the act was discovered within the limitation period (APL art. 36)",
        ));
    }
    if reason == "no-current-rule" {
        let rows = store::assessments(cx.c, k.id).await?;
        let gone = rows.iter().rev().find(|r| r.purpose.ends_with("current")).is_some_and(|r| {
            matches!(&r.assessed.outcome, Outcome::Refused { code, .. } if code == "not-in-force" || code == "not-found")
        });
        if !gone {
            return Err(invalid(
                "reason",
                "current-rule-applies",
                "the last assessment under the current rules gave a penalty: assess again first",
            ));
        }
    }
    let note = text(note, "note", 5, 2000)?;
    k.progress.closing = Some(Closing { reason: reason.clone(), note: note.clone(), closed_at: cx.f.now });
    k.closed_at = Some(cx.f.now);
    Ok(Effects::record(json!({"reason": reason, "note": note})))
}

/// 移送: to the agency competent for it.
pub fn refer_out(cx: &Cx<'_>, k: &mut CaseRow, agency: &str, reason: &str) -> Result<Effects> {
    let agency = text(agency, "agency", 2, 100)?;
    let reason = text(reason, "reason", 5, 2000)?;
    k.progress.referral_out = Some(ReferralOut {
        agency: agency.clone(),
        reason: reason.clone(),
        number: String::new(),
        referred_at: cx.f.now,
        accepted_at: None,
        receipt: None,
    });
    Ok(Effects::record(json!({"agency": agency, "reason": reason})))
}

/// The agency accepted the referral: the case is closed.
pub fn referral_accepted(cx: &Cx<'_>, k: &mut CaseRow, receipt: &str) -> Result<Effects> {
    let receipt = text(receipt, "receipt", 2, 200)?;
    let now = cx.f.now;
    let r = k.progress.referral_out.as_mut().expect("gate referred");
    r.accepted_at = Some(now);
    r.receipt = Some(receipt.clone());
    let note = format!("已移送{}并被接收", r.agency);
    k.progress.closing = Some(Closing { reason: "referred".into(), note, closed_at: now });
    k.closed_at = Some(now);
    Ok(Effects::record(json!({"receipt": receipt})))
}
