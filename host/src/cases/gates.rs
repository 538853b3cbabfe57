//! The gates of the procedure: pure functions over a case and what `act` loaded once, each refusing
//! with a stable code and the article it serves. No database, no HTTP, no plugin: every gate is
//! tested below without a server.

use super::clock::limitation_ends;
use super::store::{Officer, Pause, Step};
use super::{CaseRow, CaseSettings};
use crate::api_error::ApiError;
use crate::clock::{Calendar, Day};
use crate::money::{fen_of_yuan, yuan};
use crate::store::rfc3339;
use axum::http::StatusCode;

/// A gate: passes, or refuses with the reason.
pub type Gate = fn(&CaseRow, &Facts) -> Result<(), ApiError>;

/// A move the procedure does not allow now: 409, naming the gate.
pub fn refused(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, message)
}

pub fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).field(field)
}

/// The caller as the procedure sees them, for this case: worked out once from their grants.
#[derive(Clone, Debug, Default)]
pub struct CallerFacts {
    pub user_id: i64,
    pub login: String,
    /// An officer of the case, or an officer or lead of its team.
    pub works: bool,
    /// The team's lead or a leader over the team (APL art. 57, ACL art. 18).
    pub heads: bool,
    /// The lead of the case's team.
    pub leads_team: bool,
    /// Holds the role of an approval step for this case's team: team-lead, legal-reviewer, leader.
    pub holds_step_role: [bool; 3],
    /// Holds a valid certificate of the case's domain today (APL art. 52).
    pub certified: bool,
}

/// What an action is judged on besides the case row: loaded once, before any gate runs.
#[derive(Debug)]
pub struct Facts<'a> {
    pub now: i64,
    /// Today in Beijing time, `YYYY-MM-DD`.
    pub today: String,
    pub caller: CallerFacts,
    pub officers: Vec<Officer>,
    pub steps: Vec<Step>,
    pub pauses: Vec<Pause>,
    /// Seals and seizures of the case not yet released.
    pub measures_in_force: usize,
    pub settings: &'a CaseSettings,
    pub calendar: &'a Calendar,
}

const STEP_ROLES: [&str; 3] = ["team-lead", "legal-reviewer", "leader"];

impl Facts<'_> {
    /// The officers of the case with a valid certificate of its domain today.
    pub fn certified_officers(&self) -> Vec<&Officer> {
        self.officers
            .iter()
            .filter(|o| o.certified_until.as_deref().is_some_and(|u| u >= self.today.as_str()))
            .collect()
    }

    /// Whether the decision clock is stopped for the case itself (not for a measure's testing).
    pub fn case_paused(&self) -> bool {
        self.pauses.iter().any(|p| p.measure_id.is_none() && p.ended_at.is_none())
    }
}

/// The gate's name and article, for the documentation of the procedure.
pub fn name_of(g: Gate) -> &'static str {
    const NAMES: &[(Gate, &str)] = &[
        (under_general_procedure, "under_general_procedure"),
        (under_summary_procedure, "under_summary_procedure"),
        (under_summary_procedure_to_decide, "under_summary_procedure (APL 51)"),
        (two_certified_officers, "two_certified_officers (APL 42)"),
        (certified_on_the_spot, "certified_on_the_spot (APL 52)"),
        (has_facts, "has_facts"),
        (has_proposal, "has_proposal"),
        (clock_running_to_conclude, "clock_running (APL 60)"),
        (clock_not_stopped, "clock_not_stopped"),
        (clock_stopped, "clock_stopped"),
        (notice_issued, "notice_issued (APL 44)"),
        (notice_not_yet_served, "notice_not_yet_served"),
        (notice_served, "notice_served (APL 64)"),
        (notice_served_before_decision, "notice_served (APL 44, 62)"),
        (hearing_available, "hearing_available (APL 63)"),
        (hearing_not_waived, "hearing_not_waived"),
        (hearing_asked, "hearing_asked (APL 64)"),
        (hearing_not_held, "hearing_not_held"),
        (hearing_scheduled, "hearing_scheduled (APL 64)"),
        (hearing_day_reached, "hearing_day_reached"),
        (defence_window_over, "defence_window_over (APL 45, 64)"),
        (within_limitation, "within_limitation (APL 36)"),
        (fine_decided, "fine_decided"),
        (not_paid, "not_paid"),
        (time_to_pay_over, "time_to_pay_over (APL 67)"),
        (not_demanded, "not_demanded"),
        (executed_or_enforceable, "executed_or_enforceable (ACL 35, 37; APL 72)"),
        (referred, "referred"),
        (no_measure_in_force, "no_measure_in_force (ACL 28)"),
    ];
    NAMES.iter().find(|(f, _)| std::ptr::fn_addr_eq(*f, g)).map_or("?", |(_, n)| n)
}

// ---- the procedure a case runs under ----

pub fn under_general_procedure(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    if k.procedure != "general" {
        return Err(refused("wrong-procedure", "a summary-procedure case is decided on the spot (decide-summary)"));
    }
    Ok(())
}

pub fn under_summary_procedure(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    if k.procedure != "summary" {
        return Err(refused("wrong-procedure", "the case is under the general procedure already"));
    }
    Ok(())
}

/// APL art. 51: only a case opened under the summary procedure is decided on the spot.
pub fn under_summary_procedure_to_decide(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    if k.procedure != "summary" {
        return Err(refused("wrong-procedure", "the case was opened under the general procedure"));
    }
    Ok(())
}

/// APL art. 42: an investigation is carried out by no fewer than two officers holding
/// law-enforcement certificates.
pub fn two_certified_officers(k: &CaseRow, f: &Facts) -> Result<(), ApiError> {
    let n = f.certified_officers().len();
    if n < 2 {
        return Err(refused(
            "two-certified-officers",
            format!(
                "an investigation needs at least two officers with a valid {} certificate (APL art. 42); the case has {n}",
                k.domain
            ),
        ));
    }
    Ok(())
}

/// APL art. 52: the officer deciding on the spot shows a valid certificate.
pub fn certified_on_the_spot(k: &CaseRow, f: &Facts) -> Result<(), ApiError> {
    if !f.caller.certified {
        return Err(refused("not-certified", format!("no valid {} certificate", k.domain)));
    }
    Ok(())
}

// ---- investigation ----

pub fn has_facts(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    if k.item_code.is_none() || k.facts.is_none() {
        return Err(refused("no-facts", "record the item and the facts first"));
    }
    Ok(())
}

pub fn has_proposal(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    k.proposal.as_ref().map(|_| ()).ok_or_else(|| refused("no-proposal", "propose the penalty first"))
}

/// APL art. 60: testing and appraisal time is not counted; the case is not concluded while it runs.
pub fn clock_running_to_conclude(_: &CaseRow, f: &Facts) -> Result<(), ApiError> {
    if f.case_paused() {
        return Err(refused(
            "clock-stopped",
            "testing or appraisal is under way: restart the clock (resume) before concluding",
        ));
    }
    Ok(())
}

pub fn clock_not_stopped(_: &CaseRow, f: &Facts) -> Result<(), ApiError> {
    if f.case_paused() {
        return Err(refused("paused", "the clock is stopped already"));
    }
    Ok(())
}

/// Only a stop for testing or appraisal is ended by resuming; a hearing's ends with the hearing.
pub fn clock_stopped(_: &CaseRow, f: &Facts) -> Result<(), ApiError> {
    if !f.pauses.iter().any(|p| p.measure_id.is_none() && p.ended_at.is_none() && p.reason != "hearing") {
        return Err(refused("not-paused", "the clock is running"));
    }
    Ok(())
}

// ---- notice and hearing ----

pub fn notice_issued(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    k.progress.notice.as_ref().map(|_| ()).ok_or_else(|| refused("no-notice", "issue the notice first"))
}

pub fn notice_not_yet_served(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    if k.progress.notice.as_ref().is_some_and(|n| n.served_at.is_some()) {
        return Err(refused("already-served", "the notice was served already"));
    }
    Ok(())
}

/// APL art. 64: the party's window opens when the notice reaches it.
pub fn notice_served(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    if !k.progress.notice.as_ref().is_some_and(|n| n.served_at.is_some()) {
        return Err(refused("not-served", "the notice has not been served"));
    }
    Ok(())
}

/// APL art. 44, 62: no decision before the notice of intended penalty is served.
pub fn notice_served_before_decision(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    if !k.progress.notice.as_ref().is_some_and(|n| n.served_at.is_some()) {
        return Err(refused(
            "notice-not-served",
            "no decision before the notice of intended penalty is served (APL art. 44, 62)",
        ));
    }
    Ok(())
}

/// APL art. 63: a hearing is open to the penalties the law lists; the item says whether it is one.
pub fn hearing_available(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    if !k.progress.notice.as_ref().is_some_and(|n| n.hearing_available) {
        return Err(refused("no-hearing", "no hearing may be asked for this item (APL art. 63)"));
    }
    Ok(())
}

pub fn hearing_not_waived(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    if k.progress.notice.as_ref().is_some_and(|n| n.waived_at.is_some()) {
        return Err(refused("waived", "the party gave up its hearing"));
    }
    Ok(())
}

pub fn hearing_asked(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    k.progress.hearing.as_ref().map(|_| ()).ok_or_else(|| refused("no-hearing", "no hearing was asked"))
}

pub fn hearing_not_held(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    if k.progress.hearing.as_ref().is_some_and(|h| h.held_at.is_some()) {
        return Err(refused("held", "the hearing was held already"));
    }
    Ok(())
}

/// APL art. 64(2): the party is told when and where seven days before; no hearing unscheduled.
pub fn hearing_scheduled(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    if !k.progress.hearing.as_ref().is_some_and(|h| h.hearing_at.is_some()) {
        return Err(refused("not-scheduled", "schedule the hearing and notify the party first"));
    }
    Ok(())
}

pub fn hearing_day_reached(k: &CaseRow, f: &Facts) -> Result<(), ApiError> {
    match k.progress.hearing.as_ref().and_then(|h| h.hearing_at) {
        Some(at) if Day::of(f.now) < Day::of(at) => {
            Err(refused("too-early", format!("the hearing is set for {}", Day::of(at))))
        }
        _ => Ok(()),
    }
}

/// APL art. 64, 85: the hearing window is five working days from service; a request after its
/// end is refused. `at`: when the party asked.
pub fn within_hearing_window(window_ends: i64, at: i64) -> Result<(), ApiError> {
    if at > window_ends {
        return Err(refused(
            "hearing-window-closed",
            format!("the party could ask for a hearing until {} (APL art. 64)", rfc3339(window_ends)),
        ));
    }
    Ok(())
}

/// APL art. 64, 85: the parties are told seven working days before the hearing, so a hearing
/// notified `now` is on the seventh working day after it at the earliest.
pub fn hearing_notice_period(cal: &Calendar, s: &CaseSettings, now: i64, hearing_at: i64) -> Result<(), ApiError> {
    let earliest = Day::of(cal.end_of_working_days(now, s.hearing_notice_days) - 1);
    if Day::of(hearing_at) < earliest {
        return Err(invalid(
            "hearing_at",
            "hearing-notice-period",
            format!(
                "the hearing notice must go out {} working days before the hearing: the earliest day is {earliest}",
                s.hearing_notice_days
            ),
        ));
    }
    Ok(())
}

/// APL art. 45, 64: the party may state, defend and ask for a hearing until its window closes; the
/// decision waits for that, for the hearing held, or for the party's waiver.
pub fn defence_window_over(k: &CaseRow, f: &Facts) -> Result<(), ApiError> {
    let Some(n) = k.progress.notice.as_ref() else { return notice_issued(k, f) };
    let heard = k.progress.hearing.as_ref().is_some_and(|h| h.held_at.is_some());
    let window_over = n.window_ends.is_some_and(|e| f.now > e);
    if !(heard || n.waived_at.is_some() || window_over) {
        return Err(refused(
            "hearing-window-open",
            format!(
                "the party may state, defend and ask for a hearing until {} (APL art. 45, 64; notice served {}); decide after it, or once the party waives",
                n.window_ends.map(rfc3339).unwrap_or_default(),
                n.served_at.map(rfc3339).unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

// ---- decision ----

/// APL art. 36: no penalty for an act discovered more than two years (five where life, health or
/// financial safety was harmed) after it ended.
pub fn within_limitation(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    let limit = limitation_ends(k.act_end(), k.safety_harmed);
    if Day::of(k.discovered_at) > limit {
        return Err(refused(
            "limitation-expired",
            format!(
                "the act ended on {} and was discovered on {}, after {} ({} years, APL art. 36): no penalty may be given; close it without penalty",
                k.act_end(),
                Day::of(k.discovered_at),
                limit,
                if k.safety_harmed { 5 } else { 2 }
            ),
        ));
    }
    Ok(())
}

/// APL art. 51: on the spot, a warning or a fine of up to 200 yuan (a person) or 3,000 yuan (an
/// organisation); the bureau's settings hold the two limits.
pub fn summary_limit(k: &CaseRow, s: &CaseSettings, fine_fen: Option<i64>) -> Result<(), ApiError> {
    let ceiling = fen_of_yuan(if k.party.kind == "person" {
        s.summary_max_fine_person_yuan
    } else {
        s.summary_max_fine_organisation_yuan
    });
    if fine_fen.is_some_and(|f| f > ceiling) {
        return Err(refused(
            "over-summary-limit",
            format!(
                "the summary procedure fines at most {} here (APL art. 51): convert the case to the general procedure",
                yuan(ceiling)
            ),
        ));
    }
    Ok(())
}

/// The step of the current round waiting for a decision.
pub fn open_step(steps: &[Step], round: i64) -> Result<&Step, ApiError> {
    steps
        .iter()
        .filter(|s| s.round == round && s.decided_at.is_none())
        .min_by_key(|s| s.step)
        .ok_or_else(|| refused("no-open-step", "nothing waits for approval"))
}

/// APL art. 58, 57: the step is decided by someone holding its role for the case's team, who is not
/// an officer of the case, did not propose, and decided no earlier step of the round.
pub fn may_approve(k: &CaseRow, f: &Facts, step: &Step) -> Result<(), ApiError> {
    let Some(role) = STEP_ROLES.iter().position(|r| *r == step.role) else {
        return Err(refused("bad-chain", format!("unknown approval role {}", step.role)));
    };
    let c = &f.caller;
    if !c.holds_step_role[role] {
        return Err(ApiError::forbidden(format!("this step is for the {} of the case's team", step.role)));
    }
    if f.officers.iter().any(|o| o.user_id == c.user_id)
        || k.proposal.as_ref().is_some_and(|p| p.proposed_by == c.login)
    {
        return Err(ApiError::forbidden("an officer of the case does not approve its own proposal"));
    }
    // Each step is a different person's check: nobody approves twice in one round.
    if f.steps.iter().any(|x| x.round == step.round && x.decided_by.as_deref() == Some(c.login.as_str())) {
        return Err(ApiError::forbidden("you decided an earlier step of this round: the next step is someone else's"));
    }
    Ok(())
}

/// APL art. 58: where legal review is required, no decision without it.
pub fn legal_review_done(k: &CaseRow) -> Result<(), ApiError> {
    if k.legal_review == "required" {
        return Err(refused("legal-review-required", "no decision without the legal review (APL art. 58)"));
    }
    Ok(())
}

// ---- execution and closing ----

pub fn fine_decided(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    let d = k.progress.decision.as_ref().ok_or_else(|| refused("no-decision", "nothing was decided"))?;
    d.fine_fen.map(|_| ()).ok_or_else(|| refused("no-fine", "the decision imposes no fine"))
}

pub fn not_paid(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    if k.progress.payment.is_some() {
        return Err(refused("already-paid", "the payment was recorded already"));
    }
    Ok(())
}

/// When the time to pay ends: 15 days from service (APL art. 67).
pub fn pay_by(k: &CaseRow, f: &Facts) -> i64 {
    let served = k.progress.service.as_ref().map_or(f.now, |s| s.served_at);
    super::clock::end_of_limit(f.calendar, served, f.settings.pay_days)
}

/// APL art. 67; ACL art. 35: the demand comes only once the time to pay has run out.
pub fn time_to_pay_over(k: &CaseRow, f: &Facts) -> Result<(), ApiError> {
    let by = pay_by(k, f);
    if f.now <= by {
        return Err(refused("not-yet-due", format!("the party may pay until {} (APL art. 67)", rfc3339(by))));
    }
    Ok(())
}

pub fn not_demanded(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    if k.progress.demand.is_some() {
        return Err(refused("demanded", "the demand was issued already"));
    }
    Ok(())
}

/// ACL art. 35, 37; APL art. 72: a case is closed once executed; an unpaid fine only after the time
/// to pay and the written demand have both run out, on the head's application for enforcement.
pub fn executed_or_enforceable(k: &CaseRow, f: &Facts) -> Result<(), ApiError> {
    if !unpaid(k) {
        return Ok(());
    }
    let demand = k.progress.demand.as_ref().ok_or_else(|| {
        refused("not-executed", "the fine is unpaid: close once paid, or after the written demand (issue-demand) has run out, on the application for enforcement")
    })?;
    if f.now <= demand.due_at {
        return Err(refused("demand-running", format!("the demand runs until {}", rfc3339(demand.due_at))));
    }
    if !f.caller.heads {
        return Err(ApiError::forbidden("the head applies for enforcement"));
    }
    Ok(())
}

/// A fine was decided and not paid.
pub fn unpaid(k: &CaseRow) -> bool {
    k.progress.decision.as_ref().and_then(|d| d.fine_fen).is_some() && k.progress.payment.is_none()
}

pub fn referred(k: &CaseRow, _: &Facts) -> Result<(), ApiError> {
    k.progress.referral_out.as_ref().map(|_| ()).ok_or_else(|| refused("no-referral", "nothing was referred"))
}

/// ACL art. 28: what was sealed or seized is released before the file is closed for good.
pub fn no_measure_in_force(_: &CaseRow, f: &Facts) -> Result<(), ApiError> {
    if f.measures_in_force > 0 {
        return Err(refused("measure-in-force", "a seal or seizure is still in force: release it first"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
