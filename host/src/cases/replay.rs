//! Replaying a case's assessments: each stored assessment is run again under the very plugin
//! version it was made with (its bytes checked against the stored hash), on the same item, facts
//! and reference time. Plugins are deterministic, so any difference means something changed that
//! must not have: what a reconsideration body or a court asks.

use super::{Outcome, store};
use crate::plugins::bindings::FieldValue;
use crate::plugins::{Plugin, Runtime, lifecycle};
use crate::store::{Db, StoreError};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    pub assessment: i64,
    pub purpose: String,
    pub version: String,
    pub item: String,
    pub reference_at: i64,
    /// True when the replay gave the stored answer.
    pub same: bool,
    pub stored: Outcome,
    pub replayed: Option<Outcome>,
    pub note: String,
}

/// Replays every assessment of case `case_id`.
pub async fn replay(db: &Db, runtime: &Arc<Runtime>, case_id: i64) -> Result<Vec<Replayed>, StoreError> {
    let mut c = db.pool().acquire().await?;
    let rows = store::assessments(&mut c, case_id).await?;
    let mut loaded: HashMap<(String, String), Result<Arc<Plugin>, String>> = HashMap::new();
    let mut out = Vec::new();
    for row in rows {
        let a = &row.assessed;
        let done = |replayed: Option<Outcome>, same: bool, note: String| Replayed {
            assessment: row.id,
            purpose: row.purpose.clone(),
            version: a.version.clone(),
            item: row.item.clone(),
            reference_at: a.reference_at,
            same,
            stored: a.outcome.clone(),
            replayed,
            note,
        };
        // Nothing was called for it (manual mode, a disabled domain): nothing to replay.
        if let Outcome::Refused { code, .. } = &a.outcome
            && (code == "manual-mode" || code == "unknown-domain")
        {
            out.push(done(None, true, "no plugin answered this one (manual mode): nothing to replay".into()));
            continue;
        }
        let key = (row.domain.clone(), a.version.clone());
        if !loaded.contains_key(&key) {
            let plugin = match lifecycle::component(&mut c, &row.domain, &a.version).await? {
                None => Err(format!("version {} of {} is not stored", a.version, row.domain)),
                Some((_, bytes)) if hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)) != a.sha256 => {
                    Err(format!(
                        "the stored component of {} {} does not hash to the {} the assessment used: it was altered",
                        row.domain, a.version, a.sha256
                    ))
                }
                Some((_, bytes)) => {
                    let rt = runtime.clone();
                    tokio::task::spawn_blocking(move || rt.load_bytes(&bytes))
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| r.map_err(|e| e.to_string()))
                }
            };
            loaded.insert(key.clone(), plugin);
        }
        let plugin = match &loaded[&key] {
            Ok(p) => p.clone(),
            Err(e) => {
                out.push(done(None, false, e.clone()));
                continue;
            }
        };
        let facts: Vec<FieldValue> = match serde_json::from_value(row.facts.clone()) {
            Ok(f) => f,
            Err(e) => {
                out.push(done(None, false, format!("the stored facts do not read: {e}")));
                continue;
            }
        };
        let again = match plugin.assess(&row.item, facts, a.reference_at).await {
            Ok(x) => Outcome::Assessed(x),
            Err(e) => Outcome::Refused { code: e.code().into(), message: e.to_string() },
        };
        let same = serde_json::to_value(&again).ok() == serde_json::to_value(&a.outcome).ok();
        let note = if same { "same answer".to_string() } else { "DIFFERENT answer".to_string() };
        out.push(done(Some(again), same, note));
    }
    Ok(out)
}
