//! The legal clock of a case: each stage's deadline on the working-day calendar, with the time the
//! law does not count taken out. Limits of ten days or fewer count working days (APL art. 85, ACL
//! art. 69); longer ones count calendar days.

use super::{CaseRow, CaseSettings, stage};
use crate::clock::{Calendar, Day};

const DAY_MS: i64 = 86_400_000;

/// The end (24:00 CST) of the day `n` calendar days after the day of `from`.
pub fn end_of_days(from: i64, n: u32) -> i64 {
    Day(Day::of(from).0 + i64::from(n) + 1).start_ms()
}

/// The end of a limit counted from `from`: working days up to ten, calendar days beyond.
pub fn end_of_limit(cal: &Calendar, from: i64, n: u32) -> i64 {
    if n <= 10 { cal.end_of_working_days(from, n) } else { end_of_days(from, n) }
}

/// APL art. 60: the decision within 90 days of opening, the stopped time not counted.
pub fn decide_by(s: &CaseSettings, c: &CaseRow, paused_ms: i64) -> i64 {
    end_of_days(c.opened_at, s.decide_days) + paused_ms
}

/// The deadline the case's stage runs against, and what it is for; none once nothing is due.
pub fn stage_deadline(cal: &Calendar, s: &CaseSettings, c: &CaseRow, paused_ms: i64) -> Option<(i64, &'static str)> {
    let p = &c.progress;
    match c.stage.as_str() {
        stage::OPENED | stage::INVESTIGATING | stage::NOTICE | stage::HEARING | stage::APPROVAL => {
            Some((decide_by(s, c, paused_ms), "decision"))
        }
        // APL art. 61: served within 7 days of the decision.
        stage::DECIDED => p.decision.as_ref().map(|d| (end_of_limit(cal, d.decided_at, s.serve_days), "service")),
        // APL art. 67: paid within 15 days of receipt; after it the bureau follows up (催告).
        stage::EXECUTING => match (&p.decision, &p.service, &p.payment) {
            (Some(d), Some(sv), None) if d.fine_fen.is_some() => {
                Some((end_of_limit(cal, sv.served_at, s.pay_days), "payment"))
            }
            _ => None,
        },
        stage::REFERRED => p
            .referral_out
            .as_ref()
            .filter(|r| r.accepted_at.is_none())
            .map(|r| (end_of_limit(cal, r.referred_at, s.referral_follow_up_days), "referral-follow-up")),
        _ => None,
    }
}

/// Whole days left until `due` from `now` (negative when overdue), and working days left.
pub fn days_left(cal: &Calendar, now: i64, due: i64) -> (i64, i64) {
    let calendar = (Day::of(due - 1).0 - Day::of(now).0).max(i64::MIN / 2);
    (calendar, cal.working_days_between(now, due - 1))
}

/// APL art. 72: 3% of the fine for each day paid late, never more than the fine.
pub fn surcharge(s: &CaseSettings, fine_fen: i64, pay_by: i64, paid_at: i64) -> i64 {
    if paid_at <= pay_by {
        return 0;
    }
    let late_days = (paid_at - pay_by).div_euclid(DAY_MS) + 1;
    (fine_fen * i64::from(s.surcharge_bp_per_day) * late_days / 10_000).min(fine_fen)
}

/// APL art. 36: the last day an act can still be penalised if it is discovered by then; two years
/// from the act (its end, for a continuing act), five where life, health or financial safety was
/// harmed.
pub fn limitation_ends(act_end: Day, safety_harmed: bool) -> Day {
    let years = if safety_harmed { 5 } else { 2 };
    let s = act_end.to_string();
    let (y, rest) = s.split_at(4);
    let y: i64 = y.parse().unwrap_or(1970) + years;
    // 29 February becomes 28 February in a common year.
    Day::parse(&format!("{y:04}{rest}")).unwrap_or_else(|| Day::parse(&format!("{y:04}-02-28")).unwrap_or(act_end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(date: &str, hour: i64) -> i64 {
        Day::parse(date).unwrap().start_ms() + hour * 3_600_000
    }

    #[test]
    fn ten_days_or_fewer_count_working_days_longer_limits_calendar_days() {
        let cal = Calendar::load(&[] as &[&str]).unwrap();
        // Decided Wednesday 30 September 2026: 7 working days skip the National Day break (1–7
        // October) and end with Thursday 15 October, the make-up Saturday 10 October counting.
        assert_eq!(end_of_limit(&cal, ms("2026-09-30", 10), 7), ms("2026-10-16", 0));
        // 15 days to pay run through the holiday: from 1 October, the end of 16 October.
        assert_eq!(end_of_limit(&cal, ms("2026-10-01", 10), 15), ms("2026-10-17", 0));
        // 90 days from 2 March end with 31 May.
        assert_eq!(end_of_days(ms("2026-03-02", 9), 90), ms("2026-06-01", 0));
    }

    #[test]
    fn late_payment_costs_three_percent_a_day_up_to_the_fine() {
        let s = CaseSettings::default();
        let due = ms("2026-11-16", 0);
        assert_eq!(surcharge(&s, 100_000, due, due - 1), 0);
        assert_eq!(surcharge(&s, 100_000, due, due + 3_600_000), 3_000, "first day late");
        assert_eq!(surcharge(&s, 100_000, due, due + 10 * DAY_MS - 1), 30_000);
        assert_eq!(surcharge(&s, 100_000, due, due + 400 * DAY_MS), 100_000, "capped at the fine");
    }

    #[test]
    fn the_limitation_period_is_two_years_or_five_where_safety_was_harmed() {
        let d = Day::parse("2023-05-10").unwrap();
        assert_eq!(limitation_ends(d, false).to_string(), "2025-05-10");
        assert_eq!(limitation_ends(d, true).to_string(), "2028-05-10");
        assert_eq!(limitation_ends(Day::parse("2024-02-29").unwrap(), false).to_string(), "2026-02-28");
    }
}
