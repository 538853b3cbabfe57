//! `casegrid audit verify` and `GET /api/v1/audit/verify`: the record walked end to end under the
//! key, the head and this host's checkpoint checked, and every case's rows and documents compared
//! with the state its last entry recorded.

use super::state::{self, CaseState};
use super::{Checkpoint, GENESIS, Head, Key, entry_hash};
use crate::auth::store::Conn;
use crate::store::{Db, StoreError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// What verification found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `intact`, or `tampered` with the problems.
    pub outcome: &'static str,
    /// Entries checked, up to the head read first.
    pub entries: i64,
    pub head: String,
    /// The id of the key the record is written with (none: written before keys).
    pub key_id: Option<String>,
    /// The first entry written under the key; those before it are checked by their hashes only.
    pub keyed_from: Option<i64>,
    pub keyed_at: Option<i64>,
    /// This host's checkpoint, if it has one.
    pub checkpoint: Option<Checkpoint>,
    pub cases: i64,
    /// Cases whose last entry was written before the key: their rows are not compared.
    pub cases_unkeyed: i64,
    pub documents: i64,
    pub problems: Vec<Problem>,
}

/// One thing that is not as the server wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `altered`, `forged`, `missing`, `head`, `truncated`, `rewritten`, `wrong-key`, `no-key`,
    /// `case-state`, `document`, `case-deleted`, `case-unrecorded`.
    pub kind: &'static str,
    pub seq: Option<i64>,
    pub case_id: Option<i64>,
    /// The case's number.
    pub case: Option<String>,
    pub message: String,
}

/// One row of `case_log` as it is stored.
struct Stored {
    seq: i64,
    case_id: i64,
    prev: String,
    hash: String,
    recomputed_keyed: String,
    recomputed_unkeyed: String,
    state: Option<String>,
    mac: Option<String>,
}

const ENTRY: &str =
    "SELECT seq, case_id, at, actor_id, actor, source, action, detail, prev_hash, hash, state, mac FROM case_log";

fn stored(r: &crate::store::Row) -> Stored {
    let (seq, case_id, prev): (i64, i64, String) = (r.get(0), r.get(1), r.get(8));
    let (at, actor_id): (i64, Option<i64>) = (r.get(2), r.get(3));
    let (actor, source, action, detail): (String, String, String, String) = (r.get(4), r.get(5), r.get(6), r.get(7));
    let state: Option<String> = r.get(10);
    let h = |s: Option<&str>| entry_hash(&prev, seq, case_id, at, actor_id, &actor, &source, &action, &detail, s);
    Stored {
        seq,
        case_id,
        recomputed_keyed: h(Some(state.as_deref().unwrap_or(""))),
        recomputed_unkeyed: h(None),
        prev: prev.clone(),
        hash: r.get(9),
        state,
        mac: r.get(11),
    }
}

/// Walks the whole record; `key`: the record's key where this runs; `checkpoint`: this host's.
pub async fn verify(db: &Db, key: Option<&Key>, checkpoint: Option<&Checkpoint>) -> Result<Report, StoreError> {
    let mut c = db.pool().acquire().await?;
    let head = Head::read(&mut c).await?;
    let mut report = Report {
        outcome: "intact",
        entries: 0,
        head: head.hash.clone(),
        key_id: head.key_id.clone(),
        keyed_from: head.keyed_from,
        keyed_at: head.keyed_at,
        checkpoint: checkpoint.cloned(),
        cases: 0,
        cases_unkeyed: 0,
        documents: 0,
        problems: Vec::new(),
    };
    let key = match (&head.key_id, key) {
        (Some(id), Some(k)) if *id != k.id => {
            report.problems.push(problem(
                "wrong-key",
                None,
                None,
                format!(
                    "the record is written with key {id}, and the key here ({}) is {}: its MACs cannot be checked",
                    k.source, k.id
                ),
            ));
            return Ok(finish(report));
        }
        (Some(id), None) => {
            report.problems.push(problem("no-key", None, None, format!(
                "the record is written with key {id}, and there is no key here (record.key in the data directory, or \
                 [record] key): its MACs cannot be checked"
            )));
            return Ok(finish(report));
        }
        (None, Some(_)) => {
            if let Some(why) = super::keyed_before(&mut c, checkpoint).await? {
                report.problems.push(problem(
                    "unkeyed-head",
                    None,
                    None,
                    format!("the head says the record was never keyed, but {why}: the head's key was removed"),
                ));
            }
            None
        }
        (_, k) => k.filter(|_| head.key_id.is_some()),
    };
    let keyed_from = head.keyed_from.filter(|_| key.is_some()).unwrap_or(i64::MAX);
    walk(&mut c, &head, key, keyed_from, checkpoint, &mut report).await?;
    if let Some(cp) = checkpoint.filter(|cp| cp.seq > head.seq) {
        report.problems.push(problem("truncated", Some(head.seq + 1), None, format!(
            "the record ends at entry {}, and this host's checkpoint of {} saw entry {}: entries {}–{} were deleted",
            head.seq,
            crate::clock::rfc3339(cp.at),
            cp.seq,
            head.seq + 1,
            cp.seq
        )));
    }
    cases(&mut c, key, keyed_from, &mut report).await?;
    Ok(finish(report))
}

fn finish(mut r: Report) -> Report {
    if !r.problems.is_empty() {
        r.outcome = "tampered";
    }
    r
}

fn problem(kind: &'static str, seq: Option<i64>, case_id: Option<i64>, message: String) -> Problem {
    Problem { kind, seq, case_id, case: None, message }
}

async fn number_of(c: &mut Conn, case_id: i64) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query("SELECT number FROM cases WHERE id = $1")
        .bind(case_id)
        .fetch_optional(&mut *c)
        .await?
        .map(|r| r.get(0)))
}

/// What is wrong with one entry read in order after `prev`, if anything.
fn entry_problem(e: &Stored, prev: &str, key: Option<&Key>, keyed_from: i64) -> Option<(&'static str, String)> {
    let keyed = e.seq >= keyed_from;
    let recomputed = if keyed { &e.recomputed_keyed } else { &e.recomputed_unkeyed };
    if e.prev != prev || e.hash != *recomputed {
        return Some(("altered", "is not as it was written: its hash does not match its contents".into()));
    }
    if keyed && !key.is_some_and(|k| k.check_entry(&e.hash, e.mac.as_deref())) {
        return Some((
            "forged",
            "was rewritten: its hashes are consistent, but its MAC is not the key's (the entry was edited and the hashes \
             after it recomputed)"
                .into(),
        ));
    }
    None
}

/// The chain in order, a page at a time, up to the head read first (entries appended meanwhile
/// are for the next verification); stops at the first entry that is not as written.
async fn walk(
    c: &mut Conn,
    head: &Head,
    key: Option<&Key>,
    keyed_from: i64,
    checkpoint: Option<&Checkpoint>,
    report: &mut Report,
) -> Result<(), StoreError> {
    let (mut expected, mut prev) = (1i64, GENESIS.to_string());
    loop {
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(format!("{ENTRY} WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT 1000")))
                .bind(expected)
                .bind(head.seq)
                .fetch_all(&mut *c)
                .await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let e = stored(r);
            if e.seq != expected {
                report.entries = expected - 1;
                report.problems.push(problem(
                    "missing",
                    Some(expected),
                    None,
                    format!("entry {expected} is gone from the record"),
                ));
                return Ok(());
            }
            let found = entry_problem(&e, &prev, key, keyed_from).or_else(|| {
                checkpoint.filter(|cp| cp.seq == e.seq && cp.hash != e.hash).map(|cp| {
                    (
                        "rewritten",
                        format!("is not the entry this host's checkpoint of {} saw", crate::clock::rfc3339(cp.at)),
                    )
                })
            });
            if let Some((kind, what)) = found {
                let number = number_of(c, e.case_id).await?;
                report.entries = expected - 1;
                report.problems.push(Problem {
                    kind,
                    seq: Some(e.seq),
                    case_id: Some(e.case_id),
                    message: format!("entry {} ({}) {what}", e.seq, case_words(e.case_id, number.as_deref())),
                    case: number,
                });
                return Ok(());
            }
            prev = e.hash;
            expected += 1;
        }
    }
    let last = expected - 1;
    report.entries = last;
    if last < head.seq {
        report.problems.push(problem(
            "missing",
            Some(last + 1),
            None,
            format!("entry {} is gone from the record", last + 1),
        ));
    } else if prev != head.hash {
        report.problems.push(problem(
            "head",
            Some(head.seq),
            None,
            format!("the head names another hash than entry {}'s: the last entries were rewritten", head.seq),
        ));
    } else if let Some(k) = key
        && !head.sealed_by(k)
    {
        report.problems.push(problem("head", Some(head.seq), None, format!(
            "the head (entry {}) is not as the server wrote it: its MAC is not the key's — the entries after it were \
             deleted and the head set back, or the head was edited",
            head.seq
        )));
    }
    Ok(())
}

fn case_words(case_id: i64, number: Option<&str>) -> String {
    match number {
        Some(n) => format!("case {n}, id {case_id}"),
        None => format!("case id {case_id}"),
    }
}

/// Every case that has a row or an entry: its row and what hangs on it against the state its last
/// entry recorded, its documents against their SHA-256.
async fn cases(c: &mut Conn, key: Option<&Key>, keyed_from: i64, report: &mut Report) -> Result<(), StoreError> {
    let ids: Vec<i64> = sqlx::query("SELECT id FROM cases UNION SELECT case_id FROM case_log ORDER BY 1")
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for id in ids {
        report.cases += 1;
        let number = number_of(c, id).await?;
        let found = case_problems(c, id, number.as_deref(), key, keyed_from, report).await?;
        report.problems.extend(found.into_iter().map(|(kind, seq, what)| Problem {
            kind,
            seq,
            case_id: Some(id),
            case: number.clone(),
            message: format!("{}: {what}", case_words(id, number.as_deref())),
        }));
    }
    Ok(())
}

type Found = Vec<(&'static str, Option<i64>, String)>;

/// A case's rows now against the state its last entry recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// No entry names the case.
    NoEntry,
    /// Its last entry was written before the key: nothing to compare with.
    Unkeyed,
    /// Its last entry is not one the key wrote (the walk names it).
    NotWritten(i64),
    /// Its last entry holds no readable state.
    NoState(i64),
    Same(i64),
    /// The parts that differ from entry `seq`.
    Differs(i64, Vec<String>),
    /// It kept changing while it was read.
    Unstable,
}

pub async fn compare_case(c: &mut Conn, key: Option<&Key>, keyed_from: i64, id: i64) -> Result<Comparison, StoreError> {
    // An action that commits meanwhile moves the case and its last entry together: read again.
    for _ in 0..5 {
        let Some(e) = sqlx::query(sqlx::AssertSqlSafe(format!("{ENTRY} WHERE case_id = $1 ORDER BY seq DESC LIMIT 1")))
            .bind(id)
            .fetch_optional(&mut *c)
            .await?
            .map(|r| stored(&r))
        else {
            return Ok(Comparison::NoEntry);
        };
        if e.seq < keyed_from {
            return Ok(Comparison::Unkeyed);
        }
        if !key.is_some_and(|k| e.hash == e.recomputed_keyed && k.check_entry(&e.hash, e.mac.as_deref())) {
            return Ok(Comparison::NotWritten(e.seq));
        }
        let now = state::of_case(c, id).await?;
        let again: Option<i64> =
            sqlx::query("SELECT MAX(seq) FROM case_log WHERE case_id = $1").bind(id).fetch_one(&mut *c).await?.get(0);
        if again != Some(e.seq) {
            continue;
        }
        let Some(recorded) = e.state.as_deref().and_then(CaseState::parse) else {
            return Ok(Comparison::NoState(e.seq));
        };
        let differs = now.differences(&recorded);
        return Ok(if differs.is_empty() { Comparison::Same(e.seq) } else { Comparison::Differs(e.seq, differs) });
    }
    Ok(Comparison::Unstable)
}

impl Comparison {
    /// What is wrong, in words after the case's name; none when nothing is.
    pub fn problem(&self) -> Option<(&'static str, Option<i64>, String)> {
        match self {
            Comparison::NoEntry => {
                Some(("case-unrecorded", None, "has no entry in the record: it was written outside the server".into()))
            }
            Comparison::NoState(seq) => {
                Some(("case-state", Some(*seq), format!("entry {seq} holds no readable state")))
            }
            Comparison::Differs(seq, parts) => Some((
                "case-state",
                Some(*seq),
                format!(
                    "{} {} from what entry {seq} recorded (changed outside the procedure)",
                    parts.join(", "),
                    if parts.len() == 1 { "differs" } else { "differ" }
                ),
            )),
            Comparison::Unstable => {
                Some(("case-state", None, "kept changing while it was verified: verify again".into()))
            }
            Comparison::Unkeyed | Comparison::NotWritten(_) | Comparison::Same(_) => None,
        }
    }
}

async fn case_problems(
    c: &mut Conn,
    id: i64,
    number: Option<&str>,
    key: Option<&Key>,
    keyed_from: i64,
    report: &mut Report,
) -> Result<Found, StoreError> {
    let mut found = documents(c, id, report).await?;
    let compared = compare_case(c, key, keyed_from, id).await?;
    if number.is_none() {
        if let Comparison::NoEntry = compared {
            return Ok(found);
        }
        found.push(("case-deleted", None, "is in the record, but its row is gone".into()));
        return Ok(found);
    }
    if compared == Comparison::Unkeyed {
        report.cases_unkeyed += 1;
    }
    found.extend(compared.problem());
    Ok(found)
}

/// Each document's text against its SHA-256.
async fn documents(c: &mut Conn, id: i64, report: &mut Report) -> Result<Found, StoreError> {
    let mut found = Vec::new();
    for r in sqlx::query("SELECT id, kind, number, html, sha256 FROM case_documents WHERE case_id = $1 ORDER BY id")
        .bind(id)
        .fetch_all(&mut *c)
        .await?
    {
        report.documents += 1;
        let (doc, kind, number, html, sha): (i64, String, String, String, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        if hex::encode(Sha256::digest(html.as_bytes())) != sha {
            found.push((
                "document",
                None,
                format!("document {doc} ({kind} {number}): its text does not match its SHA-256"),
            ));
        }
    }
    Ok(found)
}
