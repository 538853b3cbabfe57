//! The lock-out and the password checks behind it. Every check of a password against a stored
//! hash (a sign-in, a password change's current password) is [`check`]: the attempt is counted
//! for its login and source before argon2 runs, in one statement, so that parallel guesses cannot
//! pass the lock together; argon2 then runs off the async workers, one per core at a time, with
//! no database connection held.

use super::extract::ClientIp;
use super::secrets;
use super::store::{self, Actor, Conn, LockRule, Reserved};
use crate::api_error::ApiError;
use crate::server::AppState;
use crate::store::{StoreError, now_ms, rfc3339};
use axum::http::StatusCode;
use serde_json::json;
use std::sync::LazyLock;
use tokio::sync::Semaphore;

/// argon2 runs at once: one per core. More would only share the cores, each run taking longer
/// and holding its 19 MiB the while.
static ARGON2: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));

/// Runs argon2 work `f` on a blocking thread once a core is free. Callers hold no connection.
pub(super) async fn argon2<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    let internal = |e: String| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e);
    let _core = ARGON2.acquire().await.map_err(|e| internal(e.to_string()))?;
    tokio::task::spawn_blocking(f).await.map_err(|e| internal(e.to_string()))
}

/// What a password is checked for: the metric's label and the kinds of its security events.
#[derive(Clone, Copy, Debug)]
pub struct Purpose {
    label: &'static str,
    refused: &'static str,
    failed: &'static str,
}

pub const SIGN_IN: Purpose = Purpose { label: "sign-in", refused: "sign-in-refused", failed: "sign-in-failed" };
pub const PASSWORD_CHANGE: Purpose =
    Purpose { label: "password-change", refused: "password-change-refused", failed: "password-change-failed" };

/// One attempt at `login`'s password from `ip`, by `actor`; `subject` is the account, if the
/// login names one.
pub struct Attempt<'a> {
    pub purpose: Purpose,
    pub login: &'a str,
    pub ip: ClientIp,
    pub actor: &'a Actor,
    pub subject: Option<i64>,
}

/// A checked attempt. The caller settles it: [`Checked::fail`] or, in the transaction that acts
/// on the proven password, [`Checked::passed`].
pub struct Checked {
    pub ok: bool,
    reserved: Reserved,
    key: String,
    source: String,
}

/// Counts the attempt, then checks `password` against `stored` (a dummy hash when there is none:
/// an unknown login takes as long as a real one). 429 `account-locked` while the login is locked
/// for this source, with nothing checked, known login or not.
pub async fn check(
    state: &AppState,
    a: &Attempt<'_>,
    password: String,
    stored: Option<String>,
) -> Result<Checked, ApiError> {
    let (key, source) = (store::login_key(a.login), a.ip.0.to_string());
    let reserved = reserve(state, a, &key, &source).await?;
    state.metrics.inc("casegrid_password_verifications_total", &[("purpose", a.purpose.label)]);
    let ok = argon2(move || secrets::verify_password(&password, stored.as_deref())).await?;
    Ok(Checked { ok, reserved, key, source })
}

async fn reserve(state: &AppState, a: &Attempt<'_>, key: &str, source: &str) -> Result<Reserved, ApiError> {
    let s = &state.auth.settings;
    if s.lockout_threshold == 0 {
        return Ok(Reserved { locks_until: None }); // the lock-out is off
    }
    let rule = LockRule { threshold: s.lockout_threshold, lock_ms: i64::from(s.lockout_minutes) * 60_000 };
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let until = match store::reserve_attempt(&mut c, key, source, rule).await? {
        Ok(r) => return Ok(r),
        Err(until) => until,
    };
    store::record(&mut c, a.purpose.refused, a.actor, a.subject, json!({"reason": "locked"})).await?;
    let wait = ((until - now_ms()) / 1000 + 1).max(1) as u64;
    Err(ApiError::too_many("account-locked", "too many failed attempts: the account is locked for a while", wait))
}

impl Checked {
    /// A refused attempt, on the record for `reason`, with the lock it set, in one transaction.
    /// A right password refused all the same (a disabled account) is its owner's, not a guess:
    /// the source's count is dropped.
    pub async fn fail(self, state: &AppState, a: &Attempt<'_>, reason: &str) -> Result<(), ApiError> {
        let mut tx = state.db.write().await?;
        store::record(&mut tx, a.purpose.failed, a.actor, a.subject, json!({"reason": reason})).await?;
        if self.ok {
            store::clear_attempts(&mut tx, &self.key, Some(&self.source)).await?;
        } else if let Some(until) = self.reserved.locks_until {
            let detail = json!({"until": rfc3339(until), "source": self.source});
            store::record(&mut tx, "account-locked", &Actor::system(), a.subject, detail).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// The password proved right: the source's count ends, in the caller's transaction.
    pub async fn passed(&self, c: &mut Conn) -> Result<(), ApiError> {
        Ok(store::clear_attempts(c, &self.key, Some(&self.source)).await?)
    }
}
