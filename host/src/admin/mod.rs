//! Administration over HTTP: accounts, roles and certifications, the organisation, Open311 client
//! keys and the security log. The rules themselves are in [`ops`], which the command line shares.

pub mod ops;

use crate::api_error::ApiError;
use crate::auth::extract::{Caller, ClientIp};
use crate::auth::service::{self, IssuedToken, NewTokenBody, TokenList};
use crate::auth::store;
use crate::auth::{Principal, Role};
use crate::server::{ApiJson, AppState};
use crate::store::rfc3339;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{id}", get(get_user))
        .route("/api/v1/users/{id}/disable", post(disable_user))
        .route("/api/v1/users/{id}/enable", post(enable_user))
        .route("/api/v1/users/{id}/reset-password", post(reset_password))
        .route("/api/v1/users/{id}/grants", post(grant))
        .route("/api/v1/users/{id}/grants/{grant}", delete(revoke))
        .route("/api/v1/users/{id}/certifications/{domain}", put(certify).delete(uncertify))
        .route("/api/v1/users/{id}/tokens", get(user_tokens).post(create_user_token))
        .route("/api/v1/org", get(org))
        .route("/api/v1/org/departments", post(create_department))
        .route("/api/v1/org/teams", post(create_team))
        .route("/api/v1/org/import", post(import_org))
        .route("/api/v1/open311-keys", get(list_keys).post(create_key))
        .route("/api/v1/open311-keys/{id}", delete(revoke_key))
        .route("/api/v1/security-events", get(security_events))
}

type Answer = Result<Json<Value>, ApiError>;

fn admin(p: &Principal) -> Result<(), ApiError> {
    p.require(&[Role::Admin])
}

async fn list_users(State(state): State<AppState>, Caller(p): Caller) -> Answer {
    Ok(Json(json!({ "users": ops::list_users(&state.db, &p).await? })))
}

async fn get_user(State(state): State<AppState>, Caller(p): Caller, Path(id): Path<i64>) -> Answer {
    Ok(Json(json!({ "user": ops::user(&state.db, &p, id).await? })))
}

async fn create_user(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(body): ApiJson<ops::UserIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin(&p)?;
    let created = ops::create_user(&state.db, &p.actor(ip), &body).await?;
    Ok((StatusCode::CREATED, Json(json!(created))))
}

async fn disable_user(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    admin(&p)?;
    ops::set_disabled(&state.db, &p.actor(ip), id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn enable_user(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    admin(&p)?;
    ops::set_disabled(&state.db, &p.actor(ip), id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reset_password(State(state): State<AppState>, ip: ClientIp, Caller(p): Caller, Path(id): Path<i64>) -> Answer {
    admin(&p)?;
    let otp = ops::reset_password(&state.db, &p.actor(ip), id).await?;
    Ok(Json(json!({ "one_time_password": otp })))
}

async fn grant(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<ops::RoleIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin(&p)?;
    let (grant, new) = ops::grant_role(&state.db, &p.actor(ip), id, &body).await?;
    Ok((if new { StatusCode::CREATED } else { StatusCode::OK }, Json(json!({ "id": grant }))))
}

async fn revoke(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path((id, grant)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    admin(&p)?;
    ops::revoke_role(&state.db, &p.actor(ip), id, grant).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CertBody {
    number: String,
    valid_until: String,
}

async fn certify(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path((id, domain)): Path<(i64, String)>,
    ApiJson(body): ApiJson<CertBody>,
) -> Answer {
    admin(&p)?;
    let c = ops::CertIn { domain, number: body.number, valid_until: body.valid_until };
    let cert = ops::certify(&state.db, &p.actor(ip), id, &c).await?;
    Ok(Json(json!({ "certification": cert })))
}

async fn uncertify(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path((id, domain)): Path<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    admin(&p)?;
    ops::uncertify(&state.db, &p.actor(ip), id, &domain).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn user_tokens(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<i64>,
) -> Result<Json<TokenList>, ApiError> {
    if id != p.user_id {
        admin(&p)?;
    }
    Ok(Json(service::tokens(&state, id).await?))
}

/// An admin makes a token for another account: a machine client's (an Open311 bridge, a reporting
/// job) that has no person to sign in.
async fn create_user_token(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    admin(&p)?;
    Ok((StatusCode::CREATED, Json(service::issue_token(&state, &p, ip, id, &body).await?)))
}

async fn org(State(state): State<AppState>, Caller(p): Caller) -> Answer {
    if !p.is_staff() {
        return Err(ApiError::forbidden("the organisation is visible to the bureau's staff"));
    }
    Ok(Json(json!(ops::org(&state.db).await?)))
}

async fn create_department(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(body): ApiJson<ops::DepartmentIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin(&p)?;
    let id = ops::create_department(&state.db, &p.actor(ip), &body).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "code": body.code }))))
}

async fn create_team(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(body): ApiJson<ops::TeamIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin(&p)?;
    let id = ops::create_team(&state.db, &p.actor(ip), &body).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "code": body.code }))))
}

async fn import_org(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(body): ApiJson<ops::OrgDoc>,
) -> Answer {
    admin(&p)?;
    Ok(Json(json!(ops::import_org(&state.db, &p.actor(ip), &body).await?)))
}

fn key_json(k: &store::Open311Key) -> Value {
    json!({"id": k.id, "client": k.client, "prefix": k.prefix, "created_at": rfc3339(k.created_at),
           "last_used_at": k.last_used_at.map(rfc3339), "revoked_at": k.revoked_at.map(rfc3339), "reads": k.reads})
}

async fn list_keys(State(state): State<AppState>, Caller(p): Caller) -> Answer {
    admin(&p)?;
    let keys: Vec<Value> = ops::open311_keys(&state.db).await?.iter().map(key_json).collect();
    Ok(Json(json!({ "keys": keys })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    client: String,
    /// `public` (the default) or `all`.
    #[serde(default)]
    reads: Option<String>,
}

async fn create_key(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(body): ApiJson<KeyBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin(&p)?;
    let k = ops::create_open311_key(&state.db, &p.actor(ip), &body.client, body.reads.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "api_key": k.key, "info": key_json(&k.info) }))))
}

async fn revoke_key(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    admin(&p)?;
    ops::revoke_open311_key(&state.db, &p.actor(ip), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    kind: Option<String>,
    subject: Option<i64>,
    limit: Option<i64>,
}

async fn security_events(State(state): State<AppState>, Caller(p): Caller, Query(q): Query<EventQuery>) -> Answer {
    admin(&p)?;
    let events = ops::security_events(&state.db, q.kind.as_deref(), q.subject, q.limit).await?;
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| {
            json!({"id": e.id, "at": rfc3339(e.at), "kind": e.kind, "actor_id": e.actor_id, "actor": e.actor,
                   "subject_id": e.subject_id, "source": e.source, "detail": e.detail})
        })
        .collect();
    Ok(Json(json!({ "events": events })))
}
