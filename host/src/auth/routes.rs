//! `/api/v1/auth/*` (sign-in, sign-out, the caller, password change, citizen registration) and
//! `/api/v1/tokens` (the caller's API tokens). The work is in [`super::service`]; here are the
//! requests it reads and the answers, with the session cookie, it gives.

use super::AuthSettings;
use super::extract::{Caller, ClientIp, MaybeCaller, cookie};
use super::service::{
    self, IssuedToken, LoginBody, Me, NewTokenBody, PasswordBody, RegisterBody, Registered, TokenList,
};
use crate::api_error::ApiError;
use crate::server::{ApiJson, AppState, Created, created};
use crate::store::rfc3339;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(register))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody, security(()),
    responses((status = 200, description = "signed in: `{user, csrf_token, expires_at}` and the session cookie", body = Object),
              (status = 401, description = "`invalid-credentials`", body = ApiError),
              (status = 403, description = "`disabled`", body = ApiError),
              (status = 429, description = "`account-locked`, `rate-limited`, with `Retry-After`", body = ApiError)))]
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

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "signed out; the cookie is cleared"),
              (status = 400, description = "`not-a-session`: an API token is revoked, not signed out", body = ApiError)))]
async fn logout(State(state): State<AppState>, ip: ClientIp, Caller(p): Caller) -> Result<Response, ApiError> {
    service::sign_out(&state, &p, ip).await?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    // An empty cookie that expires at once: the browser forgets the session too.
    r.headers_mut().insert(header::SET_COOKIE, session_cookie("", 0, &state.auth.settings));
    Ok(r)
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, description = "the caller's account and CSRF token", body = Object)))]
async fn me(State(state): State<AppState>, Caller(p): Caller) -> Result<Json<Me>, ApiError> {
    Ok(Json(service::me(&state, &p).await?))
}

#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordBody,
    responses((status = 204, description = "changed; the account's other sessions end"),
              (status = 429, description = "`rate-limited`", body = ApiError)))]
async fn change_password(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    service::change_password(&state, &p, ip, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterBody, security(()),
    responses((status = 201, description = "a citizen's account", headers(("Location" = String, description = "where what was created is read")), body = Object),
              (status = 409, description = "`conflict`: the login is taken", body = ApiError),
              (status = 429, description = "`rate-limited`", body = ApiError)))]
async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    MaybeCaller(caller): MaybeCaller,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<Created<Registered>, ApiError> {
    let registered = service::register(&state, ip, caller.as_ref(), body).await?;
    // The account is read by its holder once signed in.
    Ok(created("/api/v1/auth/me".into(), registered))
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "auth",
    responses((status = 200, description = "the caller's API tokens (never the secrets)", body = Object)))]
async fn list_tokens(State(state): State<AppState>, Caller(p): Caller) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(service::tokens(&state, p.user_id).await?))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "auth", request_body = NewTokenBody,
    responses((status = 201, description = "the new token, shown once", headers(("Location" = String, description = "where what was created is read")), body = Object)))]
async fn create_token(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> Result<Created<IssuedToken>, ApiError> {
    let t = service::issue_token(&state, &p, ip, p.user_id, &body).await?;
    Ok(created(format!("/api/v1/tokens/{}", t.info.id), t))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "auth", params(("id" = i64, Path)),
    responses((status = 204, description = "revoked")))]
async fn revoke_token(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    service::revoke_token(&state, &p, ip, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
