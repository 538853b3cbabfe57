//! Administration over HTTP: accounts, roles and certifications, the organisation, Open311 client
//! keys and the security log. The rules themselves are in [`ops`], which the command line shares.

pub mod ops;

use crate::api_error::ApiError;
use crate::auth::extract::{Caller, ClientIp};
use crate::auth::routes::{tokens_json, user_view};
use crate::auth::store;
use crate::auth::{Principal, Role, TeamSet, secrets};
use crate::server::{ApiJson, AppState};
use crate::store::{StoreError, rfc3339};
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

async fn conn(state: &AppState) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, ApiError> {
    Ok(state.db.pool().acquire().await.map_err(StoreError::from)?)
}

fn admin(p: &Principal) -> Result<(), ApiError> {
    p.require(&[Role::Admin])
}

/// Staff who see people: admins all; leaders, dispatchers, legal reviewers, team leads and
/// officers those holding roles in the teams they see. Citizens and publishers see no one else.
fn people_scope(p: &Principal, org: &store::OrgIndex) -> Result<TeamSet, ApiError> {
    if p.is_admin() {
        return Ok(TeamSet::All);
    }
    p.require(&[Role::Dispatcher, Role::Officer, Role::TeamLead, Role::LegalReviewer, Role::Leader])?;
    Ok(p.team_set(org))
}

async fn list_users(State(state): State<AppState>, Caller(p): Caller) -> Answer {
    let mut c = conn(&state).await?;
    let org = store::org_index(&mut c).await?;
    let scope = people_scope(&p, &org)?;
    let rows = match &scope {
        TeamSet::All if p.is_admin() => store::list_users(&mut c, None).await?,
        // Staff with an all-scope role see every member of every team, never citizens.
        TeamSet::All => store::list_users(&mut c, Some(&org.teams.iter().map(|t| t.id).collect::<Vec<_>>())).await?,
        TeamSet::Some(teams) => store::list_users(&mut c, Some(teams)).await?,
    };
    let mut users = Vec::with_capacity(rows.len());
    for u in rows {
        let personal = p.is_admin() || u.id == p.user_id;
        users.push(user_view(&mut c, u, &org, personal).await?);
    }
    Ok(Json(json!({ "users": users })))
}

async fn get_user(State(state): State<AppState>, Caller(p): Caller, Path(id): Path<i64>) -> Answer {
    let mut c = conn(&state).await?;
    let org = store::org_index(&mut c).await?;
    let own = id == p.user_id;
    if !own {
        let scope = people_scope(&p, &org)?;
        let grants = store::grants_of(&mut c, id).await?;
        let visible = p.is_admin()
            || grants.iter().any(|g| match g.scope {
                crate::auth::Scope::Team(t) => scope.contains(t),
                _ => false,
            });
        if !visible {
            // Whether an account exists outside one's scope is not told either.
            return Err(ApiError::not_found("account", &id.to_string()));
        }
    }
    let u = store::user_by_id(&mut c, id).await?.ok_or_else(|| ApiError::not_found("account", &id.to_string()))?;
    let personal = own || p.is_admin();
    Ok(Json(json!({ "user": user_view(&mut c, u, &org, personal).await? })))
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

async fn user_tokens(State(state): State<AppState>, Caller(p): Caller, Path(id): Path<i64>) -> Answer {
    if id != p.user_id {
        admin(&p)?;
    }
    let mut c = conn(&state).await?;
    tokens_json(&mut c, id).await
}

/// An admin makes a token for another account: a machine client's (an Open311 bridge, a reporting
/// job) that has no person to sign in.
async fn create_user_token(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<crate::auth::routes::NewTokenBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin(&p)?;
    crate::auth::routes::issue_token(&state, &p, ip, id, &body).await
}

async fn org(State(state): State<AppState>, Caller(p): Caller) -> Answer {
    if !p.is_staff() {
        return Err(ApiError::forbidden("the organisation is visible to the bureau's staff"));
    }
    let mut c = conn(&state).await?;
    Ok(Json(json!(store::org_index(&mut c).await?)))
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
           "last_used_at": k.last_used_at.map(rfc3339), "revoked_at": k.revoked_at.map(rfc3339)})
}

async fn list_keys(State(state): State<AppState>, Caller(p): Caller) -> Answer {
    admin(&p)?;
    let mut c = conn(&state).await?;
    let keys: Vec<Value> = store::open311_keys(&mut c).await?.iter().map(key_json).collect();
    Ok(Json(json!({ "keys": keys })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    client: String,
}

async fn create_key(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(body): ApiJson<KeyBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin(&p)?;
    let client = body.client.trim();
    if client.is_empty() || client.chars().count() > 64 {
        return Err(
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-name", "1 to 64 characters").field("client")
        );
    }
    let key = secrets::new_token("cgk_");
    let mut tx = state.db.write().await?;
    let k = store::insert_open311_key(&mut tx, client, &secrets::token_hash(&key), &key[..10], Some(p.user_id)).await?;
    store::record(&mut tx, "open311-key-created", &p.actor(ip), None, json!({"key_id": k.id, "client": client}))
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok((StatusCode::CREATED, Json(json!({ "api_key": key, "info": key_json(&k) }))))
}

async fn revoke_key(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    admin(&p)?;
    let mut tx = state.db.write().await?;
    if !store::revoke_open311_key(&mut tx, id).await? {
        return Err(ApiError::not_found("live Open311 key", &id.to_string()));
    }
    store::record(&mut tx, "open311-key-revoked", &p.actor(ip), None, json!({"key_id": id})).await?;
    tx.commit().await.map_err(StoreError::from)?;
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
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let mut c = conn(&state).await?;
    let events = store::events(&mut c, q.kind.as_deref(), q.subject, limit).await?;
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| {
            json!({"id": e.id, "at": rfc3339(e.at), "kind": e.kind, "actor_id": e.actor_id, "actor": e.actor,
                   "subject_id": e.subject_id, "source": e.source, "detail": e.detail})
        })
        .collect();
    Ok(Json(json!({ "events": events })))
}
