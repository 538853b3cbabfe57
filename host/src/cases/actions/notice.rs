//! Notice and hearing (告知、听证): the notice of intended penalty issued and served, the party's
//! statement, its hearing asked for, waived, scheduled and held.

use super::{Cx, Effects, Result};
use crate::cases::gates::{hearing_notice_period, invalid, within_hearing_window};
use crate::cases::workflow::{chain_for, text, when};
use crate::cases::{CaseRow, Hearing, Notice};
use crate::store::rfc3339;
use serde_json::json;

/// 事先告知书 (APL art. 44): what the party is told is the heaviest fine it can now be given.
pub fn issue_notice(cx: &Cx<'_>, k: &mut CaseRow) -> Effects {
    let fine = k.proposal.as_ref().and_then(|p| p.fine_fen);
    let item = k.proposal.as_ref().map(|p| p.item.clone()).unwrap_or_default();
    let hearing_available =
        cx.pinned.data().checklist.iter().find(|i| i.code == item).is_some_and(|i| i.hearing_available);
    k.progress.notice = Some(Notice {
        number: String::new(),
        issued_at: cx.f.now,
        hearing_available,
        served_at: None,
        served_how: None,
        window_ends: None,
        waived_at: None,
        statements: Vec::new(),
    });
    k.progress.noticed_fine_fen = match (k.progress.noticed_fine_fen, fine) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    Effects::record(json!({"hearing_available": hearing_available, "fine_fen": fine}))
}

/// The notice reached the party: its hearing window opens.
pub fn serve_notice(cx: &Cx<'_>, k: &mut CaseRow, how: &str, served_at: Option<&str>) -> Result<Effects> {
    let how = text(how, "how", 2, 200)?;
    let (f, s) = (cx.f, cx.f.settings);
    let n = k.progress.notice.as_mut().expect("gate notice_issued");
    let at = when(served_at, "served_at", n.issued_at, f.now)?;
    n.served_at = Some(at);
    n.served_how = Some(how.clone());
    // APL art. 64, 85: the party may ask within five working days of the notice.
    n.window_ends = Some(f.calendar.end_of_working_days(at, s.hearing_request_days));
    Ok(Effects::record(json!({"how": how, "served_at": rfc3339(at), "window_ends": n.window_ends.map(rfc3339)})))
}

/// The party's statement and defence (APL art. 45).
pub fn record_statement(k: &mut CaseRow, t: &str) -> Result<Effects> {
    let t = text(t, "text", 2, 4000)?;
    k.progress.notice.as_mut().expect("gate notice_issued").statements.push(t.clone());
    Ok(Effects::record(json!({"statement": t})))
}

/// The party asked for a hearing within its window (APL art. 64): the decision clock stops.
pub fn request_hearing(cx: &Cx<'_>, k: &mut CaseRow, requested_at: Option<&str>) -> Result<Effects> {
    let n = k.progress.notice.as_ref().expect("gate notice_issued");
    let (served, ends) = (n.served_at.unwrap_or(cx.f.now), n.window_ends.unwrap_or(cx.f.now));
    let at = when(requested_at, "requested_at", served, cx.f.now)?;
    within_hearing_window(ends, at)?;
    k.progress.hearing = Some(Hearing {
        requested_at: at,
        notice_number: None,
        notified_at: None,
        hearing_at: None,
        place: None,
        held_at: None,
        record: None,
    });
    Ok(Effects { pause: Some(Some("hearing".into())), ..Effects::record(json!({"requested_at": rfc3339(at)})) })
}

/// The party gives up its hearing and statement.
pub fn waive_hearing(cx: &Cx<'_>, k: &mut CaseRow) -> Effects {
    k.progress.notice.as_mut().expect("gate notice_issued").waived_at = Some(cx.f.now);
    Effects::record(json!({}))
}

pub fn schedule_hearing(cx: &Cx<'_>, k: &mut CaseRow, hearing_at: &str, place: &str) -> Result<Effects> {
    let (at, _) = crate::intake::parse_rfc3339(hearing_at)
        .ok_or_else(|| invalid("hearing_at", "invalid-datetime", "an RFC 3339 date and time"))?;
    let place = text(place, "place", 2, 200)?;
    hearing_notice_period(cx.f.calendar, cx.f.settings, cx.f.now, at)?;
    let h = k.progress.hearing.as_mut().expect("gate hearing_asked");
    h.notified_at = Some(cx.f.now);
    h.hearing_at = Some(at);
    h.place = Some(place.clone());
    Ok(Effects::record(json!({"hearing_at": rfc3339(at), "place": place})))
}

/// The hearing held: back to the notice stage for the decision, which now needs legal review
/// (APL art. 58); the decision clock restarts.
pub fn hold_hearing(cx: &Cx<'_>, k: &mut CaseRow, record: &str) -> Result<Effects> {
    let record = text(record, "record", 10, 20_000)?;
    let now = cx.f.now;
    let h = k.progress.hearing.as_mut().expect("gate hearing_asked");
    h.held_at = Some(now);
    h.record = Some(record);
    k.progress.heard = true;
    k.legal_review = "required".into();
    if let Some(p) = k.proposal.as_mut() {
        p.legal_review.push("a hearing was held (APL art. 58(1)(2))".into());
        let deviates = p.deviation_reason.is_some();
        p.chain = chain_for(cx.f.settings, &k.domain, &p.item, p.fine_fen, true, deviates);
    }
    Ok(Effects { pause: Some(None), ..Effects::record(json!({"held_at": rfc3339(now)})) })
}
