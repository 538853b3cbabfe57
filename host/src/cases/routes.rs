//! `/api/v1/cases`, `/api/v1/operations` and `/api/v1/audit`: the case workflow over HTTP. Every
//! route checks the caller's role and scope on the server; a case out of scope is answered as absent.

use super::{operations, store, workflow};
use crate::api_error::ApiError;
use crate::auth::Role;
use crate::auth::extract::{Caller, ClientIp};
use crate::server::{ApiJson, AppState, Created, created};
use crate::store::StoreError;
use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub fn routes(max_upload: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open, list))
        .routes(routes!(one))
        .routes(routes!(act))
        .routes(routes!(evidence).layer(axum::extract::DefaultBodyLimit::max(max_upload)))
        .routes(routes!(evidence_file))
        .routes(routes!(add_measure))
        .routes(routes!(measure_action))
        .routes(routes!(document))
        .routes(routes!(dossier))
        .routes(routes!(dossier_zip))
        .routes(routes!(replay))
        .routes(routes!(create_operation, list_operations))
        .routes(routes!(operation))
        .routes(routes!(operation_officers))
        .routes(routes!(operation_cases))
        .routes(routes!(audit_verify))
}

type Answer = Result<Json<Value>, ApiError>;

#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", request_body = workflow::OpenIn,
    responses((status = 201, description = "the case opened (立案), as `GET /api/v1/cases/{id}` shows it", headers(("Location" = String, description = "where what was created is read")), body = Object),
              (status = 409, description = "`conflict`", body = ApiError),
              (status = 422, description = "a field is invalid: `field` names it", body = ApiError)))]
async fn open(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(input): ApiJson<workflow::OpenIn>,
) -> Result<Created<Value>, ApiError> {
    let v = workflow::open(&state, &p, &p.actor(ip), input).await?;
    Ok(created(format!("/api/v1/cases/{}", v["case"]["id"]), v))
}

#[derive(Deserialize, utoipa::IntoParams)]
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
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(ListQuery),
    responses((status = 200, description = "`{cases}` in the caller's scope, with their clocks", body = Object),
              (status = 422, description = "`invalid-choice`: `stage`", body = ApiError)))]
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

#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases", params(("id" = i64, Path)),
    responses((status = 200, description = "the case, its clock, documents, timeline and the actions the caller may take", body = Object)))]
async fn one(State(state): State<AppState>, Caller(p): Caller, Path(id): Path<i64>) -> Answer {
    Ok(Json(workflow::view(&state, &p, id).await?))
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/actions", tag = "cases", params(("id" = i64, Path)), request_body = workflow::Action,
    responses((status = 200, description = "the case after the action", body = Object),
              (status = 409, description = "`wrong-stage`, `conflict`: not now", body = ApiError),
              (status = 422, description = "a gate or a field refused it", body = ApiError),
              (status = 502, description = "the plugin crashed or broke the contract", body = ApiError)))]
async fn act(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
    ApiJson(a): ApiJson<workflow::Action>,
) -> Answer {
    Ok(Json(workflow::act(&state, &p, &p.actor(ip), id, a).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EvidenceIn {
    kind: String,
    description: String,
}

/// `POST /api/v1/cases/{id}/evidence`: JSON `{kind, description}`, or multipart with an `evidence`
/// part (that JSON) and a `file`.
#[utoipa::path(post, path = "/api/v1/cases/{id}/evidence", tag = "cases", params(("id" = i64, Path)),
    request_body(content((EvidenceIn = "application/json"), (Object = "multipart/form-data")),
                 description = "`{kind, description}`, or multipart: an `evidence` part (that JSON) and a `file`"),
    responses((status = 200, description = "the case's evidence", body = Object),
              (status = 409, description = "`wrong-stage`", body = ApiError)))]
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

#[utoipa::path(get, path = "/api/v1/cases/{id}/evidence/{evidence}", tag = "cases",
    params(("id" = i64, Path), ("evidence" = i64, Path)),
    responses((status = 200, description = "the file, as a download", content_type = "application/octet-stream", body = Vec<u8>)))]
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

#[utoipa::path(post, path = "/api/v1/cases/{id}/measures", tag = "cases", params(("id" = i64, Path)), request_body = super::measures::MeasureIn,
    responses((status = 201, description = "the coercive measure", headers(("Location" = String, description = "where what was created is read")), body = Object),
              (status = 409, description = "`wrong-stage`", body = ApiError)))]
async fn add_measure(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
    ApiJson(m): ApiJson<super::measures::MeasureIn>,
) -> Result<Created<Value>, ApiError> {
    // A measure is read, and acted on, as part of its case.
    Ok(created(format!("/api/v1/cases/{id}"), super::measures::add_measure(&state, &p, &p.actor(ip), id, m).await?))
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/measures/{measure}/actions", tag = "cases",
    params(("id" = i64, Path), ("measure" = i64, Path)), request_body = super::measures::MeasureAction,
    responses((status = 200, description = "the measure after the action", body = Object),
              (status = 409, description = "`conflict`: not now", body = ApiError)))]
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
#[utoipa::path(get, path = "/api/v1/cases/{id}/documents/{document}", tag = "cases",
    params(("id" = i64, Path), ("document" = i64, Path)),
    responses((status = 200, description = "the document's page, its hash in `X-Content-SHA256`", content_type = "text/html", body = String)))]
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

#[utoipa::path(get, path = "/api/v1/cases/{id}/dossier", tag = "cases", params(("id" = i64, Path)),
    responses((status = 200, description = "the dossier's index", body = Object)))]
async fn dossier(State(state): State<AppState>, Caller(p): Caller, Path(id): Path<i64>) -> Answer {
    Ok(Json(super::dossier::index(&state, &p, id).await?))
}

#[utoipa::path(get, path = "/api/v1/cases/{id}/dossier.zip", tag = "cases", params(("id" = i64, Path)),
    responses((status = 200, description = "the dossier as an archive", content_type = "application/zip", body = Vec<u8>)))]
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
#[utoipa::path(get, path = "/api/v1/cases/{id}/replay", tag = "cases", params(("id" = i64, Path)),
    responses((status = 200, description = "each stored assessment run again under its version", body = Object),
              (status = 502, description = "a plugin version failed", body = ApiError)))]
async fn replay(State(state): State<AppState>, Caller(p): Caller, Path(id): Path<i64>) -> Answer {
    let (k, _) = workflow::visible(&state, &p, id).await?;
    let outcomes = super::replay::replay(&state.db, &state.runtime, k.id).await?;
    let same = outcomes.iter().all(|o| o.same);
    Ok(Json(json!({"case": k.number, "all_same": same, "assessments": outcomes})))
}

#[utoipa::path(post, path = "/api/v1/operations", tag = "cases", request_body = operations::OperationIn,
    responses((status = 201, description = "the joint operation", headers(("Location" = String, description = "where what was created is read")), body = Object),
              (status = 409, description = "`conflict`", body = ApiError)))]
async fn create_operation(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(o): ApiJson<operations::OperationIn>,
) -> Result<Created<Value>, ApiError> {
    let v = operations::create(&state, &p, &p.actor(ip), o).await?;
    Ok(created(format!("/api/v1/operations/{}", v["id"]), v))
}

#[utoipa::path(get, path = "/api/v1/operations", tag = "cases",
    responses((status = 200, description = "the operations", body = Object)))]
async fn list_operations(State(state): State<AppState>, Caller(p): Caller) -> Answer {
    Ok(Json(operations::list(&state, &p).await?))
}

#[utoipa::path(get, path = "/api/v1/operations/{id}", tag = "cases", params(("id" = i64, Path)),
    responses((status = 200, description = "one operation with its cases", body = Object)))]
async fn operation(State(state): State<AppState>, Caller(p): Caller, Path(id): Path<i64>) -> Answer {
    Ok(Json(operations::view(&state, &p, id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct OfficersIn {
    officers: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/operations/{id}/officers", tag = "cases", params(("id" = i64, Path)), request_body = OfficersIn,
    responses((status = 200, description = "the operation", body = Object)))]
async fn operation_officers(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<OfficersIn>,
) -> Answer {
    Ok(Json(operations::add_officers(&state, &p, id, b.officers).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SpawnBody {
    cases: Vec<operations::SpawnIn>,
}

#[utoipa::path(post, path = "/api/v1/operations/{id}/cases", tag = "cases", params(("id" = i64, Path)), request_body = SpawnBody,
    responses((status = 201, description = "the cases opened under the operation", headers(("Location" = String, description = "where what was created is read")), body = Object)))]
async fn operation_cases(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<SpawnBody>,
) -> Result<Created<Value>, ApiError> {
    // Many cases at once: the operation shows them with its progress.
    Ok(created(format!("/api/v1/operations/{id}"), operations::spawn(&state, &p, &p.actor(ip), id, b.cases).await?))
}

/// The full-process record checked end to end (admins and legal reviewers).
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "cases",
    responses((status = 200, description = "the record's hash chain checked end to end", body = Object)))]
async fn audit_verify(State(state): State<AppState>, Caller(p): Caller) -> Answer {
    p.require(&[Role::Admin, Role::LegalReviewer])?;
    let r = &state.record;
    let report = super::audit::verify(&state.db, Some(r.key()), r.checkpoint().as_ref()).await?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}
