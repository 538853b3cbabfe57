//! The case procedure as data: for every action on a case, the stages it is taken in, who may take
//! it, the gates of the law it must pass, the stage it leads to, and the documents and messages it
//! produces. `workflow::act` reads this table and nothing else to decide whether an action may be
//! taken; the pages ask [`allowed_actions`] which buttons to draw. The gates themselves are pure
//! functions in `gates.rs`, each citing its article.
//!
//! Checks that need the action's own input (the date a hearing was asked for, the fine proposed)
//! or a plugin call (the lighter-law assessment) stay in the action's body, in `actions/`, and call
//! the same pure functions of `gates.rs`.

use super::gates::{self, Facts, Gate};
use super::stage::{APPROVAL, ARCHIVED, CLOSED, DECIDED, EXECUTING, HEARING, INVESTIGATING, NOTICE, OPENED, REFERRED};
use super::{CaseRow, stage};
use crate::api_error::ApiError;
use axum::http::StatusCode;

/// Who may take an action, besides seeing the case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// An officer of the case, or an officer or lead of its team.
    Worker,
    /// The lead of the case's team (the refusal's words).
    TeamLead(&'static str),
    /// The head (APL art. 57's 负责人): the team's lead, or a leader over the team, whether or not
    /// they work the case (the refusal's words).
    Head(&'static str),
    /// A worker, or the head; a gate may then ask for the head (closing an unpaid case).
    WorkerOrHead,
    /// Whoever holds the role of the approval step waiting now, and is not of the case.
    ChainStep,
}

/// The stage an action leaves the case at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    To(&'static str),
    Stay,
    /// The body decides: the last approval decides the case, earlier ones leave it in approval.
    ByBody,
}

/// One action of the procedure.
#[derive(Debug)]
pub struct Row {
    /// The action's name in the API (`{"action": "issue-notice"}`).
    pub action: &'static str,
    /// What the action is, in a refusal: "{what} is done at the stage …".
    pub what: &'static str,
    pub at: &'static [&'static str],
    pub who: Who,
    pub gates: &'static [Gate],
    pub next: Next,
    /// Documents generated in the action's transaction, numbered where the kind has a number.
    pub makes: &'static [&'static str],
    /// The message sent (`case.{event}`).
    pub event: Option<&'static str>,
}

const BEFORE_DECISION: &[&str] = &[OPENED, INVESTIGATING, NOTICE, HEARING];
const EARLY: &[&str] = &[OPENED, INVESTIGATING];

/// The whole procedure, in the order a general case runs through it. Kept as a table on purpose.
#[rustfmt::skip]
pub const PROCEDURE: &[Row] = &[
    // ---- opening (立案) ----
    row("assign-officers", "assigning officers", BEFORE_DECISION, Who::TeamLead("the team lead assigns officers"), &[], Next::Stay, &[]),
    row("convert-to-general", "changing the procedure", &[OPENED], Who::Worker, &[gates::under_summary_procedure], Next::Stay, &[]),
    row("start-investigation", "starting the investigation", &[OPENED], Who::Worker,
        &[gates::under_general_procedure, gates::two_certified_officers], Next::To(INVESTIGATING), &[]),
    // ---- investigation (调查取证) ----
    row("record-inspection", "recording an inspection", EARLY, Who::Worker, &[], Next::Stay, &[]),
    row("record-facts", "recording the facts", EARLY, Who::Worker, &[], Next::Stay, &[]),
    row("assess", "assessing", EARLY, Who::Worker, &[gates::has_facts], Next::Stay, &[]),
    row("propose", "proposing a penalty", &[INVESTIGATING], Who::Worker, &[gates::has_facts, gates::within_limitation], Next::Stay, &[]),
    row("declare-distinct-act", "declaring a distinct act", EARLY, Who::Worker, &[], Next::Stay, &[]),
    row("pause", "stopping the clock", &[INVESTIGATING], Who::Worker, &[gates::clock_not_stopped], Next::Stay, &[]),
    row("resume", "restarting the clock", &[INVESTIGATING], Who::Worker, &[gates::clock_stopped], Next::Stay, &[]),
    // ---- notice and hearing (告知、听证) ----
    row("issue-notice", "issuing the notice", &[INVESTIGATING], Who::Worker,
        &[gates::clock_running_to_conclude, gates::has_proposal], Next::To(NOTICE), &["notice"]),
    row("serve-notice", "serving the notice", &[NOTICE], Who::Worker,
        &[gates::notice_issued, gates::notice_not_yet_served], Next::Stay, &["notice-receipt"]),
    row("record-statement", "recording the party's statement", &[NOTICE, HEARING], Who::Worker, &[gates::notice_issued], Next::Stay, &[]),
    row("request-hearing", "a hearing request", &[NOTICE], Who::Worker,
        &[gates::notice_issued, gates::notice_served, gates::hearing_available, gates::hearing_not_waived], Next::To(HEARING), &[]),
    row("waive-hearing", "waiving the hearing", &[NOTICE], Who::Worker, &[gates::notice_issued, gates::notice_served], Next::Stay, &[]),
    row("schedule-hearing", "scheduling the hearing", &[HEARING], Who::Worker,
        &[gates::hearing_asked, gates::hearing_not_held], Next::Stay, &["hearing-notice"]),
    row("hold-hearing", "holding the hearing", &[HEARING], Who::Worker,
        &[gates::hearing_asked, gates::hearing_scheduled, gates::hearing_day_reached], Next::To(NOTICE), &[]),
    // ---- approval and decision (法制审核、审批、决定) ----
    row("submit", "submitting for decision", &[NOTICE], Who::Worker,
        &[gates::notice_issued, gates::notice_served_before_decision, gates::defence_window_over, gates::has_proposal,
          gates::within_limitation], Next::To(APPROVAL), &[]),
    row("approve", "approval", &[APPROVAL], Who::ChainStep, &[], Next::ByBody, &[]),
    Row { event: Some("rejected"), ..row("reject", "approval", &[APPROVAL], Who::ChainStep, &[], Next::To(INVESTIGATING), &[]) },
    Row { event: Some("decided"), ..row("decide-summary", "a summary decision", &[OPENED], Who::Worker,
        &[gates::under_summary_procedure_to_decide, gates::certified_on_the_spot], Next::To(EXECUTING), &["decision", "decision-receipt"]) },
    row("serve-decision", "serving the decision", &[DECIDED], Who::Worker, &[], Next::To(EXECUTING), &["decision-receipt"]),
    // ---- execution (执行) ----
    row("record-payment", "recording a payment", &[EXECUTING], Who::Worker, &[gates::fine_decided, gates::not_paid], Next::Stay, &[]),
    row("issue-demand", "a demand to pay", &[EXECUTING], Who::Worker,
        &[gates::fine_decided, gates::not_paid, gates::time_to_pay_over, gates::not_demanded], Next::Stay, &["demand"]),
    // ---- closing (结案、归档) and referral (移送) ----
    Row { event: Some("closed"), ..row("close", "closing", &[EXECUTING], Who::WorkerOrHead, &[gates::executed_or_enforceable], Next::To(CLOSED), &["closing-report"]) },
    Row { event: Some("closed"), ..row("close-without-penalty", "closing without penalty", &[OPENED, INVESTIGATING, NOTICE, APPROVAL],
        Who::Head("not to penalise is the head's decision (APL art. 57): the team lead or a leader"), &[], Next::To(CLOSED), &["closing-report"]) },
    row("refer-out", "referring the case out", EARLY,
        Who::Head("a referral is the head's decision (APL art. 57): the team lead or a leader"), &[], Next::To(REFERRED), &["referral"]),
    Row { event: Some("closed"), ..row("referral-accepted", "recording the referral's acceptance", &[REFERRED], Who::Worker,
        &[gates::referred], Next::To(CLOSED), &["closing-report"]) },
    row("archive", "archiving", &[CLOSED], Who::TeamLead("the team lead archives"), &[gates::no_measure_in_force], Next::To(ARCHIVED), &[]),
];

#[allow(clippy::too_many_arguments)]
const fn row(
    action: &'static str,
    what: &'static str,
    at: &'static [&'static str],
    who: Who,
    gates: &'static [Gate],
    next: Next,
    makes: &'static [&'static str],
) -> Row {
    Row { action, what, at, who, gates, next, makes, event: None }
}

/// The row of an action.
pub fn row_of(action: &str) -> &'static Row {
    PROCEDURE.iter().find(|r| r.action == action).expect("every action has its row in PROCEDURE (tested)")
}

/// Whether the caller may take the action now, before its own input is read: who, the record's
/// state, the stage, then each gate in order. The first refusal is the answer.
pub fn check(r: &Row, k: &CaseRow, f: &Facts) -> Result<(), ApiError> {
    let c = &f.caller;
    let general = match r.who {
        Who::ChainStep => true,
        Who::Head(_) | Who::WorkerOrHead => c.works || c.heads,
        Who::Worker | Who::TeamLead(_) => c.works,
    };
    if !general {
        return Err(ApiError::forbidden("only the case's officers and its team act on it"));
    }
    if k.stage == stage::ARCHIVED {
        return Err(gates::refused("archived", "an archived case is read-only"));
    }
    need_stage(k, r.at, r.what)?;
    match r.who {
        Who::TeamLead(why) if !c.leads_team => return Err(ApiError::forbidden(why)),
        Who::Head(why) if !c.heads => return Err(ApiError::forbidden(why)),
        Who::ChainStep => {
            gates::may_approve(k, f, gates::open_step(&f.steps, k.progress.approval_round)?)?;
        }
        _ => {}
    }
    r.gates.iter().try_for_each(|g| g(k, f))
}

/// The actions the caller may take on the case now, in the procedure's order: what a page offers.
/// An action offered may still be refused for its input (a date outside the window, a fine
/// outside the band).
pub fn allowed_actions(k: &CaseRow, f: &Facts) -> Vec<&'static str> {
    PROCEDURE.iter().filter(|r| check(r, k, f).is_ok()).map(|r| r.action).collect()
}

pub(crate) fn need_stage(k: &CaseRow, allowed: &[&str], what: &str) -> Result<(), ApiError> {
    if allowed.contains(&k.stage.as_str()) {
        return Ok(());
    }
    let list: Vec<&str> = allowed.iter().map(|s| stage::zh(s)).collect();
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "wrong-stage",
        format!(
            "{what} is done at the stage {}; the case is at {} ({})",
            list.join(" or "),
            stage::zh(&k.stage),
            k.stage
        ),
    ))
}

/// The table as Markdown: a row an action, its gates by name and article.
pub fn markdown() -> String {
    let mut out = String::from("| action | at stages | who | gates | next | documents |\n|---|---|---|---|---|---|\n");
    for r in PROCEDURE {
        let who = match r.who {
            Who::Worker => "officer of the case or its team".to_string(),
            Who::TeamLead(_) => "team lead".into(),
            Who::Head(_) => "head (team lead or leader over the team)".into(),
            Who::WorkerOrHead => "officer of the case, its team, or the head".into(),
            Who::ChainStep => "holder of the waiting approval step".into(),
        };
        let gates: Vec<&str> = r.gates.iter().map(|g| gates::name_of(*g)).collect();
        let next = match r.next {
            Next::To(s) => s,
            Next::Stay => "—",
            Next::ByBody => "decided (last step) or approval",
        };
        out.push_str(&format!(
            "| `{}` | {} | {who} | {} | {next} | {} |\n",
            r.action,
            r.at.join(", "),
            gates.join(", "),
            r.makes.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::workflow::Action;
    use super::*;

    #[test]
    fn every_action_has_exactly_one_row_and_every_row_an_action() {
        for r in PROCEDURE {
            assert_eq!(PROCEDURE.iter().filter(|o| o.action == r.action).count(), 1, "{} twice", r.action);
            // An action the API does not know fails as an unknown variant; a known one at most
            // for its missing fields.
            let e = serde_json::from_value::<Action>(serde_json::json!({"action": r.action})).err();
            assert!(e.as_ref().is_none_or(|e| !e.to_string().contains("unknown variant")), "{}: {e:?}", r.action);
        }
        for name in Action::NAMES {
            assert!(PROCEDURE.iter().any(|r| r.action == name), "no row for {name}");
        }
        assert_eq!(Action::NAMES.len(), PROCEDURE.len());
    }

    #[test]
    fn every_gate_is_named_in_the_documentation() {
        let md = markdown();
        for r in PROCEDURE {
            for g in r.gates {
                assert_ne!(gates::name_of(*g), "?", "a gate of {} has no name", r.action);
            }
        }
        assert!(md.contains("| `submit` | notice |"), "{md}");
        assert!(md.contains("two_certified_officers (APL 42)"), "{md}");
    }
}
