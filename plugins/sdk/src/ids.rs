//! Check digits of Chinese party identifiers, so a mistyped number is caught on the form and not on
//! a penalty decision served to the wrong party.

/// Citizen identity number (公民身份号码), GB 11643-1999: 17 digits and an ISO 7064 MOD 11-2 check.
pub fn resident_id_valid(id: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17].iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    CHECK[(sum % 11) as usize] == b[17]
}

/// Unified social credit code (统一社会信用代码), GB 32100-2015: 18 characters over a 31-symbol
/// alphabet (no I, O, S, V, Z) with a MOD 31 check character.
pub fn credit_code_valid(code: &str) -> bool {
    const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
    let b = code.as_bytes();
    if b.len() != 18 {
        return false;
    }
    let mut sum = 0;
    for (c, w) in b[..17].iter().zip(WEIGHTS) {
        match ALPHABET.iter().position(|a| a == c) {
            Some(v) => sum += v as u32 * w,
            None => return false,
        }
    }
    let check = (31 - sum % 31) % 31;
    ALPHABET[check as usize] == b[17]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_ids() {
        // The example number of GB 11643-1999.
        assert!(resident_id_valid("11010519491231002X"));
        assert!(!resident_id_valid("110105194912310021"));
        assert!(!resident_id_valid("11010519491231002"));
    }

    #[test]
    fn credit_codes() {
        // Published codes of registered companies.
        assert!(credit_code_valid("914403001922038216"));
        assert!(credit_code_valid("91110000600037341L"));
        assert!(!credit_code_valid("914403001922038217"));
        assert!(!credit_code_valid("91440300192203821I"));
    }
}
