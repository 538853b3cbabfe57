//! Working time: the official working-day calendar (weekends, public holidays and the weekend days
//! made working days, 调休) and deadlines counted on it. Instants are Unix milliseconds; days are
//! read in China Standard Time (UTC+8, no daylight saving). The bundled calendar is the State
//! Council's notice for the year; an admin extends it with more files (`calendar_files`).

use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;

mod instant;

pub use casegrid_runtime::day::Day;
pub use instant::{iso_cst, now_ms, parse_rfc3339, rfc3339, today_cst};

/// One calendar file: the days off that fall on weekdays or extend weekends, and the weekend days
/// that are working days.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    /// Where the dates come from (the notice's title and number).
    source: String,
    holidays: Vec<String>,
    #[serde(default)]
    working_weekends: Vec<String>,
}

/// The bundled calendar: 国务院办公厅关于2026年部分节假日安排的通知.
pub const BUNDLED: &str = include_str!("calendar-2026.toml");

#[derive(Clone, Debug, Default)]
pub struct Calendar {
    holidays: BTreeSet<Day>,
    working_weekends: BTreeSet<Day>,
    pub sources: Vec<String>,
}

impl Calendar {
    /// The bundled calendar and each of `files`, later files adding to earlier ones.
    pub fn load(files: &[impl AsRef<Path>]) -> anyhow::Result<Calendar> {
        let mut c = Calendar::default();
        c.add(BUNDLED, "the bundled calendar")?;
        for f in files {
            let f = f.as_ref();
            let text = std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("calendar file {}: {e}", f.display()))?;
            c.add(&text, &f.display().to_string())?;
        }
        Ok(c)
    }

    fn add(&mut self, text: &str, name: &str) -> anyhow::Result<()> {
        let file: CalendarFile = toml::from_str(text).map_err(|e| anyhow::anyhow!("calendar file {name}: {e}"))?;
        let parse = |s: &String| {
            Day::parse(s).ok_or_else(|| anyhow::anyhow!("calendar file {name}: `{s}` is not a date YYYY-MM-DD"))
        };
        for h in &file.holidays {
            self.holidays.insert(parse(h)?);
        }
        for w in &file.working_weekends {
            let d = parse(w)?;
            if d.weekday() < 6 {
                anyhow::bail!("calendar file {name}: {w} is a weekday, not a weekend day made a working day");
            }
            self.working_weekends.insert(d);
        }
        self.sources.push(file.source);
        Ok(())
    }

    pub fn is_working_day(&self, d: Day) -> bool {
        if self.working_weekends.contains(&d) {
            return true;
        }
        d.weekday() < 6 && !self.holidays.contains(&d)
    }

    /// The end (24:00 CST) of the `n`th working day after the day of `from`: a report received on
    /// any day, working or not, has the whole of the next `n` working days.
    pub fn end_of_working_days(&self, from_ms: i64, n: u32) -> i64 {
        let mut d = Day::of(from_ms);
        let mut left = n;
        while left > 0 {
            d = d.next();
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d.next().start_ms()
    }

    /// Working days from the day of `from` to the day of `to` (after `from`'s day, up to and
    /// including `to`'s): how many days a citizen or an officer has had, or has left.
    pub fn working_days_between(&self, from_ms: i64, to_ms: i64) -> i64 {
        let (a, b) = (Day::of(from_ms), Day::of(to_ms));
        let (lo, hi, sign) = if a <= b { (a, b, 1) } else { (b, a, -1) };
        let mut n = 0;
        let mut d = lo;
        while d < hi {
            d = d.next();
            if self.is_working_day(d) {
                n += 1;
            }
        }
        sign * n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(date: &str, hour: i64) -> i64 {
        Day::parse(date).unwrap().start_ms() + hour * 3_600_000
    }

    #[test]
    fn dates_round_trip_and_weekdays_are_right() {
        for s in ["1970-01-01", "2000-02-29", "2026-01-01", "2026-12-31", "2099-12-31"] {
            assert_eq!(Day::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Day::parse("2026-01-01").unwrap().weekday(), 4, "a Thursday");
        assert_eq!(Day::parse("2026-11-26").unwrap().weekday(), 4);
        assert_eq!(Day::parse("2026-02-29"), None);
        assert_eq!(Day::parse("2026-1-01"), None);
        // 23:30 UTC on 31 Dec is 07:30 on 1 Jan in Beijing.
        assert_eq!(Day::of(Day::parse("2026-01-01").unwrap().start_ms() - 1).to_string(), "2025-12-31");
        assert_eq!(Day::of(ms("2026-01-01", 0)).to_string(), "2026-01-01");
    }

    #[test]
    fn an_ordinary_week_counts_weekdays_only() {
        let c = Calendar::default();
        // Friday 2026-11-20 10:00 + 2 working days: Monday 23rd and Tuesday 24th; due 24:00 Tuesday.
        assert_eq!(c.end_of_working_days(ms("2026-11-20", 10), 2), ms("2026-11-25", 0));
        // Received on a Saturday: Monday and Tuesday.
        assert_eq!(c.end_of_working_days(ms("2026-11-21", 22), 2), ms("2026-11-25", 0));
        assert_eq!(c.working_days_between(ms("2026-11-20", 10), ms("2026-11-27", 9)), 5);
        assert_eq!(c.working_days_between(ms("2026-11-27", 9), ms("2026-11-20", 10)), -5);
    }

    #[test]
    fn the_2026_calendar_skips_the_holidays_and_counts_the_make_up_days() {
        let c = Calendar::load(&[] as &[&str]).unwrap();
        // National Day: 1–7 October off; Saturday 10 October worked.
        assert!(!c.is_working_day(Day::parse("2026-10-05").unwrap()));
        assert!(c.is_working_day(Day::parse("2026-10-10").unwrap()));
        assert!(c.is_working_day(Day::parse("2026-09-20").unwrap()), "a Sunday worked before National Day");
        // Received Wednesday 30 September: the 2 working days are Thursday 8 and Friday 9 October.
        assert_eq!(c.end_of_working_days(ms("2026-09-30", 15), 2), ms("2026-10-10", 0));
        // Three working days from 30 September end on the make-up Saturday, 10 October.
        assert_eq!(c.end_of_working_days(ms("2026-09-30", 15), 3), ms("2026-10-11", 0));
        // Spring Festival: Friday 13 February + 1 working day is Saturday 14 (worked).
        assert_eq!(c.end_of_working_days(ms("2026-02-13", 9), 1), ms("2026-02-15", 0));
        // … + 2 is Tuesday 24 February, after the nine days off.
        assert_eq!(c.end_of_working_days(ms("2026-02-13", 9), 2), ms("2026-02-25", 0));
        assert_eq!(c.working_days_between(ms("2026-02-13", 9), ms("2026-02-28", 9)), 6, "14, 24, 25, 26, 27, 28");
        assert!(c.sources[0].contains("2026年部分节假日安排"));
    }

    #[test]
    fn an_admin_file_extends_the_calendar_and_a_bad_one_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("casegrid-cal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let extra = dir.join("2027.toml");
        std::fs::write(&extra, "source = \"local\"\nholidays = [\"2027-01-01\"]\nworking_weekends = []\n").unwrap();
        let c = Calendar::load(&[&extra]).unwrap();
        assert!(!c.is_working_day(Day::parse("2027-01-01").unwrap()));
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "source = \"x\"\nholidays = []\nworking_weekends = [\"2027-01-06\"]\n").unwrap();
        let e = Calendar::load(&[&bad]).unwrap_err().to_string();
        assert!(e.contains("bad.toml") && e.contains("is a weekday"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
