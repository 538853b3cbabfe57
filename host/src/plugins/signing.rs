//! Who may publish a domain's rules: a published plugin is the component plus an ed25519 signature
//! by its domain team's key, and an admin registers which keys speak for which domain.
//!
//! Threat: a component that did not come from the domain team (an outsider's upload, a component
//! altered on the way, a team's key used for another domain's rules). The signature covers the
//! domain, the version and the sha256 of the exact bytes, so each of those is refused with its own
//! error: unsigned, a signature that does not verify, a key nobody registered, a key of another
//! domain, and a component that is not the one that was signed.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a domain team's private key file holds (`casegrid plugin keygen`).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub format: String,
    pub domain: String,
    /// 32 bytes, hex.
    pub secret_key: String,
    pub public_key: String,
}

/// The public half, for the admin to register.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeyFile {
    pub format: String,
    pub domain: String,
    pub public_key: String,
    pub fingerprint: String,
}

pub const KEY_FORMAT: &str = "casegrid-publisher-key/v1";
pub const PUBLIC_KEY_FORMAT: &str = "casegrid-publisher-public-key/v1";
pub const SIGNATURE_FORMAT: &str = "casegrid-plugin-signature/v1";

/// A published plugin's signature document: the statement signed, the key and the signature.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SignatureDoc {
    pub format: String,
    pub domain: String,
    pub version: String,
    /// The component's sha256, hex.
    pub sha256: String,
    /// The signer's public key, hex.
    pub public_key: String,
    /// 64 bytes, hex.
    pub signature: String,
}

impl SignatureDoc {
    /// The bytes that are signed: every field a verifier relies on, in a fixed order, with the
    /// format first so a signature of this kind cannot be taken for one of another.
    pub fn statement(domain: &str, version: &str, sha256: &str) -> Vec<u8> {
        format!("{SIGNATURE_FORMAT}\ndomain={domain}\nversion={version}\nsha256={sha256}\n").into_bytes()
    }
}

/// Why a signature was refused; each has its own stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the plugin is not signed: publish it with its domain team's signature")]
    Unsigned,
    #[error("the signature is not valid: {0}")]
    BadSignature(String),
    #[error("the key {0} is not registered for any domain (or was revoked): an admin registers publisher keys")]
    UnknownKey(String),
    #[error("the key {fingerprint} is registered for {key_domain}, not for {domain}: signed for another domain")]
    WrongDomain { fingerprint: String, key_domain: String, domain: String },
    #[error("the component is not the one that was signed ({0})")]
    Tampered(String),
}

impl SignatureError {
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Unsigned => "unsigned",
            SignatureError::BadSignature(_) => "bad-signature",
            SignatureError::UnknownKey(_) => "unknown-key",
            SignatureError::WrongDomain { .. } => "wrong-domain",
            SignatureError::Tampered(_) => "tampered",
        }
    }
}

/// The first 16 hex digits of the key's sha256.
pub fn fingerprint(public_key: &[u8; 32]) -> String {
    hex::encode(Sha256::digest(public_key))[..16].to_string()
}

/// Parses a hex public key.
pub fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("a public key is 32 bytes in hex (64 digits)")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a point on the curve: not an ed25519 public key".to_string())
}

/// A new key pair for `domain`, from the operating system's randomness.
pub fn generate(domain: &str) -> (KeyFile, PublicKeyFile) {
    let key = SigningKey::from_bytes(&crate::auth::secrets::random_bytes::<32>());
    let public = key.verifying_key().to_bytes();
    (
        KeyFile {
            format: KEY_FORMAT.into(),
            domain: domain.into(),
            secret_key: hex::encode(key.to_bytes()),
            public_key: hex::encode(public),
        },
        PublicKeyFile {
            format: PUBLIC_KEY_FORMAT.into(),
            domain: domain.into(),
            public_key: hex::encode(public),
            fingerprint: fingerprint(&public),
        },
    )
}

/// Signs a component as `key`'s domain team.
pub fn sign(key: &KeyFile, domain: &str, version: &str, component: &[u8]) -> Result<SignatureDoc, String> {
    if key.format != KEY_FORMAT {
        return Err(format!("the key file's format is `{}`, expected {KEY_FORMAT}", key.format));
    }
    let secret: [u8; 32] = hex::decode(&key.secret_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the key file's secret_key is not 32 bytes in hex")?;
    let signing = SigningKey::from_bytes(&secret);
    if hex::encode(signing.verifying_key().to_bytes()) != key.public_key {
        return Err("the key file's public_key does not belong to its secret_key".into());
    }
    let sha256 = hex::encode(Sha256::digest(component));
    let sig: Signature = signing.sign(&SignatureDoc::statement(domain, version, &sha256));
    Ok(SignatureDoc {
        format: SIGNATURE_FORMAT.into(),
        domain: domain.into(),
        version: version.into(),
        sha256,
        public_key: key.public_key.clone(),
        signature: hex::encode(sig.to_bytes()),
    })
}

/// A registered key, as verification needs it.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub id: i64,
    pub domain: String,
    pub fingerprint: String,
}

/// Checks a signature document against the component it came with, the manifest's domain and
/// version, and the registered keys (`lookup` finds an active key by its hex). Returns the key
/// that signed.
pub fn verify(
    doc: Option<&SignatureDoc>,
    component_sha256: &str,
    domain: &str,
    version: &str,
    lookup: impl FnOnce(&str) -> Option<TrustedKey>,
) -> Result<TrustedKey, SignatureError> {
    let doc = doc.ok_or(SignatureError::Unsigned)?;
    if doc.format != SIGNATURE_FORMAT {
        return Err(SignatureError::BadSignature(format!("format `{}`, expected {SIGNATURE_FORMAT}", doc.format)));
    }
    let key = parse_public_key(&doc.public_key).map_err(SignatureError::BadSignature)?;
    let sig: [u8; 64] = hex::decode(&doc.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| SignatureError::BadSignature("a signature is 64 bytes in hex".into()))?;
    // Strict verification: no malleable or small-order-key signatures.
    key.verify_strict(&SignatureDoc::statement(&doc.domain, &doc.version, &doc.sha256), &Signature::from_bytes(&sig))
        .map_err(|_| SignatureError::BadSignature("it does not verify with the key it names".into()))?;
    let fp = fingerprint(key.as_bytes());
    let trusted = lookup(&hex::encode(key.as_bytes())).ok_or_else(|| SignatureError::UnknownKey(fp.clone()))?;
    if trusted.domain != domain || doc.domain != domain {
        return Err(SignatureError::WrongDomain {
            fingerprint: fp,
            key_domain: trusted.domain.clone(),
            domain: domain.to_string(),
        });
    }
    if doc.sha256 != component_sha256 {
        return Err(SignatureError::Tampered(format!(
            "signed sha256 {}…, received {}…",
            &doc.sha256.get(..12).unwrap_or(&doc.sha256),
            &component_sha256[..12]
        )));
    }
    if doc.version != version {
        return Err(SignatureError::Tampered(format!("signed as version {}, the component is {version}", doc.version)));
    }
    Ok(trusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(domain: &str) -> impl FnOnce(&str) -> Option<TrustedKey> + '_ {
        move |_| Some(TrustedKey { id: 1, domain: domain.into(), fingerprint: "f".into() })
    }

    #[test]
    fn a_signature_verifies_only_for_its_domain_version_and_bytes() {
        let (key, public) = generate("housing");
        assert_eq!(public.fingerprint.len(), 16);
        let component = b"\0asm component bytes";
        let sha = hex::encode(Sha256::digest(component));
        let doc = sign(&key, "housing", "1.2.0", component).unwrap();
        assert!(verify(Some(&doc), &sha, "housing", "1.2.0", trusted("housing")).is_ok());
        let code = |r: Result<TrustedKey, SignatureError>| r.unwrap_err().code();
        assert_eq!(code(verify(None, &sha, "housing", "1.2.0", trusted("housing"))), "unsigned");
        assert_eq!(code(verify(Some(&doc), &"0".repeat(64), "housing", "1.2.0", trusted("housing"))), "tampered");
        assert_eq!(code(verify(Some(&doc), &sha, "housing", "1.3.0", trusted("housing"))), "tampered");
        assert_eq!(code(verify(Some(&doc), &sha, "transport", "1.2.0", trusted("housing"))), "wrong-domain");
        assert_eq!(code(verify(Some(&doc), &sha, "housing", "1.2.0", trusted("transport"))), "wrong-domain");
        assert_eq!(code(verify(Some(&doc), &sha, "housing", "1.2.0", |_| None)), "unknown-key");
        // An edited statement no longer matches its signature.
        let mut edited = doc.clone();
        edited.sha256 = "0".repeat(64);
        assert_eq!(
            code(verify(Some(&edited), &"0".repeat(64), "housing", "1.2.0", trusted("housing"))),
            "bad-signature"
        );
        // Another team's key claiming to have signed.
        let (other, _) = generate("housing");
        let mut forged = doc.clone();
        forged.public_key = other.public_key;
        assert_eq!(code(verify(Some(&forged), &sha, "housing", "1.2.0", trusted("housing"))), "bad-signature");
    }

    #[test]
    fn a_key_file_whose_halves_disagree_signs_nothing() {
        let (mut key, _) = generate("housing");
        key.public_key = generate("housing").0.public_key;
        assert!(sign(&key, "housing", "1.0.0", b"x").is_err());
    }
}
