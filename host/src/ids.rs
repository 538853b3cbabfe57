//! Identifiers and validators of the bureau's vocabulary: e-mail, mainland mobile numbers… Shared
//! by sign-in and registration, the accounts admins create and the contacts citizens leave on a
//! report, so that all of them accept the same forms.

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
}
