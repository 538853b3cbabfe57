//! The work of signing in and out, citizen registration, password changes and API tokens: every
//! check, transaction and security record behind `/api/v1/auth/*` and `/api/v1/tokens`, and the
//! views of accounts and tokens that admin's routes show too. Handlers parse and shape only.

use super::extract::ClientIp;
use super::lockout::{self, Attempt, Checked};
use super::ratelimit::RateLimiter;
use super::store::{self, Actor, OrgIndex, UserRow};
use super::{Certification, Credential, Principal, Role, Scope, secrets};
use crate::api_error::ApiError;
use crate::ids::{is_email, is_mobile};
use crate::server::AppState;
use crate::store::{StoreError, now_ms, rfc3339};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

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

/// `u` with its roles and certifications; `personal` shows what only the account itself and
/// admins may see.
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

/// An API token as the API lists it: never the token itself, which is stored hashed.
#[derive(Serialize)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub login: String,
    pub password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    pub current_password: String,
    pub new_password: String,
    /// The ids of the caller's API tokens that outlive the change; every other one is revoked.
    #[serde(default)]
    pub keep_tokens: Vec<i64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// A mainland mobile number or an e-mail address.
    pub login: String,
    pub password: String,
    pub display_name: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    pub name: String,
    pub expires_in_days: Option<u32>,
}

/// A session just opened. Its id goes to the browser in a cookie, never in a body.
pub struct Session {
    pub id: String,
    pub csrf_token: String,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
}

pub struct SignedIn {
    pub user: UserView,
    pub session: Session,
}

/// The caller's account, and the CSRF token their session's changes must carry (none for an API
/// token, which needs none).
#[derive(Serialize)]
pub struct Me {
    pub user: UserView,
    pub csrf_token: Option<String>,
}

#[derive(Serialize)]
pub struct Registered {
    pub id: i64,
    pub login: String,
}

#[derive(Serialize)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

/// A new API token. The token itself is in this answer only: it is stored hashed.
#[derive(Serialize)]
pub struct IssuedToken {
    pub token: String,
    pub info: TokenView,
}

/// Someone acting from `ip` before they hold a session: signing in, registering.
fn actor(id: Option<i64>, label: &str, ip: ClientIp) -> Actor {
    Actor { id, label: label.to_string(), source: ip.0.to_string() }
}

/// 429 when `ip` has used up its attempts; sign-in and registration share one budget, so that
/// guessing passwords through either costs the same.
fn throttle(limiter: &RateLimiter, ip: ClientIp, message: &str) -> Result<(), ApiError> {
    limiter.check(ip.0).map_err(|wait| ApiError::too_many("rate-limited", message, wait.as_secs() + 1))
}

/// The stored hash of `password`, computed off the async workers, one per core at a time. Call
/// it with no connection held.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    lockout::argon2(move || secrets::hash_password(&password)).await
}

/// 422 on `field` unless `password` passes the strength rules; `what` names it in the message.
fn strong_enough(password: &str, login: &str, what: &str, field: &str) -> Result<(), ApiError> {
    secrets::check_password_strength(password, login).map_err(|rule| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "weak-password", format!("{what} {rule}")).field(field)
    })
}

fn bad_credentials() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "bad-credentials", "wrong login or password")
}

/// Signs in with a login and password. The attempt counts towards the lock-out of this login
/// from this address before the password is checked; a locked login is refused unchecked, known
/// or not, and every attempt is on the security record. No connection is held while argon2 runs.
/// `old_session` is the session id the browser brought, ended here.
pub async fn sign_in(
    state: &AppState,
    ip: ClientIp,
    old_session: Option<&str>,
    body: LoginBody,
) -> Result<SignedIn, ApiError> {
    throttle(&state.auth.login_limiter, ip, "too many sign-in attempts from this address")?;
    let login = body.login.trim().to_lowercase();
    let user = store::user_by_login(&mut *state.db.pool().acquire().await.map_err(StoreError::from)?, &login).await?;
    let anon = actor(None, &login, ip);
    let attempt =
        Attempt { purpose: lockout::SIGN_IN, login: &login, ip, actor: &anon, subject: user.as_ref().map(|u| u.id) };
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let checked = lockout::check(state, &attempt, body.password, stored).await?;
    let u = match user {
        Some(u) if checked.ok && !u.disabled => u,
        other => {
            let reason = match other {
                None => "unknown login",
                Some(u) if u.disabled => "disabled",
                Some(_) => "wrong password",
            };
            checked.fail(state, &attempt, reason).await?;
            return Err(bad_credentials());
        }
    };
    let session = open_session(state, ip, old_session, &u, &checked).await?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let org = store::org_index(&mut c).await?;
    let user = user_view(&mut c, u, &org, true).await?;
    Ok(SignedIn { user, session })
}

/// Opens a session for `u`, whose password `checked` proved. Session fixation: a new id at every
/// sign-in, and the one the browser brought (`old`) is ended.
async fn open_session(
    state: &AppState,
    ip: ClientIp,
    old: Option<&str>,
    u: &UserRow,
    checked: &Checked,
) -> Result<Session, ApiError> {
    let id = secrets::new_token("cgs_");
    let csrf_token = secrets::new_token("");
    let expires_at = now_ms() + i64::from(state.auth.settings.session_max_hours) * 3_600_000;
    let mut tx = state.db.write().await?;
    if let Some(old) = old {
        store::delete_session(&mut tx, &secrets::token_hash(old)).await?;
    }
    store::insert_session(&mut tx, &secrets::token_hash(&id), u.id, &csrf_token, expires_at, &ip.0.to_string()).await?;
    checked.passed(&mut tx).await?;
    store::record(&mut tx, "sign-in", &actor(Some(u.id), &u.login, ip), Some(u.id), json!({})).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Session { id, csrf_token, expires_at })
}

/// Ends the caller's session. An API token is revoked instead: 400.
pub async fn sign_out(state: &AppState, p: &Principal, ip: ClientIp) -> Result<(), ApiError> {
    let Credential::Session { id_hash, .. } = &p.credential else {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "not-a-session", "API tokens are revoked, not signed out"));
    };
    let mut tx = state.db.write().await?;
    store::delete_session(&mut tx, id_hash).await?;
    store::record(&mut tx, "sign-out", &p.actor(ip), Some(p.user_id), json!({})).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// The caller's own account, personal data included.
pub async fn me(state: &AppState, p: &Principal) -> Result<Me, ApiError> {
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let u = store::user_by_id(&mut c, p.user_id).await?.ok_or_else(ApiError::unauthenticated)?;
    let org = store::org_index(&mut c).await?;
    let user = user_view(&mut c, u, &org, true).await?;
    let csrf_token = match &p.credential {
        Credential::Session { csrf_token, .. } => Some(csrf_token.clone()),
        Credential::ApiToken { .. } => None,
    };
    Ok(Me { user, csrf_token })
}

/// Changes the caller's password, given the current one, which is checked as a sign-in's is:
/// the same lock-out counter, so a stolen session cannot guess it faster. The caller's other
/// sessions end and their API tokens are revoked, but those named in `keep_tokens`: a password
/// changed because it leaked must lock out whoever used it. The session making the change stays.
pub async fn change_password(
    state: &AppState,
    p: &Principal,
    ip: ClientIp,
    body: PasswordBody,
) -> Result<(), ApiError> {
    strong_enough(&body.new_password, &p.login, "the new password", "new_password")?;
    let stored = {
        let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
        live_tokens_named(&mut c, p.user_id, &body.keep_tokens).await?;
        store::user_by_id(&mut c, p.user_id).await?.and_then(|u| u.password_hash)
    };
    let actor = p.actor(ip);
    let attempt =
        Attempt { purpose: lockout::PASSWORD_CHANGE, login: &p.login, ip, actor: &actor, subject: Some(p.user_id) };
    let checked = lockout::check(state, &attempt, body.current_password, stored).await?;
    if !checked.ok {
        checked.fail(state, &attempt, "wrong password").await?;
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-credentials",
            "the current password is wrong",
        )
        .field("current_password"));
    }
    let hash = hash_password(body.new_password).await?;
    let keep = match &p.credential {
        Credential::Session { id_hash, .. } => Some(id_hash.as_str()),
        Credential::ApiToken { .. } => None,
    };
    let mut tx = state.db.write().await?;
    store::set_password(&mut tx, p.user_id, &hash, false).await?;
    let ended = store::delete_sessions_of(&mut tx, p.user_id, keep).await?;
    let revoked = store::revoke_tokens_of(&mut tx, p.user_id, Some(p.user_id), &body.keep_tokens).await?;
    checked.passed(&mut tx).await?;
    let detail = json!({"other_sessions_ended": ended, "tokens_revoked": revoked, "tokens_kept": body.keep_tokens});
    store::record(&mut tx, "password-changed", &actor, Some(p.user_id), detail).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// 422 on the entry of `ids` that is not a live API token of `user`.
async fn live_tokens_named(c: &mut store::Conn, user: i64, ids: &[i64]) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let live: Vec<i64> = store::tokens_of(c, user)
        .await?
        .into_iter()
        .filter(|t| t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > now))
        .map(|t| t.id)
        .collect();
    match ids.iter().position(|id| !live.contains(id)) {
        None => Ok(()),
        Some(i) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-token",
            format!("you hold no live API token {} to keep", ids[i]),
        )
        .field(format!("keep_tokens[{i}]"))),
    }
}

/// A citizen creates their own account, with a mobile number or e-mail address as the login,
/// where the settings allow it and nobody is signed in on this browser.
pub async fn register(
    state: &AppState,
    ip: ClientIp,
    caller: Option<&Principal>,
    body: RegisterBody,
) -> Result<Registered, ApiError> {
    if !state.auth.settings.allow_registration {
        return Err(ApiError::forbidden("self-registration is turned off here"));
    }
    if caller.is_some() {
        return Err(ApiError::new(StatusCode::CONFLICT, "signed-in", "sign out before registering a new account"));
    }
    throttle(&state.auth.login_limiter, ip, "too many attempts from this address")?;
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
    strong_enough(&body.password, &login, "the password", "password")?;
    let name = body.display_name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or("市民").to_string();
    if name.chars().count() > 64 {
        return Err(
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too-long", "at most 64 characters").field("display_name")
        );
    }
    let hash = hash_password(body.password).await?;
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
        StoreError::Conflict(_) => ApiError::new(
            StatusCode::CONFLICT,
            "login-taken",
            "an account with this login exists; sign in or reset the password",
        )
        .field("login"),
        other => other.into(),
    })?;
    store::grant(&mut tx, id, Role::Citizen, &Scope::Own, None).await?;
    store::record(&mut tx, "registered", &actor(Some(id), &login, ip), Some(id), json!({})).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Registered { id, login })
}

/// The API tokens of account `owner`, revoked and expired ones included. Who may see them is the
/// caller's to check.
pub async fn tokens(state: &AppState, owner: i64) -> Result<TokenList, ApiError> {
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let tokens = store::tokens_of(&mut c, owner).await?.into_iter().map(Into::into).collect();
    Ok(TokenList { tokens })
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
) -> Result<IssuedToken, ApiError> {
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
    if owner != p.user_id
        && let Some(g) = store::grants_of(&mut tx, owner).await?.iter().find(|g| !g.role.is_machine_client())
    {
        // A person's token made by someone else would act in that person's name unseen.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not-a-machine-client",
            format!(
                "the account holds the role {}: tokens are made for others only for machine clients' accounts (no role but publisher); its owner makes their own",
                g.role
            ),
        ));
    }
    let info =
        store::insert_token(&mut tx, owner, name, &secrets::token_hash(&token), &token[..10], expires_at).await?;
    store::record(&mut tx, "token-created", &p.actor(ip), Some(owner), json!({"token_id": info.id, "name": name}))
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(IssuedToken { token, info: info.into() })
}

/// Revokes token `id`: the caller's own, or any for an admin.
pub async fn revoke_token(state: &AppState, p: &Principal, ip: ClientIp, id: i64) -> Result<(), ApiError> {
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
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}
