//! The record's key, which is never in the database: `record.key` in the data directory (made on a
//! first start, mode 0600) or, for several hosts on one PostgreSQL database, a configured secret
//! (`[record] key`, `CASEGRID_RECORD__KEY`). It MACs every entry and the head (HMAC-SHA256), and
//! each host's checkpoint file, `record.checkpoint`, the last head this host saw, which shows a
//! record cut back to an older head.

use crate::auth::secrets::Secret;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2_mac::Sha256;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `[record]` in the settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordSettings {
    /// The key as a secret of at least 32 characters, the same on every host; without it,
    /// `record.key` in the data directory.
    pub key: Option<Secret>,
    /// How often each host writes its checkpoint of the record's head (at least 50).
    pub checkpoint_millis: u64,
}

impl Default for RecordSettings {
    fn default() -> Self {
        RecordSettings { key: None, checkpoint_millis: 1000 }
    }
}

pub const KEY_FILE: &str = "record.key";
pub const CHECKPOINT_FILE: &str = "record.checkpoint";

/// HMAC-SHA256 key bytes, and a short id of them that the head keeps (the id is a MAC itself:
/// it tells which key wrote the record, not the key).
#[derive(Clone)]
pub struct Key {
    bytes: [u8; 32],
    pub id: String,
    /// Where it came from, for messages.
    pub source: String,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({}, {})", self.id, self.source)
    }
}

impl Key {
    fn new(bytes: [u8; 32], source: String) -> Key {
        let mut k = Key { bytes, id: String::new(), source };
        k.id = k.mac(&[b"key-id"])[..16].to_string();
        k
    }

    /// The configured secret, else the key file; `create`: make the file when there is none (a
    /// server's first start), else none.
    pub fn load(settings: &RecordSettings, data: &Path, create: bool) -> anyhow::Result<Option<Key>> {
        if let Some(s) = &settings.key {
            let s = s.expose();
            if s.chars().count() < 32 {
                anyhow::bail!(
                    "[record] key is too short: at least 32 characters (a random one, the same on every host)"
                );
            }
            let bytes = <sha2_mac::Sha256 as sha2_mac::Digest>::digest(s.as_bytes()).into();
            return Ok(Some(Key::new(bytes, "[record] key".into())));
        }
        Self::from_file(&data.join(KEY_FILE), create)
    }

    fn from_file(path: &Path, create: bool) -> anyhow::Result<Option<Key>> {
        let shown = path.display();
        if !path.exists() {
            if !create {
                return Ok(None);
            }
            make_key_file(path).map_err(|e| anyhow::anyhow!("cannot create the record's key {shown}: {e}"))?;
            tracing::info!(file = %shown, "made the record's key: keep a copy apart from the database's backups");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                anyhow::bail!(
                    "the record's key {shown} has mode {mode:04o}: only its owner may read it (chmod 600 {shown})"
                );
            }
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read the record's key {shown}: {e}"))?;
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| anyhow::anyhow!("the record's key {shown} is not 64 hexadecimal digits"))?;
        Ok(Some(Key::new(bytes, shown.to_string())))
    }

    fn hmac(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.bytes).expect("HMAC takes a key of any length");
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m
    }

    /// The MAC of the parts, length-prefixed; the first part names what is MACed.
    pub fn mac(&self, parts: &[&[u8]]) -> String {
        hex::encode(self.hmac(parts).finalize().into_bytes())
    }

    /// Whether `mac` is the parts' MAC, compared in constant time.
    pub fn check(&self, parts: &[&[u8]], mac: Option<&str>) -> bool {
        match mac.and_then(|m| hex::decode(m).ok()) {
            Some(tag) => self.hmac(parts).verify_slice(&tag).is_ok(),
            None => false,
        }
    }

    pub fn entry_mac(&self, hash: &str) -> String {
        self.mac(&[b"entry", hash.as_bytes()])
    }

    pub fn check_entry(&self, hash: &str, mac: Option<&str>) -> bool {
        self.check(&[b"entry", hash.as_bytes()], mac)
    }

    pub fn head_mac(&self, seq: i64, hash: &str, keyed_from: i64) -> String {
        self.mac(&[b"head", &seq.to_be_bytes(), hash.as_bytes(), &keyed_from.to_be_bytes()])
    }

    pub fn check_head(&self, seq: i64, hash: &str, keyed_from: i64, mac: Option<&str>) -> bool {
        self.check(&[b"head", &seq.to_be_bytes(), hash.as_bytes(), &keyed_from.to_be_bytes()], mac)
    }
}

/// The last head a host saw, kept in its data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    /// When it was written (Unix ms).
    pub at: i64,
    pub mac: String,
}

impl Checkpoint {
    fn parts(seq: i64, hash: &str, at: i64) -> [Vec<u8>; 4] {
        [b"checkpoint".to_vec(), seq.to_be_bytes().to_vec(), hash.as_bytes().to_vec(), at.to_be_bytes().to_vec()]
    }

    pub fn new(key: &Key, seq: i64, hash: &str, at: i64) -> Checkpoint {
        let p = Self::parts(seq, hash, at);
        let refs: Vec<&[u8]> = p.iter().map(Vec::as_slice).collect();
        Checkpoint { seq, hash: hash.to_string(), at, mac: key.mac(&refs) }
    }

    /// The file's checkpoint; none without a file; an error when the file is not one this key wrote.
    pub fn read(path: &Path, key: &Key) -> anyhow::Result<Option<Checkpoint>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        };
        let cp: Checkpoint = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not a checkpoint of the record: {e}", path.display()))?;
        let p = Self::parts(cp.seq, &cp.hash, cp.at);
        let refs: Vec<&[u8]> = p.iter().map(Vec::as_slice).collect();
        if !key.check(&refs, Some(&cp.mac)) {
            anyhow::bail!("{} was not written with the record's key ({})", path.display(), key.source);
        }
        Ok(Some(cp))
    }

    /// Replaces the file whole (a new file renamed over the old one), synced.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("checkpoint.new");
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o.open(&tmp)?;
        f.write_all(serde_json::to_string(self).unwrap_or_default().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    }
}

pub fn checkpoint_path(data: &Path) -> PathBuf {
    data.join(CHECKPOINT_FILE)
}

/// Writes a new random key at `path`, whole or not at all: into a temporary file of mode 0600 in
/// the same directory, synced, then linked into place (never over a file already there: a host
/// starting at the same moment keeps the key it made, and this one reads it), and the directory
/// synced so that the key outlives a power cut as the database's head keyed with it does.
fn make_key_file(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{KEY_FILE}.{}.tmp", hex::encode(crate::auth::secrets::random_bytes::<8>())));
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let written = o.open(&tmp).and_then(|mut f| {
        f.write_all(format!("{}\n", hex::encode(crate::auth::secrets::random_bytes::<32>())).as_bytes())?;
        f.sync_all()
    });
    let linked = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    });
    let _ = std::fs::remove_file(&tmp);
    linked?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir()
            .join(format!("cg-key-{tag}-{}", hex::encode(crate::auth::secrets::random_bytes::<6>())));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn hosts_starting_at_once_make_one_key_and_leave_no_partial_file() {
        let d = dir("race");
        let s = RecordSettings::default();
        let ids: Vec<String> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..8).map(|_| scope.spawn(|| Key::load(&s, &d, true).unwrap().unwrap().id)).collect();
            starts.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from(KEY_FILE)]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_first_start_makes_the_key_file_owner_only_and_a_later_one_reads_it_back() {
        let d = dir("make");
        let s = RecordSettings::default();
        assert!(Key::load(&s, &d, false).unwrap().is_none(), "verification never makes a key");
        let k = Key::load(&s, &d, true).unwrap().unwrap();
        let again = Key::load(&s, &d, false).unwrap().unwrap();
        assert_eq!(k.id, again.id);
        assert_eq!(k.entry_mac("h"), again.entry_mac("h"));
        assert_ne!(k.entry_mac("h"), k.entry_mac("i"));
        assert!(k.check(&[b"entry", b"h"], Some(&k.entry_mac("h"))));
        assert!(!k.check(&[b"entry", b"h"], Some(&k.entry_mac("i"))));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let f = d.join(KEY_FILE);
            assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = Key::load(&s, &d, true).unwrap_err().to_string();
            assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_configured_secret_is_the_same_key_on_every_host_and_must_be_long() {
        let s = |k: &str| RecordSettings { key: Some(Secret::new(k)), ..Default::default() };
        let (a, b) = (dir("a"), dir("b"));
        let long = "k3y-of-the-bureau-record-0123456789abcdef";
        assert_eq!(
            Key::load(&s(long), &a, true).unwrap().unwrap().id,
            Key::load(&s(long), &b, true).unwrap().unwrap().id
        );
        assert!(!a.join(KEY_FILE).exists(), "no key file beside a configured secret");
        assert!(Key::load(&s("short"), &a, true).unwrap_err().to_string().contains("at least 32 characters"));
        std::fs::remove_dir_all(&a).unwrap();
        std::fs::remove_dir_all(&b).unwrap();
    }

    #[test]
    fn a_checkpoint_reads_back_only_under_its_key() {
        let d = dir("cp");
        let k = Key::load(&RecordSettings::default(), &d, true).unwrap().unwrap();
        let p = checkpoint_path(&d);
        assert_eq!(Checkpoint::read(&p, &k).unwrap(), None);
        let cp = Checkpoint::new(&k, 7, "abc", 1_000);
        cp.write(&p).unwrap();
        assert_eq!(Checkpoint::read(&p, &k).unwrap(), Some(cp.clone()));
        let forged = Checkpoint { seq: 3, ..cp };
        std::fs::write(&p, serde_json::to_string(&forged).unwrap()).unwrap();
        assert!(Checkpoint::read(&p, &k).unwrap_err().to_string().contains("not written with the record's key"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
