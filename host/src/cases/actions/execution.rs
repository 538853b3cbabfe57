//! Execution (执行): the fine paid with any late surcharge, the written demand before enforcement,
//! the case closed once executed or on the application for enforcement.

use super::{Cx, Effects, Result};
use crate::cases::gates::{self, invalid};
use crate::cases::workflow::{day, text};
use crate::cases::{CaseRow, Closing, Demand, Payment};
use crate::clock::Day;
use crate::money::yuan;
use crate::store::rfc3339;
use serde_json::json;

/// The party paid, on that day: the fine and any surcharge (APL art. 72).
pub fn record_payment(
    cx: &Cx<'_>,
    k: &mut CaseRow,
    paid_fen: i64,
    receipt: &str,
    paid_on: Option<&str>,
) -> Result<Effects> {
    let (f, now) = (cx.f, cx.f.now);
    let fine = k.progress.decision.as_ref().and_then(|d| d.fine_fen).expect("gate fine_decided");
    let served = k.progress.service.as_ref().map_or(now, |s| s.served_at);
    let paid_at = match paid_on {
        None => now,
        Some(d) => {
            let day = day(d, "paid_on")?;
            if day < Day::of(served) || day > Day::of(now) {
                return Err(invalid("paid_on", "out-of-range", "between the decision's service and today"));
            }
            // The day counts whole: paid that day, at its last moment.
            (day.next().start_ms() - 1).min(now)
        }
    };
    let surcharge = crate::cases::clock::surcharge(f.settings, fine, gates::pay_by(k, f), paid_at);
    if paid_fen != fine + surcharge {
        return Err(invalid(
            "paid_fen",
            "wrong-amount",
            format!(
                "due: the fine {} plus {} late-payment surcharge (APL art. 72) = {}",
                yuan(fine),
                yuan(surcharge),
                yuan(fine + surcharge)
            ),
        ));
    }
    let receipt = text(receipt, "receipt", 2, 100)?;
    k.progress.payment = Some(Payment { paid_at, fine_fen: fine, surcharge_fen: surcharge, receipt: receipt.clone() });
    Ok(Effects::record(
        json!({"fine_fen": fine, "surcharge_fen": surcharge, "receipt": receipt, "paid_at": rfc3339(paid_at)}),
    ))
}

/// 催告 (ACL art. 35–37): a written demand, after which the party may still state and defend itself
/// for ten working days.
pub fn issue_demand(cx: &Cx<'_>, k: &mut CaseRow) -> Effects {
    let fine = k.progress.decision.as_ref().and_then(|d| d.fine_fen);
    let due = crate::cases::clock::end_of_limit(cx.f.calendar, cx.f.now, 10);
    k.progress.demand = Some(Demand { number: String::new(), issued_at: cx.f.now, due_at: due });
    Effects::record(json!({"fine_fen": fine, "due_at": rfc3339(due)}))
}

/// 结案: executed; or, unpaid after the demand, on the head's application to the court.
pub fn close(cx: &Cx<'_>, k: &mut CaseRow, note: &str) -> Result<Effects> {
    let note = text(note, "note", 2, 2000)?;
    let unpaid = gates::unpaid(k);
    let reason = if unpaid { "enforcement" } else { "executed" };
    k.progress.closing = Some(Closing { reason: reason.into(), note: note.clone(), closed_at: cx.f.now });
    k.closed_at = Some(cx.f.now);
    Ok(Effects::record(json!({"note": note, "unpaid": unpaid})))
}
