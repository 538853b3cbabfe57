//! `/api/v1/cases`, `/api/v1/operations` and `/api/v1/audit`: the case workflow over HTTP. Every
//! route checks the caller's role and scope on the server; a case out of scope is answered as absent.

use super::{operations, store, workflow};
use crate::api_error::ApiError;
use crate::auth::Role;
use crate::auth::extract::{Caller, ClientIp};
use crate::server::{ApiJson, AppState};
use crate::store::StoreError;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn routes(max_upload: usize) -> Router<AppState> {
    Router::new()
        .route("/api/v1/cases", post(open).get(list))
        .route("/api/v1/cases/{id}", get(one))
        .route("/api/v1/cases/{id}/actions", post(act))
        .route("/api/v1/cases/{id}/evidence", post(evidence).layer(axum::extract::DefaultBodyLimit::max(max_upload)))
        .route("/api/v1/cases/{id}/evidence/{evidence}", get(evidence_file))
        .route("/api/v1/cases/{id}/measures", post(add_measure))
        .route("/api/v1/cases/{id}/measures/{measure}/actions", post(measure_action))
        .route("/api/v1/cases/{id}/documents/{document}", get(document))
        .route("/api/v1/cases/{id}/dossier", get(dossier))
        .route("/api/v1/cases/{id}/dossier.zip", get(dossier_zip))
        .route("/api/v1/cases/{id}/replay", get(replay))
        .route("/api/v1/operations", post(create_operation).get(list_operations))
        .route("/api/v1/operations/{id}", get(operation))
        .route("/api/v1/operations/{id}/officers", post(operation_officers))
        .route("/api/v1/operations/{id}/cases", post(operation_cases))
        .route("/api/v1/audit/verify", get(audit_verify))
}

type Answer = Result<Json<Value>, ApiError>;

async fn open(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(input): ApiJson<workflow::OpenIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let v = workflow::open(&state, &p, &p.actor(ip), input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    stage: Option<String>,
    domain: Option<String>,
    operation: Option<i64>,
    #[serde(default)]
    overdue: bool,
    limit: Option<i64>,
}

/// The cases in the caller's scope: the team's, the department's, or all; and those they work on.
async fn list(State(state): State<AppState>, Caller(p): Caller, Query(q): Query<ListQuery>) -> Answer {
    if !p.is_staff() || p.grants.iter().all(|g| g.role == Role::Publisher) {
        return Err(ApiError::forbidden("cases are the bureau's staff's"));
    }
    if let Some(s) = &q.stage
        && !super::stage::ALL.contains(&s.as_str())
    {
        return Err(workflow::invalid("stage", "invalid-choice", format!("one of {}", super::stage::ALL.join(", "))));
    }
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let org = crate::auth::store::org_index(&mut c).await?;
    let teams = match p.team_set(&org) {
        crate::auth::TeamSet::All => None,
        crate::auth::TeamSet::Some(t) => Some(t),
    };
    let now = crate::store::now_ms();
    let filter = store::Filter {
        teams,
        officer: Some(p.user_id),
        stage: q.stage,
        domain: q.domain,
        operation: q.operation,
        overdue_at: q.overdue.then_some(now),
        limit: q.limit.unwrap_or(200).clamp(1, 1000),
    };
    let cases = store::list(&mut c, &filter).await?;
    let cal = &state.intake.calendar;
    let out: Vec<Value> = cases
        .iter()
        .map(|k| {
            let clock = k.due_at.map(|d| {
                let (days, working) = super::clock::days_left(cal, now, d);
                json!({"due_at": crate::store::rfc3339(d), "for": k.due_what, "days_left": days, "working_days_left": working, "overdue": now > d})
            });
            json!({"id": k.id, "number": k.number, "domain": k.domain, "title": k.title, "stage": k.stage,
                   "stage_zh": super::stage::zh(&k.stage), "party": k.party.name, "team_id": k.team_id, "clock": clock,
                   "plugin_version": k.plugin_version, "opened_at": crate::store::rfc3339(k.opened_at)})
        })
        .collect();
    Ok(Json(json!({"cases": out})))
}

async fn one(State(state): State<AppState>, Caller(p): Caller, Path(id): Path<i64>) -> Answer {
    Ok(Json(workflow::view(&state, &p, id).await?))
}

async fn act(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
    ApiJson(a): ApiJson<workflow::Action>,
) -> Answer {
    Ok(Json(workflow::act(&state, &p, &p.actor(ip), id, a).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvidenceIn {
    kind: String,
    description: String,
}

/// `POST /api/v1/cases/{id}/evidence`: JSON `{kind, description}`, or multipart with an `evidence`
/// part (that JSON) and a `file`.
async fn evidence(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
    req: Request,
) -> Answer {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (meta, file) = if multipart {
        let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid-multipart", m);
        let mut mp = Multipart::from_request(req, &state).await.map_err(|e| bad(e.body_text()))?;
        let (mut meta, mut file) = (None, None);
        while let Some(field) = mp.next_field().await? {
            match field.name() {
                Some("evidence") => {
                    let text = field.text().await?;
                    meta = Some(
                        serde_json::from_str::<EvidenceIn>(&text)
                            .map_err(|e| workflow::invalid("evidence", "invalid-body", e.to_string()))?,
                    );
                }
                Some("file") => {
                    let file_name: String =
                        field.file_name().unwrap_or("file").chars().filter(|c| !c.is_control()).take(128).collect();
                    let media_type = field.content_type().unwrap_or("application/octet-stream").to_string();
                    let bytes = field.bytes().await?;
                    file = Some(crate::intake::Upload { file_name, media_type, bytes });
                }
                other => {
                    return Err(bad(format!("unexpected part {:?}: send `evidence` and `file`", other.unwrap_or(""))));
                }
            }
        }
        (
            meta.ok_or_else(|| workflow::invalid("evidence", "required", "the `evidence` part: {kind, description}"))?,
            file,
        )
    } else {
        let ApiJson(meta) = ApiJson::<EvidenceIn>::from_request(req, &state).await?;
        (meta, None)
    };
    Ok(Json(super::evidence::add_evidence(&state, &p, &p.actor(ip), id, &meta.kind, &meta.description, file).await?))
}

async fn evidence_file(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((id, ev)): Path<(i64, i64)>,
) -> Result<Response, ApiError> {
    let (k, _) = workflow::visible(&state, &p, id).await?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let e = store::evidence(&mut c, k.id)
        .await?
        .into_iter()
        .find(|e| e.id == ev && e.object_key.is_some())
        .ok_or_else(|| ApiError::not_found("evidence file", &ev.to_string()))?;
    let bytes = state
        .intake
        .objects
        .get(e.object_key.as_deref().unwrap_or_default())
        .await
        .map_err(crate::intake::objects::unavailable)?;
    // Served as a download, never rendered in the bureau's origin.
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"evidence-{ev}\"")),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        bytes,
    )
        .into_response())
}

async fn add_measure(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
    ApiJson(m): ApiJson<super::measures::MeasureIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(super::measures::add_measure(&state, &p, &p.actor(ip), id, m).await?)))
}

async fn measure_action(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path((id, m)): Path<(i64, i64)>,
    ApiJson(a): ApiJson<super::measures::MeasureAction>,
) -> Answer {
    Ok(Json(super::measures::act_on_measure(&state, &p, &p.actor(ip), id, m, a).await?))
}

/// A generated document, as the HTML page it is.
async fn document(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((id, doc)): Path<(i64, i64)>,
) -> Result<Response, ApiError> {
    let (k, _) = workflow::visible(&state, &p, id).await?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let d = store::documents(&mut c, k.id)
        .await?
        .into_iter()
        .find(|d| d.id == doc)
        .ok_or_else(|| ApiError::not_found("document", &doc.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            // The page is ours, but it carries a party's words: no scripts, nothing fetched.
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'".to_string()),
            (header::HeaderName::from_static("x-content-sha256"), d.sha256.clone()),
        ],
        d.html,
    )
        .into_response())
}

async fn dossier(State(state): State<AppState>, Caller(p): Caller, Path(id): Path<i64>) -> Answer {
    Ok(Json(super::dossier::index(&state, &p, id).await?))
}

async fn dossier_zip(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let (name, bytes) = super::dossier::archive(&state, &p, id).await?;
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{ascii}\"")),
        ],
        bytes,
    )
        .into_response())
}

/// Re-runs every stored assessment of the case under the version it was made with.
async fn replay(State(state): State<AppState>, Caller(p): Caller, Path(id): Path<i64>) -> Answer {
    let (k, _) = workflow::visible(&state, &p, id).await?;
    let outcomes = super::replay::replay(&state.db, &state.runtime, k.id).await?;
    let same = outcomes.iter().all(|o| o.same);
    Ok(Json(json!({"case": k.number, "all_same": same, "assessments": outcomes})))
}

async fn create_operation(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(o): ApiJson<operations::OperationIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(operations::create(&state, &p, &p.actor(ip), o).await?)))
}

async fn list_operations(State(state): State<AppState>, Caller(p): Caller) -> Answer {
    Ok(Json(operations::list(&state, &p).await?))
}

async fn operation(State(state): State<AppState>, Caller(p): Caller, Path(id): Path<i64>) -> Answer {
    Ok(Json(operations::view(&state, &p, id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OfficersIn {
    officers: Vec<String>,
}

async fn operation_officers(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<OfficersIn>,
) -> Answer {
    Ok(Json(operations::add_officers(&state, &p, id, b.officers).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpawnBody {
    cases: Vec<operations::SpawnIn>,
}

async fn operation_cases(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<SpawnBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(operations::spawn(&state, &p, &p.actor(ip), id, b.cases).await?)))
}

/// The full-process record checked end to end (admins and legal reviewers).
async fn audit_verify(State(state): State<AppState>, Caller(p): Caller) -> Answer {
    p.require(&[Role::Admin, Role::LegalReviewer])?;
    let r = &state.record;
    let report = super::audit::verify(&state.db, Some(r.key()), r.checkpoint().as_ref()).await?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}
