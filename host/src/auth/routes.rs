//! `/api/v1/auth/*` (sign-in, sign-out, the caller, password change, citizen registration) and
//! `/api/v1/tokens` (the caller's API tokens). The work is in [`super::service`]; here are the
//! requests it reads and the answers, with the session cookie, it gives.

use super::AuthSettings;
use super::extract::{Caller, ClientIp, MaybeCaller, cookie};
use super::service::{
    self, IssuedToken, LoginBody, Me, NewTokenBody, PasswordBody, RegisterBody, Registered, TokenList,
};
use crate::api_error::ApiError;
use crate::server::{ApiJson, AppState};
use crate::store::rfc3339;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/auth/password", post(change_password))
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
}

async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let settings = &state.auth.settings;
    let signed_in = service::sign_in(&state, ip, cookie(&headers, settings.session_cookie()), body).await?;
    let s = signed_in.session;
    let max_age = i64::from(settings.session_max_hours) * 3600;
    let mut r = Json(json!({"user": signed_in.user, "csrf_token": s.csrf_token, "expires_at": rfc3339(s.expires_at)}))
        .into_response();
    r.headers_mut().insert(header::SET_COOKIE, session_cookie(&s.id, max_age, settings));
    Ok(r)
}

fn session_cookie(value: &str, max_age: i64, settings: &AuthSettings) -> HeaderValue {
    // HttpOnly: page scripts cannot read it. SameSite=Lax: other sites' forms do not carry it.
    // No Domain: it goes back to this host only (which the `__Host-` name over HTTPS requires).
    let name = settings.session_cookie();
    let secure = if settings.cookie_secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"))
        .expect("a cookie of URL-safe characters")
}

async fn logout(State(state): State<AppState>, ip: ClientIp, Caller(p): Caller) -> Result<Response, ApiError> {
    service::sign_out(&state, &p, ip).await?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    // An empty cookie that expires at once: the browser forgets the session too.
    r.headers_mut().insert(header::SET_COOKIE, session_cookie("", 0, &state.auth.settings));
    Ok(r)
}

async fn me(State(state): State<AppState>, Caller(p): Caller) -> Result<Json<Me>, ApiError> {
    Ok(Json(service::me(&state, &p).await?))
}

async fn change_password(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    service::change_password(&state, &p, ip, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    MaybeCaller(caller): MaybeCaller,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let registered = service::register(&state, ip, caller.as_ref(), body).await?;
    Ok((StatusCode::CREATED, Json(registered)))
}

async fn list_tokens(State(state): State<AppState>, Caller(p): Caller) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(service::tokens(&state, p.user_id).await?))
}

async fn create_token(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    Ok((StatusCode::CREATED, Json(service::issue_token(&state, &p, ip, p.user_id, &body).await?)))
}

async fn revoke_token(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    service::revoke_token(&state, &p, ip, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
