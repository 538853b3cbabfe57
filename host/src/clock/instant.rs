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

/// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`) into (Unix ms, offset minutes).
pub fn parse_rfc3339(s: &str) -> Option<(i64, i16)> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let day = super::Day::parse(s.get(..10)?)?;
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        ms = format!("{:0<3}", &frac[..frac.len().min(3)]).parse::<i64>().ok()?;
    }
    let offset_min: i64 = match s.get(i..)? {
        "Z" | "z" => 0,
        // ASCII only: slicing by byte below must never cut a character.
        tz if tz.len() == 6 && tz.is_ascii() && (tz.starts_with('+') || tz.starts_with('-')) && &tz[3..4] == ":" => {
            let (oh, om): (i64, i64) = (tz[1..3].parse().ok()?, tz[4..6].parse().ok()?);
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if tz.starts_with('-') { -m } else { m }
        }
        _ => return None,
    };
    // The date is read as a calendar date, not in CST: undo Day's +8 h.
    let utc_midnight = day.0 * 86_400_000;
    Some((utc_midnight + ((h * 60 + mi) * 60 + sec) * 1000 + ms - offset_min * 60_000, offset_min as i16))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_times_are_read_with_their_offset() {
        let (ms, off) = super::parse_rfc3339("2026-11-26T09:30:00+08:00").unwrap();
        assert_eq!((super::rfc3339(ms), off), ("2026-11-26T01:30:00.000Z".to_string(), 480));
        assert_eq!(super::parse_rfc3339("2026-11-26T01:30:00.5Z").unwrap().0 - ms, 500);
        for bad in [
            "2026-11-26T09:30:00+0é00",
            "2026-11-26T09:30:00.é1Z",
            "２０２６-11-26T09:30:00Z",
            "2026-11-26",
            "2026-11-26T25:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-26T09:30:00+8",
            "yesterday",
        ] {
            assert_eq!(super::parse_rfc3339(bad), None, "{bad}");
        }
    }
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
