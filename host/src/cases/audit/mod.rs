//! The full-process record (全过程记录, APL art. 47): every action on every case, appended in the
//! transaction of the action, hash-chained and keyed. Each entry's hash covers its sequence number,
//! its contents, the state of its case after the action ([`state`]) and the previous entry's hash;
//! its MAC under the record's key ([`key`]), which is not in the database, covers the hash. The head
//! row names the last entry and carries its own MAC. The table refuses UPDATE and DELETE (a
//! trigger); [`verify`] shows what someone with the database's own rights did anyway, and without
//! the key they cannot make an entry, a head or a checkpoint that verifies.

pub mod key;
pub mod state;
pub mod verify;

pub use key::{Checkpoint, Key, RecordSettings};
pub use verify::{Problem, Report, verify};

use crate::auth::store::{Actor, Conn};
use crate::store::{Db, Lock, StoreError, now_ms};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::path::PathBuf;
use std::sync::Mutex;

/// The hash of the chain before its first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry's hash: every field, length-prefixed so that no two entries can run together. An
/// entry written before the record was keyed has no state, and its hash is as it was then.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    prev: &str,
    seq: i64,
    case_id: i64,
    at: i64,
    actor_id: Option<i64>,
    actor: &str,
    source: &str,
    action: &str,
    detail: &str,
    state: Option<&str>,
) -> String {
    let mut h = Sha256::new();
    let actor_id = actor_id.map(|i| i.to_string()).unwrap_or_default();
    let (seq, case_id, at) = (seq.to_string(), case_id.to_string(), at.to_string());
    let fields = [prev, &seq, &case_id, &at, &actor_id, actor, source, action, detail];
    for part in fields.into_iter().chain(state) {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The head row: the last entry, and since when and with which key the record is keyed.
#[derive(Debug, Clone)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
    pub key_id: Option<String>,
    pub keyed_from: Option<i64>,
    pub keyed_at: Option<i64>,
    pub mac: Option<String>,
}

impl Head {
    pub async fn read(c: &mut Conn) -> Result<Head, StoreError> {
        let r = sqlx::query("SELECT seq, hash, key_id, keyed_from, keyed_at, mac FROM case_log_head WHERE id = 1")
            .fetch_one(&mut *c)
            .await?;
        Ok(Head {
            seq: r.get(0),
            hash: r.get(1),
            key_id: r.get(2),
            keyed_from: r.get(3),
            keyed_at: r.get(4),
            mac: r.get(5),
        })
    }

    /// Whether this key wrote the head as it is.
    pub fn sealed_by(&self, key: &Key) -> bool {
        self.key_id.as_deref() == Some(key.id.as_str())
            && self.keyed_from.is_some_and(|from| key.check_head(self.seq, &self.hash, from, self.mac.as_deref()))
    }
}

/// The record as a server writes it: the database, the key, and this host's checkpoint.
#[derive(Debug)]
pub struct Record {
    db: Db,
    key: Key,
    checkpoint_file: PathBuf,
    checkpoint: Mutex<Option<Checkpoint>>,
    every: std::time::Duration,
    /// The first entry written under the key.
    keyed_from: i64,
}

/// Why a head that says the record was never keyed cannot be believed: this host's checkpoint saw
/// it keyed, or an entry carries a MAC or a sealed case state (a record written before the key has
/// neither). Without this, a database writer could clear the head's key and rewrite every entry
/// with plain hashes.
pub(crate) async fn keyed_before(c: &mut Conn, checkpoint: Option<&Checkpoint>) -> Result<Option<String>, StoreError> {
    if let Some(cp) = checkpoint {
        return Ok(Some(format!(
            "this host's checkpoint of {} saw it keyed at entry {}",
            crate::clock::rfc3339(cp.at),
            cp.seq
        )));
    }
    let first: Option<i64> = sqlx::query("SELECT MIN(seq) FROM case_log WHERE mac IS NOT NULL OR state IS NOT NULL")
        .fetch_one(&mut *c)
        .await?
        .get(0);
    Ok(first.map(|seq| format!("entry {seq} carries a MAC or a sealed case state")))
}

impl Record {
    /// At a server's start: the key (made on a first start), the head keyed with it (a record
    /// written before the key is sealed where it stands), and this host's checkpoint.
    pub async fn open(db: &Db, settings: &RecordSettings, data: &std::path::Path) -> anyhow::Result<Record> {
        let key = Key::load(settings, data, true)?.expect("a key is made when there is none");
        let checkpoint_file = key::checkpoint_path(data);
        let checkpoint = Checkpoint::read(&checkpoint_file, &key)?;
        let mut tx = db.write().await?;
        db.serialise(&mut tx, Lock::AuditChain).await?;
        let head = Head::read(&mut tx).await?;
        let keyed_from = match head.key_id.as_deref() {
            None => {
                if let Some(why) = keyed_before(&mut tx, checkpoint.as_ref()).await? {
                    anyhow::bail!(
                        "the case record's head says it was never keyed, but {why}: the head's key was removed \
                         from the database. Run `casegrid audit verify` and restore the database from a backup"
                    );
                }
                let (from, at) = (head.seq + 1, now_ms());
                sqlx::query(
                    "UPDATE case_log_head SET key_id = $1, keyed_from = $2, keyed_at = $3, mac = $4 WHERE id = 1",
                )
                .bind(&key.id)
                .bind(from)
                .bind(at)
                .bind(key.head_mac(head.seq, &head.hash, from))
                .execute(&mut *tx)
                .await?;
                tracing::info!(key = %key.id, keyed_from = from, "the record is keyed from this entry on");
                from
            }
            Some(id) if id != key.id => anyhow::bail!(
                "the case record is keyed with key {id}, and this server's key ({}) is {}: every host must use the                  same key — copy the first host's {} here with mode 0600, or set the same [record] key on every host",
                key.source,
                key.id,
                key::KEY_FILE
            ),
            Some(_) => head.keyed_from.unwrap_or(1),
        };
        tx.commit().await?;
        let every = std::time::Duration::from_millis(settings.checkpoint_millis.max(50));
        Ok(Record { db: db.clone(), key, checkpoint_file, checkpoint: Mutex::new(checkpoint), every, keyed_from })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn key(&self) -> &Key {
        &self.key
    }

    /// This host's last checkpoint.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        self.checkpoint.lock().map(|c| c.clone()).unwrap_or(None)
    }

    /// Moves this host's checkpoint to the head, if the head is one this key wrote and the entry
    /// the checkpoint names is still there as it was; what it found otherwise, in words.
    pub async fn check_point(&self) -> Result<Option<String>, StoreError> {
        let mut c = self.db.pool().acquire().await?;
        let head = Head::read(&mut c).await?;
        if !head.sealed_by(&self.key) {
            return Ok(Some(format!(
                "the record's head (entry {}) is not as a server with this key wrote it",
                head.seq
            )));
        }
        let last = self.checkpoint();
        if let Some(cp) = &last {
            if head.seq == cp.seq && head.hash == cp.hash {
                return Ok(None);
            }
            if head.seq < cp.seq {
                return Ok(Some(format!("the record ends at entry {}, and this host saw entry {}", head.seq, cp.seq)));
            }
            let then: Option<String> = sqlx::query("SELECT hash FROM case_log WHERE seq = $1")
                .bind(cp.seq)
                .fetch_optional(&mut *c)
                .await?
                .map(|r| r.get(0));
            if cp.seq > 0 && then.as_deref() != Some(cp.hash.as_str()) {
                return Ok(Some(format!("entry {} is not the one this host saw", cp.seq)));
            }
        }
        drop(c);
        let cp = Checkpoint::new(&self.key, head.seq, &head.hash, now_ms());
        if let Err(e) = cp.write(&self.checkpoint_file) {
            return Ok(Some(format!("cannot write {}: {e}", self.checkpoint_file.display())));
        }
        if let Ok(mut c) = self.checkpoint.lock() {
            *c = Some(cp);
        }
        Ok(None)
    }

    /// The checkpoint kept up to date, until the task is dropped. A problem is logged once, when
    /// it is first seen.
    pub async fn keep_checkpoints(self: std::sync::Arc<Self>) {
        let mut every = tokio::time::interval(self.every);
        let mut said: Option<String> = None;
        loop {
            every.tick().await;
            match self.check_point().await {
                Ok(None) => said = None,
                Ok(Some(problem)) => {
                    if said.as_deref() != Some(problem.as_str()) {
                        tracing::error!(%problem, "the case record's checkpoint is not moved: run `casegrid audit verify`");
                    }
                    said = Some(problem);
                }
                Err(e) => tracing::warn!(error = %e, "reading the case record's head failed"),
            }
        }
    }
}

/// Before an action changes a case, in its transaction: the case's rows must be as its last entry
/// recorded them, or the action would record an edit made outside the procedure as its own. What
/// differs, in words, if anything.
pub async fn tampered(record: &Record, tx: &mut Conn, case_id: i64) -> Result<Option<String>, StoreError> {
    let head = Head::read(tx).await?;
    if !head.sealed_by(&record.key) {
        return Ok(Some(format!(
            "the record's head (entry {}) is not as a server with this key wrote it: nothing more is appended until an \
             administrator has run `casegrid audit verify` and the cause is found",
            head.seq
        )));
    }
    let compared = verify::compare_case(tx, Some(&record.key), record.keyed_from, case_id).await?;
    Ok(compared.problem().map(|(_, _, what)| {
        format!(
            "case {case_id}: {what}; no action is taken on it until an administrator has run `casegrid audit verify` \
             and the cause is found"
        )
    }))
}

/// [`tampered`] as the refusal of an action.
pub async fn unchanged(record: &Record, tx: &mut Conn, case_id: i64) -> Result<(), crate::api_error::ApiError> {
    match tampered(record, tx, case_id).await? {
        None => Ok(()),
        Some(what) => {
            tracing::error!(case_id, problem = %what, "a case's rows are not as its record holds");
            Err(crate::api_error::ApiError::new(axum::http::StatusCode::CONFLICT, "record-mismatch", what))
        }
    }
}

/// Appends an entry in the caller's transaction, with the state its case is in now (everything
/// the action changed is written before); its sequence number. A head this key did not write is
/// not built on: the record was tampered with.
pub async fn append(
    record: &Record,
    tx: &mut Conn,
    case_id: i64,
    actor: &Actor,
    action: &str,
    detail: &serde_json::Value,
) -> Result<i64, StoreError> {
    // One appender at a time: the head is read, the entry written and the head moved as one step.
    record.db.serialise(tx, Lock::AuditChain).await?;
    let head = Head::read(tx).await?;
    let key = &record.key;
    let Some(keyed_from) = head.keyed_from.filter(|_| head.sealed_by(key)) else {
        return Err(StoreError::Schema(format!(
            "the record's head (entry {}) is not as a server with this key wrote it: the record was changed outside              the server; nothing more is appended until `casegrid audit verify` has been run and the cause found",
            head.seq
        )));
    };
    let (seq, prev) = (head.seq + 1, head.hash);
    let at = now_ms();
    let detail = detail.to_string();
    let state = state::of_case(tx, case_id).await?.to_text();
    let hash =
        entry_hash(&prev, seq, case_id, at, actor.id, &actor.label, &actor.source, action, &detail, Some(&state));
    sqlx::query(
        "INSERT INTO case_log (seq, case_id, at, actor_id, actor, source, action, detail, prev_hash, hash, state, mac) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(seq)
    .bind(case_id)
    .bind(at)
    .bind(actor.id)
    .bind(&actor.label)
    .bind(&actor.source)
    .bind(action)
    .bind(&detail)
    .bind(&prev)
    .bind(&hash)
    .bind(&state)
    .bind(key.entry_mac(&hash))
    .execute(&mut *tx)
    .await?;
    let moved = sqlx::query("UPDATE case_log_head SET seq = $1, hash = $2, mac = $3 WHERE id = 1 AND seq = $4")
        .bind(seq)
        .bind(&hash)
        .bind(key.head_mac(seq, &hash, keyed_from))
        .bind(seq - 1)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if moved != 1 {
        return Err(StoreError::Schema("the record's head moved while an entry was appended".into()));
    }
    Ok(seq)
}

/// One entry, as the timeline and the electronic case file show it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub seq: i64,
    pub case_id: i64,
    pub at: i64,
    pub actor: String,
    pub source: String,
    pub action: String,
    pub detail: serde_json::Value,
    pub hash: String,
}

pub async fn of_case(c: &mut Conn, case_id: i64) -> Result<Vec<Entry>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, case_id, at, actor, source, action, detail, hash FROM case_log WHERE case_id = $1 ORDER BY seq",
    )
    .bind(case_id)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Entry {
            seq: r.get(0),
            case_id: r.get(1),
            at: r.get(2),
            actor: r.get(3),
            source: r.get(4),
            action: r.get(5),
            detail: serde_json::from_str(&r.get::<String, _>(6)).unwrap_or(serde_json::Value::Null),
            hash: r.get(7),
        })
        .collect())
}
