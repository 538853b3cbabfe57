//! Money as the contract carries it: whole fen (分, 1/100 yuan) in an `i64`, never a float; shown to
//! people as yuan.

/// Fen in a number of whole yuan.
pub const fn fen_of_yuan(yuan: i64) -> i64 {
    yuan * 100
}

/// "¥100,000.00": yuan with thousands grouped and two decimals.
pub fn yuan(fen: i64) -> String {
    let whole = (fen / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("¥{grouped}.{:02}", (fen % 100).abs())
}

/// A fine band for people: "¥50,000.00–¥100,000.00", or "no fine".
pub fn band(r: Option<(i64, i64)>) -> String {
    match r {
        None => "no fine".into(),
        Some((a, b)) => format!("{}–{}", yuan(a), yuan(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_like_money() {
        assert_eq!(yuan(10_000_000), "¥100,000.00");
        assert_eq!(yuan(5), "¥0.05");
        assert_eq!(yuan(100_000), "¥1,000.00");
        assert_eq!(fen_of_yuan(200), 20_000);
        assert_eq!(band(Some((5_000_000, 10_000_000))), "¥50,000.00–¥100,000.00");
        assert_eq!(band(None), "no fine");
    }
}
