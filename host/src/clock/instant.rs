//! Instants: Unix milliseconds, the one time type of the host; written as RFC 3339 in UTC for the
//! API and as ISO 8601 in Beijing time for people and Open311; today's date in Beijing time.

/// Milliseconds since the Unix epoch: the host's only reading of the wall clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Unix milliseconds as RFC 3339 in UTC (`2026-11-26T19:05:03.120Z`).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let date = super::Day(days);
    format!("{date}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, ms.rem_euclid(1000))
}

/// ISO 8601 with the zone, in Beijing time (`2026-11-26T09:30:00+08:00`).
pub fn iso_cst(ms: i64) -> String {
    let s = rfc3339(ms + 8 * 3_600_000);
    format!("{}+08:00", &s[..19])
}

/// Today's date in China Standard Time (UTC+8), `YYYY-MM-DD`: the date certificates and
/// deadlines are read in.
pub fn today_cst() -> String {
    rfc3339(now_ms() + 8 * 3_600_000)[..10].to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
        assert_eq!(super::rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn beijing_time_is_eight_hours_ahead() {
        assert_eq!(super::iso_cst(0), "1970-01-01T08:00:00+08:00");
    }
}
