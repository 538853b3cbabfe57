//! The gates, both sides of each boundary, without a server or a database.

use super::*;
use crate::cases::procedure::{self, allowed_actions};
use crate::cases::{Hearing, Notice, Proposal, stage};
use serde_json::json;

fn day(s: &str) -> Day {
    Day::parse(s).expect("a date")
}

/// Milliseconds of `date` at `hour`:00 Beijing time.
fn at(date: &str, hour: i64) -> i64 {
    day(date).start_ms() + hour * 3_600_000
}

fn case(kind: &str) -> CaseRow {
    let party = serde_json::from_value(json!({"kind": kind, "name": "某某有限公司"})).expect("a party");
    let mut k = CaseRow::opened(party, day("2026-03-02"), 1, at("2026-03-02", 9));
    k.domain = "housing".into();
    k.discovered_at = at("2026-03-02", 9);
    k
}

fn officer(id: i64, until: Option<&str>) -> Officer {
    Officer {
        user_id: id,
        login: format!("officer{id}"),
        display_name: format!("执法员{id}"),
        certificate: until.map(|_| format!("C{id}")),
        certified_until: until.map(str::to_string),
    }
}

fn step(id: i64, n: i64, role: &str) -> Step {
    Step {
        id,
        round: 1,
        step: n,
        role: role.into(),
        requested_at: None,
        decided_at: None,
        decided_by: None,
        outcome: None,
        comment: None,
    }
}

fn facts<'a>(s: &'a CaseSettings, cal: &'a Calendar, now: i64) -> Facts<'a> {
    Facts {
        now,
        today: Day::of(now).to_string(),
        caller: CallerFacts { user_id: 9, login: "lead".into(), works: true, ..CallerFacts::default() },
        officers: Vec::new(),
        steps: Vec::new(),
        pauses: Vec::new(),
        measures_in_force: 0,
        settings: s,
        calendar: cal,
    }
}

fn calendar() -> Calendar {
    Calendar::load(&[] as &[&str]).expect("the bundled calendar")
}

fn notice(served: Option<i64>, window_ends: Option<i64>) -> Notice {
    Notice {
        number: String::new(),
        issued_at: at("2026-03-02", 9),
        hearing_available: true,
        served_at: served,
        served_how: None,
        window_ends,
        waived_at: None,
        statements: Vec::new(),
    }
}

fn code(r: Result<(), ApiError>) -> &'static str {
    r.err().map_or("ok", |e| e.code)
}

#[test]
fn two_certified_officers_apl_42() {
    let (s, cal) = (CaseSettings::default(), calendar());
    let k = case("organisation");
    let mut f = facts(&s, &cal, at("2026-03-02", 10));
    f.officers = vec![officer(1, Some("2027-01-01")), officer(2, Some("2026-03-01"))];
    assert_eq!(code(two_certified_officers(&k, &f)), "two-certified-officers", "an expired certificate does not count");
    f.officers[1] = officer(2, Some("2026-03-02"));
    assert_eq!(code(two_certified_officers(&k, &f)), "ok", "a certificate valid until today counts");
    f.officers[1] = officer(2, None);
    assert_eq!(code(two_certified_officers(&k, &f)), "two-certified-officers");
}

#[test]
fn the_hearing_window_closes_after_the_fifth_working_day_apl_64() {
    let (s, cal) = (CaseSettings::default(), calendar());
    // Served on Monday 2 March 2026: the window runs over Tue–Fri and Monday 9 March.
    let served = at("2026-03-02", 10);
    let ends = cal.end_of_working_days(served, s.hearing_request_days);
    assert_eq!(Day::of(ends - 1), day("2026-03-09"), "the fifth working day after service");
    assert_eq!(code(within_hearing_window(ends, at("2026-03-09", 17))), "ok", "asked on the fifth working day");
    assert_eq!(code(within_hearing_window(ends, at("2026-03-10", 9))), "hearing-window-closed", "on the sixth");
}

#[test]
fn the_hearing_is_notified_seven_working_days_ahead_apl_64() {
    let (s, cal) = (CaseSettings::default(), calendar());
    let now = at("2026-03-02", 10);
    // Seven working days from Monday 2 March: 3, 4, 5, 6, 9, 10, 11 March.
    assert_eq!(code(hearing_notice_period(&cal, &s, now, at("2026-03-11", 9))), "ok");
    assert_eq!(code(hearing_notice_period(&cal, &s, now, at("2026-03-10", 15))), "hearing-notice-period");
}

#[test]
fn limitation_ends_on_its_last_day_apl_36() {
    let (s, cal) = (CaseSettings::default(), calendar());
    let mut k = case("person");
    k.act_date = "2024-05-10".into();
    let f = facts(&s, &cal, at("2026-06-01", 9));
    k.discovered_at = at("2026-05-10", 23);
    assert_eq!(code(within_limitation(&k, &f)), "ok", "discovered on the last day of two years");
    k.discovered_at = at("2026-05-11", 0);
    assert_eq!(code(within_limitation(&k, &f)), "limitation-expired", "the day after");
    k.safety_harmed = true;
    assert_eq!(code(within_limitation(&k, &f)), "ok", "five years where safety was harmed");
    k.discovered_at = at("2029-05-11", 0);
    assert_eq!(code(within_limitation(&k, &f)), "limitation-expired");
}

#[test]
fn summary_fines_stop_at_200_and_3000_yuan_apl_51() {
    let s = CaseSettings::default();
    let (person, org) = (case("person"), case("organisation"));
    assert_eq!(code(summary_limit(&person, &s, Some(20_000))), "ok");
    assert_eq!(code(summary_limit(&person, &s, Some(20_001))), "over-summary-limit");
    assert_eq!(code(summary_limit(&org, &s, Some(300_000))), "ok");
    assert_eq!(code(summary_limit(&org, &s, Some(300_001))), "over-summary-limit");
    assert_eq!(code(summary_limit(&person, &s, None)), "ok", "a warning");
}

#[test]
fn no_decision_before_the_notice_is_served_and_the_window_over_apl_44_45_62() {
    let (s, cal) = (CaseSettings::default(), calendar());
    let mut k = case("organisation");
    let ends = at("2026-03-10", 0);
    let f = facts(&s, &cal, ends);
    k.progress.notice = Some(notice(None, None));
    assert_eq!(code(notice_served_before_decision(&k, &f)), "notice-not-served");
    k.progress.notice = Some(notice(Some(at("2026-03-02", 10)), Some(ends)));
    assert_eq!(code(notice_served_before_decision(&k, &f)), "ok");
    assert_eq!(code(defence_window_over(&k, &f)), "hearing-window-open", "at the window's last instant");
    assert_eq!(code(defence_window_over(&k, &facts(&s, &cal, ends + 1))), "ok", "after it");
    k.progress.notice.as_mut().unwrap().waived_at = Some(at("2026-03-03", 9));
    assert_eq!(code(defence_window_over(&k, &f)), "ok", "the party waived");
}

#[test]
fn hearing_gates() {
    let (s, cal) = (CaseSettings::default(), calendar());
    let mut k = case("organisation");
    let f = facts(&s, &cal, at("2026-03-12", 9));
    assert_eq!(code(hearing_asked(&k, &f)), "no-hearing");
    k.progress.notice = Some(Notice { hearing_available: false, ..notice(Some(1), Some(2)) });
    assert_eq!(code(hearing_available(&k, &f)), "no-hearing", "APL art. 63");
    k.progress.hearing = Some(Hearing {
        requested_at: 1,
        notice_number: None,
        notified_at: None,
        hearing_at: None,
        place: None,
        held_at: None,
        record: None,
    });
    assert_eq!(code(hearing_scheduled(&k, &f)), "not-scheduled");
    k.progress.hearing.as_mut().unwrap().hearing_at = Some(at("2026-03-13", 9));
    assert_eq!(code(hearing_day_reached(&k, &f)), "too-early");
    assert_eq!(code(hearing_day_reached(&k, &facts(&s, &cal, at("2026-03-13", 8)))), "ok", "on the day");
}

#[test]
fn clock_gates_tell_a_hearing_from_testing() {
    let (s, cal) = (CaseSettings::default(), calendar());
    let k = case("organisation");
    let mut f = facts(&s, &cal, at("2026-03-12", 9));
    assert_eq!(code(clock_not_stopped(&k, &f)), "ok");
    assert_eq!(code(clock_stopped(&k, &f)), "not-paused");
    f.pauses = vec![Pause { id: 1, measure_id: None, reason: "hearing".into(), started_at: 1, ended_at: None }];
    assert_eq!(code(clock_stopped(&k, &f)), "not-paused", "a hearing's stop is not resumed by hand");
    assert_eq!(code(clock_running_to_conclude(&k, &f)), "clock-stopped");
    f.pauses[0].reason = "testing".into();
    assert_eq!(code(clock_stopped(&k, &f)), "ok");
    f.pauses[0].ended_at = Some(2);
    assert_eq!(code(clock_running_to_conclude(&k, &f)), "ok");
}

#[test]
fn an_unpaid_fine_closes_only_after_the_demand_on_the_heads_application_acl_35_37() {
    let (s, cal) = (CaseSettings::default(), calendar());
    let mut k = case("organisation");
    let mut f = facts(&s, &cal, at("2026-05-01", 9));
    k.progress.decision = Some(
        serde_json::from_value(json!({
            "number": "", "decided_at": 0, "summary": false, "item": "x", "tier": "t", "applies": "pinned",
            "penalties": [], "fine_fen": 100_000, "orders": []
        }))
        .expect("a decision"),
    );
    assert_eq!(code(executed_or_enforceable(&k, &f)), "not-executed");
    k.progress.demand = Some(crate::cases::Demand { number: String::new(), issued_at: 0, due_at: f.now });
    assert_eq!(code(executed_or_enforceable(&k, &f)), "demand-running", "until the demand's last instant");
    f.now += 1;
    assert_eq!(code(executed_or_enforceable(&k, &f)), "forbidden", "an officer does not apply for enforcement");
    f.caller.heads = true;
    assert_eq!(code(executed_or_enforceable(&k, &f)), "ok");
    k.progress.payment = Some(
        serde_json::from_value(json!({"paid_at": 0, "fine_fen": 100_000, "surcharge_fen": 0, "receipt": "R1"}))
            .unwrap(),
    );
    f.caller.heads = false;
    assert_eq!(code(executed_or_enforceable(&k, &f)), "ok", "paid: any officer closes");
    assert_eq!(code(not_paid(&k, &f)), "already-paid");
}

#[test]
fn approval_is_someone_elses_check() {
    let (s, cal) = (CaseSettings::default(), calendar());
    let mut k = case("organisation");
    let mut f = facts(&s, &cal, at("2026-03-12", 9));
    f.steps = vec![step(1, 1, "team-lead"), step(2, 2, "leader")];
    k.progress.approval_round = 1;
    let first = open_step(&f.steps, 1).expect("a step waits");
    assert_eq!(first.id, 1);
    assert_eq!(code(may_approve(&k, &f, first)), "forbidden", "the caller holds no team-lead role");
    f.caller.holds_step_role = [true, false, false];
    assert_eq!(code(may_approve(&k, &f, first)), "ok");
    f.officers = vec![officer(9, Some("2030-01-01"))];
    assert_eq!(code(may_approve(&k, &f, first)), "forbidden", "an officer of the case");
    f.officers.clear();
    let mut proposal: Proposal = serde_json::from_value(json!({
        "item": "x", "pinned": {"version": "", "sha256": "", "reference_at": 0, "outcome": {"refused": {"code": "", "message": ""}}},
        "current": {"version": "", "sha256": "", "reference_at": 0, "outcome": {"refused": {"code": "", "message": ""}}},
        "applies": "pinned", "applies_because": "", "tier": "t", "penalties": [], "orders": [], "basis": [],
        "fine_band": null, "recommended_fine_fen": null, "fine_fen": null, "deviation_reason": null, "manual": false,
        "legal_review": [], "chain": [], "proposed_by": "lead", "proposed_at": 0
    }))
    .expect("a proposal");
    k.proposal = Some(proposal.clone());
    assert_eq!(code(may_approve(&k, &f, first)), "forbidden", "the proposer");
    proposal.proposed_by = "someone".into();
    k.proposal = Some(proposal);
    f.steps[0].decided_at = Some(1);
    f.steps[0].decided_by = Some("lead".into());
    f.caller.holds_step_role = [true, false, true];
    let second = open_step(&f.steps, 1).expect("the next step");
    assert_eq!(code(may_approve(&k, &f, second)), "forbidden", "decided an earlier step of the round");
    f.steps[1].decided_at = Some(2);
    assert_eq!(open_step(&f.steps, 1).err().map(|e| e.code), Some("no-open-step"));
}

#[test]
fn the_table_offers_what_the_stage_and_the_caller_allow() {
    let (s, cal) = (CaseSettings::default(), calendar());
    let mut k = case("organisation");
    let mut f = facts(&s, &cal, at("2026-03-12", 9));
    let offered = allowed_actions(&k, &f);
    assert!(offered.contains(&"record-facts") && !offered.contains(&"start-investigation"), "{offered:?}");
    assert!(!offered.contains(&"assign-officers") && !offered.contains(&"refer-out"), "not the lead: {offered:?}");
    f.officers = vec![officer(1, Some("2030-01-01")), officer(2, Some("2030-01-01"))];
    f.caller.leads_team = true;
    f.caller.heads = true;
    let offered = allowed_actions(&k, &f);
    for a in ["start-investigation", "assign-officers", "refer-out", "close-without-penalty"] {
        assert!(offered.contains(&a), "{a} not in {offered:?}");
    }
    assert!(!offered.contains(&"propose"), "proposing is done under investigation");
    k.stage = stage::ARCHIVED.into();
    assert!(allowed_actions(&k, &f).is_empty(), "an archived case is read-only");
    k.stage = stage::CLOSED.into();
    f.measures_in_force = 1;
    let archive = procedure::row_of("archive");
    assert_eq!(code(procedure::check(archive, &k, &f)), "measure-in-force");
    f.caller.works = false;
    assert_eq!(code(procedure::check(archive, &k, &f)), "forbidden");
}
