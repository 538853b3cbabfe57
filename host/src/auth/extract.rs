//! Resolving the caller of every request, once, in a middleware: a bearer token or a session
//! cookie becomes a [`Principal`] in the request's extensions; handlers take it with
//! [`Caller`] (signed in, else 401) or [`MaybeCaller`]. The middleware also enforces what holds
//! for every route: CSRF tokens on cookie-authenticated changes, and a pending password change.

use super::{Credential, Principal, secrets, store};
use crate::api_error::ApiError;
use crate::server::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The session cookie over plain HTTP (development on loopback)…
pub const SESSION_COOKIE: &str = "cg_session";
/// …and over HTTPS ([`super::AuthSettings::session_cookie`]).
pub const HOST_SESSION_COOKIE: &str = "__Host-cg_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The client's address, as the security log and the rate limits see it.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

/// The signed-in caller; 401 without one.
pub struct Caller(pub Principal);

/// The caller, if signed in.
pub struct MaybeCaller(pub Option<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Principal>().cloned().map(Caller).ok_or_else(ApiError::unauthenticated)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(MaybeCaller(parts.extensions.get::<Principal>().cloned()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(parts.extensions.get::<ClientIp>().copied().unwrap_or(ClientIp(IpAddr::V4(Ipv4Addr::UNSPECIFIED))))
    }
}

/// The value of one cookie.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn client_ip(req: &Request, trust_forwarded_for: bool) -> IpAddr {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if trust_forwarded_for {
        // The proxy appends the address it saw: the last entry is the one it vouches for.
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Routes a signed-in account with a pending password change may still use.
const WHILE_PASSWORD_CHANGE_PENDING: &[&str] = &["/api/v1/auth/me", "/api/v1/auth/password", "/api/v1/auth/logout"];

pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let ip = client_ip(&req, state.auth.settings.trust_forwarded_for);
    req.extensions_mut().insert(ClientIp(ip));
    let principal = match resolve(&state, req.headers()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if let Some(p) = principal {
        let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        if let Credential::Session { csrf_token, .. } = &p.credential {
            // A browser sends the cookie with any request, including one a hostile page makes;
            // only our own pages know the CSRF token that goes with it.
            let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            // Signing in acts on no session's authority (it replaces the session), so it needs
            // no token; the JSON body it requires is what keeps other sites' forms out.
            let exempt = req.uri().path() == "/api/v1/auth/login";
            if !safe && !exempt && !sent.is_some_and(|s| constant_time_eq(s.as_bytes(), csrf_token.as_bytes())) {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "this change needs the session's CSRF token in the X-CSRF-Token header",
                )
                .into_response();
            }
        }
        // A one-time password is changed by the person who signs in with it; a token an admin made
        // for a machine client's account never signed in with one.
        let session = matches!(p.credential, Credential::Session { .. });
        if session && p.must_change_password && !WHILE_PASSWORD_CHANGE_PENDING.contains(&req.uri().path()) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "password-change-required",
                "change the one-time password first (POST /api/v1/auth/password)",
            )
            .into_response();
        }
        req.extensions_mut().insert(p);
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A bearer token must be valid (a wrong one is 401, not anonymous); a cookie that names no live
/// session is ignored, so a stale browser still reaches public pages.
async fn resolve(state: &AppState, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    let sid = cookie(headers, state.auth.settings.session_cookie());
    if sid.is_none() && !headers.contains_key(header::AUTHORIZATION) {
        // Anonymous (a citizen's report, a public page): no database round trip.
        return Ok(None);
    }
    let mut c = state.db.pool().acquire().await.map_err(crate::store::StoreError::from)?;
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let token = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthenticated().with_message("use `Authorization: Bearer <token>`"))?;
        let t = store::live_token(&mut c, &secrets::token_hash(token.trim())).await?.ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid-token", "the token is unknown, revoked or expired")
        })?;
        store::touch_token(&mut c, t.id).await?;
        return load_principal(&mut c, t.user_id, Credential::ApiToken { id: t.id }).await;
    }
    let Some(sid) = sid else { return Ok(None) };
    let id_hash = secrets::token_hash(sid);
    let Some((user, csrf_token, last_seen)) = store::live_session(&mut c, &id_hash, state.auth.idle_ms()).await? else {
        return Ok(None);
    };
    // Sliding idle timeout, written at most once a minute.
    if crate::store::now_ms() - last_seen > 60_000 {
        store::touch_session(&mut c, &id_hash).await?;
    }
    load_principal(&mut c, user, Credential::Session { id_hash, csrf_token }).await
}

async fn load_principal(c: &mut store::Conn, user: i64, credential: Credential) -> Result<Option<Principal>, ApiError> {
    let Some(u) = store::user_by_id(c, user).await? else { return Ok(None) };
    if u.disabled {
        return Ok(None);
    }
    Ok(Some(Principal {
        user_id: u.id,
        login: u.login,
        display_name: u.display_name,
        grants: store::grants_of(c, user).await?,
        certifications: store::certifications_of(c, user).await?,
        must_change_password: u.must_change_password,
        credential,
    }))
}
