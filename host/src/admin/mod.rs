//! Administration over HTTP: accounts, roles and certifications, the organisation, Open311 client
//! keys and the security log. The rules themselves are in [`ops`], which the command line shares.

pub mod ops;

use crate::api_error::ApiError;
use crate::auth::extract::{Caller, ClientIp};
use crate::auth::service::{self, IssuedToken, NewTokenBody, TokenList};
use crate::auth::store;
use crate::auth::{Principal, Role};
use crate::server::{ApiJson, AppState, Created, created};
use crate::store::rfc3339;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(reset_password))
        .routes(routes!(grant))
        .routes(routes!(revoke))
        .routes(routes!(certify, uncertify))
        .routes(routes!(user_tokens, create_user_token))
        .routes(routes!(org))
        .routes(routes!(create_department))
        .routes(routes!(create_team))
        .routes(routes!(import_org))
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(security_events))
}

type Answer = Result<Json<Value>, ApiError>;

fn admin(p: &Principal) -> Result<(), ApiError> {
    p.require(&[Role::Admin])
}

#[utoipa::path(get, path = "/api/v1/users", tag = "admin",
    responses((status = 200, description = "the accounts in the caller's scope", body = Object)))]
async fn list_users(State(state): State<AppState>, Caller(p): Caller) -> Answer {
    Ok(Json(json!({ "users": ops::list_users(&state.db, &p).await? })))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, description = "one account", body = Object)))]
async fn get_user(State(state): State<AppState>, Caller(p): Caller, Path(id): Path<i64>) -> Answer {
    Ok(Json(json!({ "user": ops::user(&state.db, &p, id).await? })))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = ops::UserIn,
    responses((status = 201, description = "the account and its one-time password", headers(("Location" = String, description = "where what was created is read")), body = Object),
              (status = 409, description = "`conflict`: the login is taken", body = ApiError)))]
async fn create_user(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(body): ApiJson<ops::UserIn>,
) -> Result<Created<Value>, ApiError> {
    admin(&p)?;
    let user = ops::create_user(&state.db, &p.actor(ip), &body).await?;
    Ok(created(format!("/api/v1/users/{}", user.id), json!(user)))
}

#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "admin", params(("id" = i64, Path)),
    responses((status = 204, description = "disabled: its sessions end, its tokens stop")))]
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

#[utoipa::path(post, path = "/api/v1/users/{id}/enable", tag = "admin", params(("id" = i64, Path)),
    responses((status = 204, description = "enabled")))]
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

#[utoipa::path(post, path = "/api/v1/users/{id}/reset-password", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, description = "`{one_time_password}`", body = Object)))]
async fn reset_password(State(state): State<AppState>, ip: ClientIp, Caller(p): Caller, Path(id): Path<i64>) -> Answer {
    admin(&p)?;
    let otp = ops::reset_password(&state.db, &p.actor(ip), id).await?;
    Ok(Json(json!({ "one_time_password": otp })))
}

#[utoipa::path(post, path = "/api/v1/users/{id}/grants", tag = "admin", params(("id" = i64, Path)), request_body = ops::RoleIn,
    responses((status = 201, description = "granted: `{id}`", headers(("Location" = String, description = "where what was created is read")), body = Object),
              (status = 200, description = "held already: `{id}`", body = Object),
              (status = 409, description = "`conflict`", body = ApiError)))]
async fn grant(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<ops::RoleIn>,
) -> Result<Response, ApiError> {
    admin(&p)?;
    let (grant, new) = ops::grant_role(&state.db, &p.actor(ip), id, &body).await?;
    let body = json!({ "id": grant });
    Ok(if new {
        created(format!("/api/v1/users/{id}/grants/{grant}"), body).into_response()
    } else {
        Json(body).into_response()
    })
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/grants/{grant}", tag = "admin",
    params(("id" = i64, Path), ("grant" = i64, Path)),
    responses((status = 204, description = "revoked")))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CertBody {
    number: String,
    valid_until: String,
}

#[utoipa::path(put, path = "/api/v1/users/{id}/certifications/{domain}", tag = "admin",
    params(("id" = i64, Path), ("domain" = String, Path)), request_body = CertBody,
    responses((status = 200, description = "`{certification}`", body = Object)))]
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

#[utoipa::path(delete, path = "/api/v1/users/{id}/certifications/{domain}", tag = "admin",
    params(("id" = i64, Path), ("domain" = String, Path)),
    responses((status = 204, description = "withdrawn")))]
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

#[utoipa::path(get, path = "/api/v1/users/{id}/tokens", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, description = "the account's API tokens", body = Object)))]
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
#[utoipa::path(post, path = "/api/v1/users/{id}/tokens", tag = "admin", params(("id" = i64, Path)), request_body = NewTokenBody,
    responses((status = 201, description = "the new token, shown once", headers(("Location" = String, description = "where what was created is read")), body = Object)))]
async fn create_user_token(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> Result<Created<IssuedToken>, ApiError> {
    admin(&p)?;
    // The user's token list, where the new token is shown (without its secret) from now on.
    Ok(created(format!("/api/v1/users/{id}/tokens"), service::issue_token(&state, &p, ip, id, &body).await?))
}

#[utoipa::path(get, path = "/api/v1/org", tag = "admin",
    responses((status = 200, description = "departments and teams", body = Object)))]
async fn org(State(state): State<AppState>, Caller(p): Caller) -> Answer {
    if !p.is_staff() {
        return Err(ApiError::forbidden("the organisation is visible to the bureau's staff"));
    }
    Ok(Json(json!(ops::org(&state.db).await?)))
}

#[utoipa::path(post, path = "/api/v1/org/departments", tag = "admin", request_body = ops::DepartmentIn,
    responses((status = 201, description = "`{id, code}`", headers(("Location" = String, description = "where what was created is read")), body = Object),
              (status = 409, description = "`conflict`", body = ApiError)))]
async fn create_department(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(body): ApiJson<ops::DepartmentIn>,
) -> Result<Created<Value>, ApiError> {
    admin(&p)?;
    let id = ops::create_department(&state.db, &p.actor(ip), &body).await?;
    Ok(created("/api/v1/org".into(), json!({ "id": id, "code": body.code })))
}

#[utoipa::path(post, path = "/api/v1/org/teams", tag = "admin", request_body = ops::TeamIn,
    responses((status = 201, description = "`{id, code}`", headers(("Location" = String, description = "where what was created is read")), body = Object),
              (status = 409, description = "`conflict`", body = ApiError)))]
async fn create_team(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(body): ApiJson<ops::TeamIn>,
) -> Result<Created<Value>, ApiError> {
    admin(&p)?;
    let id = ops::create_team(&state.db, &p.actor(ip), &body).await?;
    Ok(created("/api/v1/org".into(), json!({ "id": id, "code": body.code })))
}

#[utoipa::path(post, path = "/api/v1/org/import", tag = "admin", request_body = ops::OrgDoc,
    responses((status = 200, description = "what was created and what existed", body = Object),
              (status = 409, description = "`conflict`", body = ApiError)))]
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

#[utoipa::path(get, path = "/api/v1/open311-keys", tag = "admin",
    responses((status = 200, description = "`{keys}`", body = Object)))]
async fn list_keys(State(state): State<AppState>, Caller(p): Caller) -> Answer {
    admin(&p)?;
    let keys: Vec<Value> = ops::open311_keys(&state.db).await?.iter().map(key_json).collect();
    Ok(Json(json!({ "keys": keys })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    client: String,
    /// `public` (the default) or `all`.
    #[serde(default)]
    reads: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/open311-keys", tag = "admin", request_body = KeyBody,
    responses((status = 201, description = "`{api_key, info}`: the key is shown once", headers(("Location" = String, description = "where what was created is read")), body = Object)))]
async fn create_key(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(body): ApiJson<KeyBody>,
) -> Result<Created<Value>, ApiError> {
    admin(&p)?;
    let k = ops::create_open311_key(&state.db, &p.actor(ip), &body.client, body.reads.as_deref()).await?;
    Ok(created(format!("/api/v1/open311-keys/{}", k.info.id), json!({ "api_key": k.key, "info": key_json(&k.info) })))
}

#[utoipa::path(delete, path = "/api/v1/open311-keys/{id}", tag = "admin", params(("id" = i64, Path)),
    responses((status = 204, description = "revoked")))]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    kind: Option<String>,
    subject: Option<i64>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/security-events", tag = "admin", params(EventQuery),
    responses((status = 200, description = "`{events}`, newest first", body = Object)))]
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
