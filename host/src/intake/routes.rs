//! `/api/v1/reports` (intake, the teams' lists and actions), `/api/v1/track/{code}` (the citizen's
//! side) and `/api/v1/grid`. The handlers read the request and shape the answer; the work is in
//! [`super::service`] and [`submit`].

use super::service::{self, Action, CodeError, ListQuery, Rating, Reopen};
use super::{NewReport, Receipt, submit};
use crate::api_error::ApiError;
use crate::api_error::too_many;
use crate::auth::extract::{Caller, ClientIp, MaybeCaller};
use crate::server::{ApiJson, AppState, created};
use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub fn routes(max_upload: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list).layer(axum::extract::DefaultBodyLimit::max(max_upload)))
        .routes(routes!(one))
        .routes(routes!(act))
        .routes(routes!(attachment))
        .routes(routes!(track))
        .routes(routes!(rate))
        .routes(routes!(reopen))
        .routes(routes!(grid))
        .routes(routes!(import_grid).layer(axum::extract::DefaultBodyLimit::max(32 << 20)))
}

/// `POST /api/v1/reports`: JSON, or multipart with a `report` part (JSON) and `photos` files.
#[utoipa::path(post, path = "/api/v1/reports", tag = "reports", security((), ("token" = []), ("session" = [])),
    request_body(content((NewReport = "application/json"), (Object = "multipart/form-data")),
                 description = "the report as JSON, or multipart: a `report` part (that JSON) and `photos` files"),
    responses((status = 201, description = "received: the tracking code and where the report went", headers(("Location" = String, description = "where what was created is read")), body = Receipt),
              (status = 422, description = "the envelope or the domain's form refused it; `field` names the first", body = ApiError),
              (status = 429, description = "`rate-limited`, with `Retry-After`", body = ApiError),
              (status = 502, description = "the plugin crashed or broke the contract", body = ApiError)))]
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
        // The reporter's own view of it: the tracking code is theirs to follow it by.
        Ok(receipt) => created(format!("/api/v1/track/{}", receipt.tracking_code), receipt).into_response(),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(get, path = "/api/v1/reports", tag = "reports", params(ListQuery),
    responses((status = 200, description = "`{reports}` the caller sees, newest first", body = Object)))]
async fn list(
    State(state): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(service::list(&state, &p, &q).await?))
}

#[utoipa::path(get, path = "/api/v1/reports/{id}", tag = "reports", params(("id" = i64, Path)),
    responses((status = 200, description = "the report with its timeline", body = Object)))]
async fn one(State(state): State<AppState>, Caller(p): Caller, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    Ok(Json(service::report(&state, &p, id).await?))
}

#[utoipa::path(get, path = "/api/v1/reports/{id}/attachments/{attachment}", tag = "reports",
    params(("id" = i64, Path), ("attachment" = i64, Path)),
    responses((status = 200, description = "the photo", content_type = "application/octet-stream", body = Vec<u8>)))]
async fn attachment(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((id, aid)): Path<(i64, i64)>,
) -> Result<Response, ApiError> {
    let file = service::attachment(&state, &p, id, aid).await?;
    Ok(([(header::CONTENT_TYPE, file.media_type)], file.bytes).into_response())
}

#[utoipa::path(post, path = "/api/v1/reports/{id}/actions", tag = "reports", params(("id" = i64, Path)), request_body = Action,
    responses((status = 200, description = "the report after the action", body = Object),
              (status = 409, description = "`conflict`: not in this status", body = ApiError)))]
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

#[utoipa::path(get, path = "/api/v1/track/{code}", tag = "reports", params(("code" = String, Path, description = "the tracking code")),
    responses((status = 200, description = "what the citizen may see of their report", body = Object),
              (status = 429, description = "`rate-limited`, with `Retry-After`", body = ApiError)))]
async fn track(State(state): State<AppState>, ip: ClientIp, Path(code): Path<String>) -> Response {
    by_code(service::track(&state, ip.0, &code).await.map(Json))
}

#[utoipa::path(post, path = "/api/v1/track/{code}/rating", tag = "reports", params(("code" = String, Path)), request_body = Rating,
    responses((status = 204, description = "rated"),
              (status = 409, description = "`conflict`, `already-rated`", body = ApiError),
              (status = 429, description = "`rate-limited`", body = ApiError)))]
async fn rate(
    State(state): State<AppState>,
    ip: ClientIp,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<Rating>,
) -> Response {
    by_code(service::rate(&state, ip.0, &code, body).await.map(|()| StatusCode::NO_CONTENT))
}

#[utoipa::path(post, path = "/api/v1/track/{code}/reopen", tag = "reports", params(("code" = String, Path)), request_body = Reopen,
    responses((status = 200, description = "reopened: the status and the new response time", body = Object),
              (status = 409, description = "`conflict`: not closed, or past the window", body = ApiError),
              (status = 429, description = "`rate-limited`", body = ApiError)))]
async fn reopen(
    State(state): State<AppState>,
    ip: ClientIp,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<Reopen>,
) -> Response {
    by_code(service::reopen(&state, ip.0, &code, body).await.map(Json))
}

#[utoipa::path(get, path = "/api/v1/grid", tag = "reports",
    responses((status = 200, description = "the grid's cells as GeoJSON", body = Object)))]
async fn grid(State(state): State<AppState>, Caller(p): Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(service::grid(&state, &p).await?))
}

#[utoipa::path(post, path = "/api/v1/grid/import", tag = "reports", request_body(content = Object, description = "a GeoJSON FeatureCollection of cells"),
    responses((status = 200, description = "what was imported", body = Object)))]
async fn import_grid(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(doc): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(service::import_grid(&state, &p, &p.actor(ip), &doc).await?))
}
