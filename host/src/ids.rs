//! Identifiers and validators of the bureau's vocabulary: e-mail, mainland mobile numbers, citizen
//! identity numbers (GB 11643) and unified social credit codes (GB 32100). Shared by sign-in and
//! registration, the accounts admins create, the contacts citizens leave on a report and the
//! parties of a case, so that all of them accept the same forms.

/// A mainland China mobile number: 11 digits, `1[3-9]…`.
pub fn is_mobile(s: &str) -> bool {
    s.len() == 11
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.starts_with('1')
        && (b'3'..=b'9').contains(&s.as_bytes()[1])
}

/// An e-mail address, as far as a form can tell: something before one `@`, a dotted domain after
/// it, no white space, at most 254 characters. Whether it receives mail only sending tells.
pub fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
                && s.len() <= 254
        }
        None => false,
    }
}

/// GB 11643 (citizen identity number) and GB 32100 (unified social credit code) check characters.
pub fn id_number_valid(s: &str) -> bool {
    let b: Vec<char> = s.trim().to_uppercase().chars().collect();
    if b.len() != 18 {
        return false;
    }
    if b[..17].iter().all(char::is_ascii_digit) && (b[17].is_ascii_digit() || b[17] == 'X') {
        const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        let sum: u32 = b[..17].iter().zip(W).map(|(c, w)| c.to_digit(10).unwrap_or(0) * w).sum();
        let check = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'][(sum % 11) as usize];
        if b[17] == check {
            return true;
        }
    }
    const CHARS: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    const W2: [usize; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
    let vals: Option<Vec<usize>> = b.iter().map(|c| CHARS.find(*c)).collect();
    match vals {
        Some(v) => {
            let sum: usize = v[..17].iter().zip(W2).map(|(a, w)| a * w).sum();
            (31 - sum % 31) % 31 == v[17]
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_numbers_are_eleven_digits_of_a_mainland_prefix() {
        let cases = [
            ("13800138000", true),
            ("19912345678", true),
            ("1380013800", false),   // 10 digits
            ("138001380001", false), // 12 digits
            ("12800138000", false),  // second digit below 3
            ("10800138000", false),
            ("23800138000", false), // not a 1
            ("1380013800a", false),
            ("+8613800138", false),
            ("", false),
        ];
        for (s, want) in cases {
            assert_eq!(is_mobile(s), want, "{s:?}");
        }
    }

    #[test]
    fn e_mail_addresses_need_a_local_part_and_a_dotted_domain() {
        let longest = format!("{}@example.cn", "a".repeat(254 - "@example.cn".len()));
        let too_long = format!("a{longest}");
        let cases = [
            ("wang@example.cn", true),
            ("a@b.c", true),
            (longest.as_str(), true),
            (too_long.as_str(), false), // 255 characters
            ("@example.cn", false),
            ("wang@localhost", false),
            ("wang@.example.cn", false),
            ("wang@example.cn.", false),
            ("wang @example.cn", false),
            ("wang.example.cn", false),
            ("", false),
        ];
        for (s, want) in cases {
            assert_eq!(is_email(s), want, "{s:?}");
        }
    }

    #[test]
    fn identity_numbers_and_credit_codes_carry_their_check_characters() {
        // GB 11643: the 18th character is the check of the first 17; GB 32100 likewise, mod 31.
        for (s, ok) in [
            ("450502198001011239", true),
            ("450502198001011238", false),
            ("914403001922038216", true),
            ("914403001922038215", false),
            ("45050219800101123", false),
            ("45050219800101123X9", false),
        ] {
            assert_eq!(id_number_valid(s), ok, "{s}");
        }
    }
}
