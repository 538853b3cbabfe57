//! The state of a case as the record keeps it: after every action, the entry of that action holds
//! a digest of each part of what the case now is — its row's legally meaningful columns, officers,
//! assessments, approval steps, evidence, coercive measures and clock stops — and, document by
//! document, a digest of each generated document's row with its SHA-256. A part that differs from
//! the last entry of its case was changed outside the procedure.
//!
//! Left out of the row: `due_at`, `due_what`, `reminded_for`, `escalated_for` (bookkeeping of the
//! clock, worked out again from the rest), `version` and `updated_at`.

use crate::auth::store::Conn;
use crate::store::StoreError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::BTreeMap;

/// The parts, each a query of one case's rows in a fixed order. Every column is read as text (an
/// integer as its decimal digits), so both backends give the same bytes.
const PARTS: [(&str, &str); 7] = [
    (
        "case",
        "SELECT number, domain, plugin_version, pinned_reason, procedure, stage, source, report_id, referral, \
         operation_id, team_id, title, place, summary, party, party_key, act_date, act_end_date, safety_harmed, \
         discovered_at, distinct_act, item_code, facts, proposal, legal_review, progress, opened_at, opened_by, closed_at \
         FROM cases WHERE id = $1",
    ),
    ("officers", "SELECT user_id, added_at FROM case_officers WHERE case_id = $1 ORDER BY user_id"),
    (
        "assessments",
        "SELECT id, purpose, domain, version, sha256, item, facts, reference_at, result, at, actor \
         FROM case_assessments WHERE case_id = $1 ORDER BY id",
    ),
    (
        "approvals",
        "SELECT id, round, step, role, requested_at, decided_at, decided_by, outcome, comment \
         FROM case_approvals WHERE case_id = $1 ORDER BY id",
    ),
    (
        "evidence",
        "SELECT id, kind, description, object_key, file_name, media_type, size_bytes, sha256, form, recorded_by, recorded_at \
         FROM case_evidence WHERE case_id = $1 ORDER BY id",
    ),
    (
        "measures",
        "SELECT id, number, kind, item_code, place, inventory, reason, decided_at, limit_days, extended_at, extension_reason, \
         released_at, release_reason, emergency, approved_by, approved_at FROM coercive_measures WHERE case_id = $1 ORDER BY id",
    ),
    ("pauses", "SELECT id, measure_id, reason, started_at, ended_at FROM case_pauses WHERE case_id = $1 ORDER BY id"),
];

const DOCUMENTS: &str =
    "SELECT id, kind, number, title, sha256, created_at, created_by FROM case_documents WHERE case_id = $1 ORDER BY id";

/// What an entry records of its case: a digest per part, and one per document by its id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CaseState {
    pub parts: BTreeMap<String, String>,
    pub documents: BTreeMap<i64, String>,
}

impl CaseState {
    /// The text an entry stores (and its hash covers).
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn parse(text: &str) -> Option<CaseState> {
        serde_json::from_str(text).ok()
    }

    /// What differs from `recorded`, in words: `the case row`, `document 12`, …
    pub fn differences(&self, recorded: &CaseState) -> Vec<String> {
        let mut out: Vec<String> = PARTS
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| self.parts.get(*p) != recorded.parts.get(*p))
            .map(|p| if p == "case" { "the case row".to_string() } else { format!("its {p}") })
            .collect();
        for (id, d) in &recorded.documents {
            match self.documents.get(id) {
                None => out.push(format!("document {id} (deleted)")),
                Some(now) if now != d => out.push(format!("document {id}")),
                Some(_) => {}
            }
        }
        out.extend(
            self.documents
                .keys()
                .filter(|id| !recorded.documents.contains_key(id))
                .map(|id| format!("document {id} (added)")),
        );
        out
    }
}

/// A cell as text; NULL as nothing.
fn cell(r: &crate::store::Row, i: usize) -> Option<String> {
    if let Ok(v) = r.try_get::<Option<String>, _>(i) {
        return v;
    }
    if let Ok(v) = r.try_get::<Option<i64>, _>(i) {
        return v.map(|n| n.to_string());
    }
    r.try_get::<Option<f64>, _>(i).ok().flatten().map(|f| f.to_string())
}

/// Every cell of every row, length-prefixed (NULL apart from the empty text), into one digest.
fn digest_rows(rows: &[crate::store::Row]) -> String {
    let mut h = Sha256::new();
    h.update((rows.len() as u64).to_be_bytes());
    for r in rows {
        h.update((r.len() as u64).to_be_bytes());
        for i in 0..r.len() {
            match cell(r, i) {
                Some(s) => {
                    h.update((s.len() as u64).to_be_bytes());
                    h.update(s.as_bytes());
                }
                None => h.update(u64::MAX.to_be_bytes()),
            }
        }
    }
    hex::encode(h.finalize())
}

/// The case's state now, read in the caller's transaction (or connection).
pub async fn of_case(c: &mut Conn, case_id: i64) -> Result<CaseState, StoreError> {
    let mut s = CaseState::default();
    for (part, sql) in PARTS {
        let rows = sqlx::query(sql).bind(case_id).fetch_all(&mut *c).await?;
        s.parts.insert(part.to_string(), digest_rows(&rows));
    }
    for r in sqlx::query(DOCUMENTS).bind(case_id).fetch_all(&mut *c).await? {
        s.documents.insert(r.get::<i64, _>(0), digest_rows(std::slice::from_ref(&r)));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::CaseState;

    #[test]
    fn differences_name_the_part_and_the_document() {
        let mut a = CaseState::default();
        for p in ["case", "officers", "approvals"] {
            a.parts.insert(p.into(), format!("{p}-1"));
        }
        a.documents.insert(3, "d3".into());
        a.documents.insert(4, "d4".into());
        assert!(a.differences(&a.clone()).is_empty());
        let mut b = a.clone();
        b.parts.insert("case".into(), "other".into());
        b.documents.insert(4, "changed".into());
        b.documents.remove(&3);
        b.documents.insert(9, "new".into());
        assert_eq!(b.differences(&a), ["the case row", "document 3 (deleted)", "document 4", "document 9 (added)"]);
        assert_eq!(CaseState::parse(&b.to_text()), Some(b));
    }
}
