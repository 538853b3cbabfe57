//! Evidence (证据, APL art. 46): a piece of each kind the law lists, with or without a file, kept in
//! the object store and recorded in the case's transaction.

use super::gates::invalid;
use super::store::{self, NewEvidence};
use super::workflow::{text, view, visible, works};
use super::{procedure, stage};
use crate::api_error::ApiError;
use crate::auth::Principal;
use crate::auth::store::Actor;
use crate::clock::{Day, now_ms};
use crate::server::AppState;
use crate::store::StoreError;
use axum::http::StatusCode;
use serde_json::{Value, json};

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Adds a piece of evidence, with or without a file, in the record's transaction. The file is
/// stored first and removed again if the transaction fails.
pub async fn add_evidence(
    state: &AppState,
    caller: &Principal,
    actor: &Actor,
    id: i64,
    kind: &str,
    description: &str,
    file: Option<crate::intake::Upload>,
) -> Result<Value> {
    const KINDS: [&str; 8] =
        ["documentary", "physical", "audiovisual", "electronic", "witness", "statement", "expert", "inspection"];
    let (k, org) = visible(state, caller, id).await?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    if !works(&mut c, caller, &org, &k).await? {
        return Err(ApiError::forbidden("only the case's officers and its team act on it"));
    }
    procedure::need_stage(
        &k,
        &[stage::OPENED, stage::INVESTIGATING, stage::NOTICE, stage::HEARING],
        "adding evidence",
    )?;
    if !KINDS.contains(&kind) {
        return Err(invalid("kind", "invalid-choice", format!("APL art. 46: one of {}", KINDS.join(", "))));
    }
    let description = text(description, "description", 2, 2000)?;
    let now = now_ms();
    let stored = match &file {
        Some(u) => {
            if u.bytes.len() > state.intake.settings.max_attachment_bytes {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "attachment-too-large",
                    "the file is too large",
                )
                .field("file"));
            }
            let d = Day::of(now).to_string();
            let key = format!("cases/{}/{}", &d[..4], hex::encode(crate::auth::secrets::random_bytes::<16>()));
            state.intake.objects.put(&key, &u.bytes).await.map_err(crate::intake::objects::unavailable)?;
            Some((key, hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&u.bytes))))
        }
        None => None,
    };
    let written = async {
        let mut tx = state.db.write_on(&mut c).await?;
        let file_row = match (&file, &stored) {
            (Some(u), Some((key, sha))) => {
                Some((key.as_str(), u.file_name.as_str(), u.media_type.as_str(), u.bytes.len() as i64, sha.as_str()))
            }
            _ => None,
        };
        let ev = store::add_evidence(
            &mut tx,
            k.id,
            &NewEvidence { kind, description: &description, file: file_row, form: None, by: Some(caller.user_id) },
        )
        .await?;
        super::audit::append(
            &state.db,
            &mut tx,
            k.id,
            actor,
            "evidence",
            &json!({"evidence": ev, "kind": kind, "description": description, "sha256": stored.as_ref().map(|s| &s.1)}),
        )
        .await?;
        tx.commit().await?;
        Ok::<_, StoreError>(())
    }
    .await;
    if let Err(e) = written {
        if let Some((key, _)) = &stored {
            let _ = state.intake.objects.delete(key).await;
        }
        return Err(e.into());
    }
    drop(c);
    view(state, caller, k.id).await
}
