//! Opening (立案): officers assigned, the procedure changed, the investigation started.

use super::{Cx, Effects, Result};
use crate::cases::CaseRow;
use crate::cases::workflow::{officer_ids, text};
use serde_json::json;

pub async fn assign_officers(cx: &mut Cx<'_>, logins: Vec<String>) -> Result<Effects> {
    let officers = officer_ids(cx.c, &logins).await?;
    Ok(Effects { officers, ..Effects::record(json!({"officers": logins})) })
}

/// A summary-procedure case that turns out to need the general procedure.
pub fn convert_to_general(k: &mut CaseRow, reason: &str) -> Result<Effects> {
    let reason = text(reason, "reason", 5, 1000)?;
    k.procedure = "general".into();
    Ok(Effects::record(json!({"reason": reason})))
}

/// The gate counted the certified officers (APL art. 42); the record names them.
pub fn start_investigation(cx: &Cx<'_>) -> Effects {
    Effects::record(json!({"officers": cx.f.certified_officers().iter().map(|o| &o.login).collect::<Vec<_>>()}))
}
