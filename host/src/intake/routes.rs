//! `/api/v1/reports` (intake, the teams' lists and actions), `/api/v1/track/{code}` (the citizen's
//! side) and `/api/v1/grid`. The handlers read the request and shape the answer; the work is in
//! [`super::service`] and [`submit`].

use super::service::{self, Action, CodeError, ListQuery, Rating, Reopen};
use super::submit;
use crate::api_error::ApiError;
use crate::api_error::too_many;
use crate::auth::extract::{Caller, ClientIp, MaybeCaller};
use crate::server::{ApiJson, AppState};
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

pub fn routes(max_upload: usize) -> Router<AppState> {
    Router::new()
        .route("/api/v1/reports", post(create).get(list).layer(axum::extract::DefaultBodyLimit::max(max_upload)))
        .route("/api/v1/reports/{id}", get(one))
        .route("/api/v1/reports/{id}/actions", post(act))
        .route("/api/v1/reports/{id}/attachments/{attachment}", get(attachment))
        .route("/api/v1/track/{code}", get(track))
        .route("/api/v1/track/{code}/rating", post(rate))
        .route("/api/v1/track/{code}/reopen", post(reopen))
        .route("/api/v1/grid", get(grid))
        .route("/api/v1/grid/import", post(import_grid).layer(axum::extract::DefaultBodyLimit::max(32 << 20)))
}

/// `POST /api/v1/reports`: JSON, or multipart with a `report` part (JSON) and `photos` files.
async fn create(
    State(state): State<AppState>,
    ip: ClientIp,
    MaybeCaller(caller): MaybeCaller,
    req: Request,
) -> Response {
    if let Err(l) = service::check_limit(&state, ip.0) {
        return too_many("rate-limited", "too many reports from this address", l.retry_after_secs);
    }
    let origin = service::web_origin(caller.as_ref(), ip.0);
    let read = match super::upload::read_report(&state, req).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    // The photos hold their share of the upload budget until the report is stored or refused.
    let answer = submit(&state, origin, read.report, read.uploads).await;
    drop(read.held);
    match answer {
        Ok(receipt) => (StatusCode::CREATED, Json(receipt)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn list(
    State(state): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(service::list(&state, &p, &q).await?))
}

async fn one(State(state): State<AppState>, Caller(p): Caller, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    Ok(Json(service::report(&state, &p, id).await?))
}

async fn attachment(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((id, aid)): Path<(i64, i64)>,
) -> Result<Response, ApiError> {
    let file = service::attachment(&state, &p, id, aid).await?;
    Ok(([(header::CONTENT_TYPE, file.media_type)], file.bytes).into_response())
}

async fn act(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
    ApiJson(action): ApiJson<Action>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(service::act(&state, &p, &p.actor(ip), id, action).await?))
}

// ---- the citizen's side: the tracking code is the key ----

/// The answer to a request by tracking code: 429 with `Retry-After` over the address's budget.
fn by_code(result: Result<impl IntoResponse, CodeError>) -> Response {
    match result {
        Ok(v) => v.into_response(),
        Err(CodeError::Limited(l)) => {
            too_many("rate-limited", "too many requests from this address", l.retry_after_secs)
        }
        Err(CodeError::Failed(e)) => e.into_response(),
    }
}

async fn track(State(state): State<AppState>, ip: ClientIp, Path(code): Path<String>) -> Response {
    by_code(service::track(&state, ip.0, &code).await.map(Json))
}

async fn rate(
    State(state): State<AppState>,
    ip: ClientIp,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<Rating>,
) -> Response {
    by_code(service::rate(&state, ip.0, &code, body).await.map(|()| StatusCode::NO_CONTENT))
}

async fn reopen(
    State(state): State<AppState>,
    ip: ClientIp,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<Reopen>,
) -> Response {
    by_code(service::reopen(&state, ip.0, &code, body).await.map(Json))
}

async fn grid(State(state): State<AppState>, Caller(p): Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(service::grid(&state, &p).await?))
}

async fn import_grid(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(doc): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(service::import_grid(&state, &p, &p.actor(ip), &doc).await?))
}
