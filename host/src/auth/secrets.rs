//! Passwords, session identifiers and tokens. Passwords are hashed with argon2id; session ids and
//! API tokens carry 256 random bits, so a plain SHA-256 of them is what the database keeps (a copy
//! of the database lets nobody in).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::LazyLock;

/// A secret that never prints: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // An OS without a random source cannot run this service safely at all.
    getrandom::fill(&mut b).expect("the operating system's random source");
    b
}

/// 256 random bits, URL-safe base64, with a prefix naming what it is (`cgs_` a session,
/// `cgt_` an API token, `cgk_` an Open311 key), so a leaked one is recognised by secret scanners.
pub fn new_token(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A one-time password for a new account: 16 characters from an alphabet without look-alikes
/// (about 88 bits).
pub fn one_time_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    random_bytes::<16>().iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// The rules a new password must meet; `Err` names the rule.
pub fn check_password_strength(password: &str, login: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < 10 {
        return Err("must have at least 10 characters");
    }
    if n > 128 {
        return Err("must have at most 128 characters");
    }
    if password.to_lowercase().contains(&login.to_lowercase()) && !login.is_empty() {
        return Err("must not contain the login");
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|c| **c).count() < 2 && n < 16 {
        return Err("must mix letters with digits or symbols, or have at least 16 characters");
    }
    Ok(())
}

/// argon2id with the crate's defaults (OWASP's minimum: 19 MiB, 2 passes). CPU-bound: call it
/// from a blocking thread.
pub fn hash_password(password: &str) -> String {
    Argon2::default().hash_password(password.as_bytes()).expect("argon2 with a random salt").to_string()
}

/// Verifies against a stored PHC string. An account without a hash (or an unknown login) is
/// verified against a fixed dummy hash, so the answer takes as long either way and timing does
/// not tell which logins exist.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: LazyLock<String> = LazyLock::new(|| hash_password("not a password of anyone"));
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (DUMMY.as_str(), false),
    };
    let ok = match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    };
    ok && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_and_a_wrong_one_does_not() {
        let h = hash_password("Correct horse 9");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("Correct horse 9", Some(&h)));
        assert!(!verify_password("correct horse 9", Some(&h)));
        assert!(!verify_password("Correct horse 9", None));
    }

    #[test]
    fn tokens_are_long_distinct_and_prefixed() {
        let (a, b) = (new_token("cgt_"), new_token("cgt_"));
        assert_ne!(a, b);
        assert!(a.starts_with("cgt_") && a.len() == 4 + 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_eq!(format!("{:?}", Secret::new("x")), "***");
    }

    #[test]
    fn weak_passwords_are_refused_with_the_rule() {
        assert!(check_password_strength("short1", "a").is_err());
        assert!(check_password_strength("zhangwei2026!", "zhangwei").is_err());
        assert!(check_password_strength("abcdefghijk", "x").is_err());
        assert!(check_password_strength("abcdefghij1", "x").is_ok());
        assert!(check_password_strength("a very long passphrase", "x").is_ok());
    }
}
