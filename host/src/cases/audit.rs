//! The full-process record (全过程记录, APL art. 47): every action on every case, appended in the
//! transaction of the action, hash-chained. Each entry's hash covers its sequence number, its
//! contents and the previous entry's hash; the head row names the last entry. An edited entry
//! breaks the chain at that entry, a deleted one leaves a gap in the sequence, a deleted tail
//! disagrees with the head. The table refuses UPDATE and DELETE (a trigger); the chain shows what
//! someone with the database's own rights did anyway.

use crate::auth::store::{Actor, Conn};
use crate::store::{Db, Lock, StoreError, now_ms};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// The hash of the chain before its first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry's hash: every field, length-prefixed so that no two entries can run together.
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
) -> String {
    let mut h = Sha256::new();
    let actor_id = actor_id.map(|i| i.to_string()).unwrap_or_default();
    for part in
        [prev, &seq.to_string(), &case_id.to_string(), &at.to_string(), &actor_id, actor, source, action, detail]
    {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends an entry in the caller's transaction; its sequence number.
pub async fn append(
    db: &Db,
    tx: &mut Conn,
    case_id: i64,
    actor: &Actor,
    action: &str,
    detail: &serde_json::Value,
) -> Result<i64, StoreError> {
    // One appender at a time: the head is read, the entry written and the head moved as one step.
    db.serialise(tx, Lock::AuditChain).await?;
    let head = sqlx::query("SELECT seq, hash FROM case_log_head WHERE id = 1").fetch_one(&mut *tx).await?;
    let (seq, prev): (i64, String) = (head.get::<i64, _>(0) + 1, head.get(1));
    let at = now_ms();
    let detail = detail.to_string();
    let hash = entry_hash(&prev, seq, case_id, at, actor.id, &actor.label, &actor.source, action, &detail);
    sqlx::query(
        "INSERT INTO case_log (seq, case_id, at, actor_id, actor, source, action, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
    .execute(&mut *tx)
    .await?;
    let moved = sqlx::query("UPDATE case_log_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3")
        .bind(seq)
        .bind(&hash)
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

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Verdict {
    /// Every entry is there and as written; the head names the last.
    Intact { entries: i64, head: String },
    /// Entry `seq` is not as it was written (its contents, or the hash it links to, changed).
    Altered { seq: i64, case_id: i64 },
    /// Entry `seq` is missing.
    Missing { seq: i64 },
}

/// Walks the whole chain in order, a page at a time.
pub async fn verify(db: &Db) -> Result<Verdict, StoreError> {
    let mut c = db.pool().acquire().await?;
    let head = sqlx::query("SELECT seq, hash FROM case_log_head WHERE id = 1").fetch_one(&mut *c).await?;
    let (head_seq, head_hash): (i64, String) = (head.get(0), head.get(1));
    let (mut expected, mut prev) = (1i64, GENESIS.to_string());
    loop {
        let rows = sqlx::query(
            "SELECT seq, case_id, at, actor_id, actor, source, action, detail, prev_hash, hash FROM case_log \
             WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT 1000",
        )
        .bind(expected)
        // Up to the head read first: entries appended meanwhile are for the next verification.
        .bind(head_seq)
        .fetch_all(&mut *c)
        .await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let seq: i64 = r.get(0);
            if seq != expected {
                return Ok(Verdict::Missing { seq: expected });
            }
            let case_id: i64 = r.get(1);
            let stored_prev: String = r.get(8);
            let stored: String = r.get(9);
            let recomputed = entry_hash(
                &prev,
                seq,
                case_id,
                r.get(2),
                r.get(3),
                &r.get::<String, _>(4),
                &r.get::<String, _>(5),
                &r.get::<String, _>(6),
                &r.get::<String, _>(7),
            );
            if stored_prev != prev || stored != recomputed {
                return Ok(Verdict::Altered { seq, case_id });
            }
            prev = stored;
            expected += 1;
        }
    }
    let last = expected - 1;
    if last < head_seq {
        return Ok(Verdict::Missing { seq: last + 1 });
    }
    if prev != head_hash {
        // A head that names another hash than the last entry's: the tail was rewritten.
        return Ok(Verdict::Altered { seq: head_seq.max(1), case_id: 0 });
    }
    Ok(Verdict::Intact { entries: last, head: head_hash })
}
