//! The call's reference time. Inside the sandbox the host fixes the WASI clock to the time the call
//! is about (when a report was received, the date of a decision), so "today" replays exactly.

use crate::bindings::exports::casegrid::domain::types::{Date, Datetime};
use crate::data::Ymd;

/// Dates are civil dates in China Standard Time (UTC+8, no daylight saving).
const CST_OFFSET_SECONDS: i64 = 8 * 3600;

/// Seconds since the Unix epoch of the call's reference time.
pub fn reference_seconds() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// The reference date in China Standard Time.
pub fn today() -> Date {
    date_of(reference_seconds().saturating_add(CST_OFFSET_SECONDS))
}

/// The civil date of a datetime, in the offset it was given in.
pub fn date_of_datetime(dt: &Datetime) -> Date {
    date_of(dt.seconds.saturating_add(i64::from(dt.offset_minutes) * 60))
}

/// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm, proleptic Gregorian).
fn date_of(seconds: i64) -> Date {
    let z = seconds.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    Date { year, month, day }
}

pub fn ymd(d: &Date) -> Ymd {
    Ymd { year: d.year, month: d.month, day: d.day }
}

/// Whether `d` is a real calendar date.
pub fn is_valid(d: &Date) -> bool {
    let leap = (d.year % 4 == 0 && d.year % 100 != 0) || d.year % 400 == 0;
    let days = match d.month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d.day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(date_of(0), Date { year: 1970, month: 1, day: 1 });
        // 2026-11-26T00:00:00Z
        assert_eq!(date_of(1_795_651_200), Date { year: 2026, month: 11, day: 26 });
        assert_eq!(date_of(951_782_400), Date { year: 2000, month: 2, day: 29 });
        assert_eq!(date_of(-86_400), Date { year: 1969, month: 12, day: 31 });
    }

    #[test]
    fn validity() {
        assert!(is_valid(&Date { year: 2024, month: 2, day: 29 }));
        assert!(!is_valid(&Date { year: 2026, month: 2, day: 29 }));
        assert!(!is_valid(&Date { year: 2026, month: 13, day: 1 }));
    }
}
