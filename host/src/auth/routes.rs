//! `/api/v1/auth/*` (sign-in, sign-out, the caller, password change, citizen registration) and
//! `/api/v1/tokens` (the caller's API tokens).

use super::extract::{Caller, ClientIp, MaybeCaller, SESSION_COOKIE, cookie};
use super::store::{self, Actor, OrgIndex, UserRow};
use super::{Certification, Credential, Principal, Role, Scope, secrets};
use crate::api_error::ApiError;
use crate::server::{ApiJson, AppState};
use crate::store::{now_ms, rfc3339};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
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

impl Principal {
    pub fn actor(&self, ip: ClientIp) -> Actor {
        Actor { id: Some(self.user_id), label: self.login.clone(), source: ip.0.to_string() }
    }

    /// 403 unless the caller holds one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.has_any(roles) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::forbidden(format!("this needs the role {}", names.join(" or "))))
        }
    }
}

/// 429 with `Retry-After`.
pub fn too_many(code: &'static str, message: &str, wait_secs: u64) -> Response {
    let mut r = ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message).into_response();
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait_secs.max(1)));
    r
}

#[derive(Serialize)]
pub struct GrantView {
    pub id: i64,
    pub role: Role,
    pub scope: String,
}

/// An account as the API shows it. E-mail and phone are personal data: only the account itself
/// and admins see them.
#[derive(Serialize)]
pub struct UserView {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub disabled: bool,
    pub must_change_password: bool,
    pub roles: Vec<GrantView>,
    pub certifications: Vec<Certification>,
    pub created_at: String,
}

pub async fn user_view(c: &mut store::Conn, u: UserRow, org: &OrgIndex, personal: bool) -> Result<UserView, ApiError> {
    let grants = store::grants_of(c, u.id).await?;
    let certifications = store::certifications_of(c, u.id).await?;
    Ok(UserView {
        id: u.id,
        // A citizen's login is their phone or e-mail: personal too.
        login: if personal || grants.iter().any(|g| g.role.is_staff()) { u.login } else { format!("citizen-{}", u.id) },
        display_name: u.display_name,
        email: u.email.filter(|_| personal),
        phone: u.phone.filter(|_| personal),
        disabled: u.disabled,
        must_change_password: u.must_change_password,
        roles: grants.iter().map(|g| GrantView { id: g.id, role: g.role, scope: org.scope_label(&g.scope) }).collect(),
        certifications,
        created_at: rfc3339(u.created_at),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    login: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginBody>,
) -> Response {
    match login_inner(&state, ip, &headers, body).await {
        Ok(r) | Err(r) => r,
    }
}

async fn login_inner(
    state: &AppState,
    ip: ClientIp,
    headers: &HeaderMap,
    body: LoginBody,
) -> Result<Response, Response> {
    let auth = &state.auth;
    if let Err(wait) = auth.login_limiter.check(ip.0) {
        return Err(too_many("rate-limited", "too many sign-in attempts from this address", wait.as_secs() + 1));
    }
    let err = |e: ApiError| e.into_response();
    let login = body.login.trim().to_lowercase();
    let mut c = state.db.pool().acquire().await.map_err(|e| err(crate::store::StoreError::from(e).into()))?;
    let user = store::user_by_login(&mut c, &login).await.map_err(|e| err(e.into()))?;
    let anon = Actor { id: None, label: login.clone(), source: ip.0.to_string() };
    if let Some(u) = &user
        && let Some(until) = u.locked_until.filter(|t| *t > now_ms())
    {
        store::record(&mut c, "sign-in-refused", &anon, Some(u.id), json!({"reason": "locked"}))
            .await
            .map_err(|e| err(e.into()))?;
        let wait = ((until - now_ms()) / 1000 + 1) as u64;
        return Err(too_many("account-locked", "too many failed sign-ins: the account is locked for a while", wait));
    }
    let (password, stored) = (body.password, user.as_ref().and_then(|u| u.password_hash.clone()));
    let ok = tokio::task::spawn_blocking(move || secrets::verify_password(&password, stored.as_deref()))
        .await
        .unwrap_or(false);
    let bad = || ApiError::new(StatusCode::UNAUTHORIZED, "bad-credentials", "wrong login or password").into_response();
    let Some(u) = user else {
        store::record(&mut c, "sign-in-failed", &anon, None, json!({"reason": "unknown login"}))
            .await
            .map_err(|e| err(e.into()))?;
        return Err(bad());
    };
    if !ok || u.disabled {
        let mut tx = state.db.write().await.map_err(|e| err(e.into()))?;
        let reason = if u.disabled { "disabled" } else { "wrong password" };
        let locked = if ok {
            None
        } else {
            store::record_login_failure(
                &mut tx,
                u.id,
                auth.settings.lockout_threshold,
                i64::from(auth.settings.lockout_minutes) * 60_000,
            )
            .await
            .map_err(|e| err(e.into()))?
        };
        store::record(&mut tx, "sign-in-failed", &anon, Some(u.id), json!({"reason": reason}))
            .await
            .map_err(|e| err(e.into()))?;
        if let Some(until) = locked {
            store::record(
                &mut tx,
                "account-locked",
                &Actor::system(),
                Some(u.id),
                json!({"until": rfc3339(until), "source": ip.0.to_string()}),
            )
            .await
            .map_err(|e| err(e.into()))?;
        }
        tx.commit().await.map_err(|e| err(crate::store::StoreError::from(e).into()))?;
        return Err(bad());
    }
    // Session fixation: a new id at every sign-in, and the one the browser brought is ended.
    let sid = secrets::new_token("cgs_");
    let csrf = secrets::new_token("");
    let expires_at = now_ms() + i64::from(auth.settings.session_max_hours) * 3_600_000;
    let mut tx = state.db.write().await.map_err(|e| err(e.into()))?;
    if let Some(old) = cookie(headers, SESSION_COOKIE) {
        store::delete_session(&mut tx, &secrets::token_hash(old)).await.map_err(|e| err(e.into()))?;
    }
    store::insert_session(&mut tx, &secrets::token_hash(&sid), u.id, &csrf, expires_at, &ip.0.to_string())
        .await
        .map_err(|e| err(e.into()))?;
    store::record_login_success(&mut tx, u.id).await.map_err(|e| err(e.into()))?;
    let actor = Actor { id: Some(u.id), label: u.login.clone(), source: ip.0.to_string() };
    store::record(&mut tx, "sign-in", &actor, Some(u.id), json!({})).await.map_err(|e| err(e.into()))?;
    tx.commit().await.map_err(|e| err(crate::store::StoreError::from(e).into()))?;
    let org = store::org_index(&mut c).await.map_err(|e| err(e.into()))?;
    let view = user_view(&mut c, u, &org, true).await.map_err(err)?;
    let max_age = i64::from(auth.settings.session_max_hours) * 3600;
    let mut r = Json(json!({"user": view, "csrf_token": csrf, "expires_at": rfc3339(expires_at)})).into_response();
    r.headers_mut().insert(header::SET_COOKIE, session_cookie(&sid, max_age, auth.settings.cookie_secure));
    Ok(r)
}

fn session_cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    // HttpOnly: page scripts cannot read it. SameSite=Lax: other sites' forms do not carry it.
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .expect("a cookie of URL-safe characters")
}

async fn logout(State(state): State<AppState>, ip: ClientIp, Caller(p): Caller) -> Result<Response, ApiError> {
    let Credential::Session { id_hash, .. } = &p.credential else {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "not-a-session", "API tokens are revoked, not signed out"));
    };
    let mut tx = state.db.write().await?;
    store::delete_session(&mut tx, id_hash).await?;
    store::record(&mut tx, "sign-out", &p.actor(ip), Some(p.user_id), json!({})).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(header::SET_COOKIE, session_cookie("", 0, state.auth.settings.cookie_secure));
    Ok(r)
}

async fn me(State(state): State<AppState>, Caller(p): Caller) -> Result<Json<serde_json::Value>, ApiError> {
    let mut c = state.db.pool().acquire().await.map_err(crate::store::StoreError::from)?;
    let u = store::user_by_id(&mut c, p.user_id).await?.ok_or_else(ApiError::unauthenticated)?;
    let org = store::org_index(&mut c).await?;
    let view = user_view(&mut c, u, &org, true).await?;
    let csrf = match &p.credential {
        Credential::Session { csrf_token, .. } => Some(csrf_token.clone()),
        Credential::ApiToken { .. } => None,
    };
    Ok(Json(json!({"user": view, "csrf_token": csrf})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    secrets::check_password_strength(&body.new_password, &p.login).map_err(|rule| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "weak-password", format!("the new password {rule}"))
            .field("new_password")
    })?;
    let mut c = state.db.pool().acquire().await.map_err(crate::store::StoreError::from)?;
    let stored = store::user_by_id(&mut c, p.user_id).await?.and_then(|u| u.password_hash);
    let (cur, new) = (body.current_password, body.new_password);
    let (ok, hash) = tokio::task::spawn_blocking(move || {
        (secrets::verify_password(&cur, stored.as_deref()), secrets::hash_password(&new))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    if !ok {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-credentials",
            "the current password is wrong",
        )
        .field("current_password"));
    }
    let keep = match &p.credential {
        Credential::Session { id_hash, .. } => Some(id_hash.as_str()),
        Credential::ApiToken { .. } => None,
    };
    let mut tx = state.db.write().await?;
    store::set_password(&mut tx, p.user_id, &hash, false).await?;
    let ended = store::delete_sessions_of(&mut tx, p.user_id, keep).await?;
    store::record(&mut tx, "password-changed", &p.actor(ip), Some(p.user_id), json!({"other_sessions_ended": ended}))
        .await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    /// A mainland mobile number or an e-mail address.
    login: String,
    password: String,
    display_name: Option<String>,
}

/// A mainland China mobile number: 11 digits, `1[3-9]…`.
pub fn is_mobile(s: &str) -> bool {
    s.len() == 11
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.starts_with('1')
        && (b'3'..=b'9').contains(&s.as_bytes()[1])
}

pub fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
                && s.len() <= 254
        }
        None => false,
    }
}

async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    MaybeCaller(caller): MaybeCaller,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<Response, Response> {
    if !state.auth.settings.allow_registration {
        return Err(ApiError::forbidden("self-registration is turned off here").into_response());
    }
    if caller.is_some() {
        return Err(ApiError::new(StatusCode::CONFLICT, "signed-in", "sign out before registering a new account")
            .into_response());
    }
    if let Err(wait) = state.auth.login_limiter.check(ip.0) {
        return Err(too_many("rate-limited", "too many attempts from this address", wait.as_secs() + 1));
    }
    register_inner(&state, ip, body).await.map_err(IntoResponse::into_response)
}

async fn register_inner(state: &AppState, ip: ClientIp, body: RegisterBody) -> Result<Response, ApiError> {
    let login = body.login.trim().to_lowercase();
    let (email, phone) = if is_mobile(&login) {
        (None, Some(login.as_str()))
    } else if is_email(&login) {
        (Some(login.as_str()), None)
    } else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-login",
            "the login must be a mobile number or an e-mail address",
        )
        .field("login"));
    };
    secrets::check_password_strength(&body.password, &login).map_err(|rule| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "weak-password", format!("the password {rule}"))
            .field("password")
    })?;
    let name = body.display_name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or("市民").to_string();
    if name.chars().count() > 64 {
        return Err(
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too-long", "at most 64 characters").field("display_name")
        );
    }
    let password = body.password;
    let hash = tokio::task::spawn_blocking(move || secrets::hash_password(&password))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let mut tx = state.db.write().await?;
    let new = store::NewUser {
        login: &login,
        display_name: &name,
        email,
        phone,
        password_hash: &hash,
        must_change_password: false,
    };
    let id = store::insert_user(&mut tx, &new).await.map_err(|e| match e {
        crate::store::StoreError::Conflict(_) => ApiError::new(
            StatusCode::CONFLICT,
            "login-taken",
            "an account with this login exists; sign in or reset the password",
        )
        .field("login"),
        other => other.into(),
    })?;
    store::grant(&mut tx, id, Role::Citizen, &Scope::Own, None).await?;
    let actor = Actor { id: Some(id), label: login.clone(), source: ip.0.to_string() };
    store::record(&mut tx, "registered", &actor, Some(id), json!({})).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "login": login}))).into_response())
}

#[derive(Serialize)]
struct TokenView {
    id: i64,
    name: String,
    prefix: String,
    created_at: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

impl From<store::TokenInfo> for TokenView {
    fn from(t: store::TokenInfo) -> Self {
        TokenView {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            created_at: rfc3339(t.created_at),
            expires_at: t.expires_at.map(rfc3339),
            last_used_at: t.last_used_at.map(rfc3339),
            revoked_at: t.revoked_at.map(rfc3339),
        }
    }
}

pub async fn tokens_json(c: &mut store::Conn, user: i64) -> Result<Json<serde_json::Value>, ApiError> {
    let tokens: Vec<TokenView> = store::tokens_of(c, user).await?.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "tokens": tokens })))
}

async fn list_tokens(State(state): State<AppState>, Caller(p): Caller) -> Result<Json<serde_json::Value>, ApiError> {
    let mut c = state.db.pool().acquire().await.map_err(crate::store::StoreError::from)?;
    tokens_json(&mut c, p.user_id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    pub name: String,
    pub expires_in_days: Option<u32>,
}

async fn create_token(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    issue_token(&state, &p, ip, p.user_id, &body).await
}

/// Makes an API token for `owner` (the caller's own, or, for an admin, a machine client's
/// account), from a signed-in session only: a token makes no further tokens, so a leaked one
/// cannot entrench itself. Shown once; stored hashed; on the security record.
pub async fn issue_token(
    state: &AppState,
    p: &Principal,
    ip: ClientIp,
    owner: i64,
    body: &NewTokenBody,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    if !matches!(p.credential, Credential::Session { .. }) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "session-required",
            "create API tokens from a signed-in session",
        ));
    }
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-name", "1 to 64 characters").field("name"));
    }
    let expires_at = match body.expires_in_days {
        Some(d) if (1..=3650).contains(&d) => Some(now_ms() + i64::from(d) * 86_400_000),
        Some(_) => {
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "out-of-range", "from 1 to 3650 days")
                .field("expires_in_days"));
        }
        None => None,
    };
    let token = secrets::new_token("cgt_");
    let mut tx = state.db.write().await?;
    let target = store::user_by_id(&mut tx, owner).await?.filter(|u| !u.disabled);
    if target.is_none() {
        return Err(ApiError::not_found("active account", &owner.to_string()));
    }
    let info =
        store::insert_token(&mut tx, owner, name, &secrets::token_hash(&token), &token[..10], expires_at).await?;
    store::record(&mut tx, "token-created", &p.actor(ip), Some(owner), json!({"token_id": info.id, "name": name}))
        .await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    let view = TokenView::from(info);
    // The token itself is in this answer only: it is stored hashed.
    Ok((StatusCode::CREATED, Json(json!({"token": token, "info": view}))))
}

async fn revoke_token(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let mut tx = state.db.write().await?;
    let t = store::token_by_id(&mut tx, id).await?.ok_or_else(|| ApiError::not_found("token", &id.to_string()))?;
    if t.user_id != p.user_id && !p.is_admin() {
        // Someone else's token is reported as absent, not as forbidden: ids tell nothing.
        return Err(ApiError::not_found("token", &id.to_string()));
    }
    if !store::revoke_token(&mut tx, id, p.user_id).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, "already-revoked", "the token was already revoked"));
    }
    store::record(&mut tx, "token-revoked", &p.actor(ip), Some(t.user_id), json!({"token_id": id, "name": t.name}))
        .await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(StatusCode::NO_CONTENT)
}
