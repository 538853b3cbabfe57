//! The SQL of accounts, organisation, sessions, tokens and the security log. Every function that
//! changes access takes the transaction it runs in, and the security event that records the
//! change is written in the same one: a grant without its record cannot happen.

use super::{Certification, Grant, Role, Scope};
use crate::store::{Db, Result, StoreError, now_ms};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

pub type Conn = AnyConnection;

#[derive(Clone, Debug, Serialize)]
pub struct Department {
    pub id: i64,
    pub code: String,
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Team {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub department_id: i64,
    pub domains: Vec<String>,
}

/// The whole organisation, small enough to hold: departments and their teams.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OrgIndex {
    pub departments: Vec<Department>,
    pub teams: Vec<Team>,
}

impl OrgIndex {
    pub fn teams_of(&self, department: i64) -> impl Iterator<Item = i64> + '_ {
        self.teams.iter().filter(move |t| t.department_id == department).map(|t| t.id)
    }
    pub fn team(&self, id: i64) -> Option<&Team> {
        self.teams.iter().find(|t| t.id == id)
    }
    pub fn team_by_code(&self, code: &str) -> Option<&Team> {
        self.teams.iter().find(|t| t.code == code)
    }
    pub fn department(&self, id: i64) -> Option<&Department> {
        self.departments.iter().find(|d| d.id == id)
    }
    pub fn department_by_code(&self, code: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.code == code)
    }

    /// A scope as people read it: `team:HZ-T01`, `department:HZ-D01`, `domain:housing`, `all`.
    pub fn scope_label(&self, s: &Scope) -> String {
        match s {
            Scope::Team(id) => format!("team:{}", self.team(*id).map_or("?", |t| &t.code)),
            Scope::Department(id) => format!("department:{}", self.department(*id).map_or("?", |d| &d.code)),
            other => other.to_db(),
        }
    }
}

pub async fn org_index(c: &mut Conn) -> Result<OrgIndex> {
    let departments = sqlx::query("SELECT id, code, name FROM departments ORDER BY code")
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| Department { id: r.get(0), code: r.get(1), name: r.get(2) })
        .collect();
    let teams = sqlx::query("SELECT id, code, name, department_id, domains FROM teams ORDER BY code")
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| Team {
            id: r.get(0),
            code: r.get(1),
            name: r.get(2),
            department_id: r.get(3),
            domains: split_domains(&r.get::<String, _>(4)),
        })
        .collect();
    Ok(OrgIndex { departments, teams })
}

fn split_domains(s: &str) -> Vec<String> {
    s.split(',').filter(|d| !d.is_empty()).map(str::to_string).collect()
}

/// Creates or renames a department; its id.
pub async fn upsert_department(c: &mut Conn, code: &str, name: &str) -> Result<(i64, bool)> {
    if let Some(r) =
        sqlx::query("SELECT id, name FROM departments WHERE code = $1").bind(code).fetch_optional(&mut *c).await?
    {
        let id: i64 = r.get(0);
        if r.get::<String, _>(1) != name {
            sqlx::query("UPDATE departments SET name = $1 WHERE id = $2").bind(name).bind(id).execute(&mut *c).await?;
        }
        return Ok((id, false));
    }
    let id = sqlx::query("INSERT INTO departments (code, name, created_at) VALUES ($1, $2, $3) RETURNING id")
        .bind(code)
        .bind(name)
        .bind(now_ms())
        .fetch_one(&mut *c)
        .await
        .map_err(|e| StoreError::unique(e, format!("department {code}")))?
        .get(0);
    Ok((id, true))
}

/// Creates a team or updates its name, department and domains; its id and whether it is new.
pub async fn upsert_team(
    c: &mut Conn,
    code: &str,
    name: &str,
    department: i64,
    domains: &[String],
) -> Result<(i64, bool)> {
    let joined = domains.join(",");
    if let Some(r) = sqlx::query("SELECT id FROM teams WHERE code = $1").bind(code).fetch_optional(&mut *c).await? {
        let id: i64 = r.get(0);
        sqlx::query("UPDATE teams SET name = $1, department_id = $2, domains = $3 WHERE id = $4")
            .bind(name)
            .bind(department)
            .bind(joined)
            .bind(id)
            .execute(&mut *c)
            .await?;
        return Ok((id, false));
    }
    let id = sqlx::query(
        "INSERT INTO teams (code, name, department_id, domains, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(code)
    .bind(name)
    .bind(department)
    .bind(joined)
    .bind(now_ms())
    .fetch_one(&mut *c)
    .await
    .map_err(|e| StoreError::unique(e, format!("team {code}")))?
    .get(0);
    Ok((id, true))
}

#[derive(Clone, Debug)]
pub struct UserRow {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password_hash: Option<String>,
    pub must_change_password: bool,
    pub disabled: bool,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
}

const USER_COLUMNS: &str = "id, login, display_name, email, phone, password_hash, must_change_password, disabled, \
                            failed_logins, locked_until, created_at";

fn user_row(r: &sqlx::any::AnyRow) -> UserRow {
    UserRow {
        id: r.get(0),
        login: r.get(1),
        display_name: r.get(2),
        email: r.get(3),
        phone: r.get(4),
        password_hash: r.get(5),
        must_change_password: r.get::<i64, _>(6) != 0,
        disabled: r.get::<i64, _>(7) != 0,
        failed_logins: r.get(8),
        locked_until: r.get(9),
        created_at: r.get(10),
    }
}

pub async fn user_by_login(c: &mut Conn, login: &str) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE login = $1");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(login.to_lowercase())
        .fetch_optional(&mut *c)
        .await?
        .as_ref()
        .map(user_row))
}

pub async fn user_by_id(c: &mut Conn, id: i64) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *c).await?.as_ref().map(user_row))
}

/// Users, optionally only those holding a role in one of `teams`, ordered by login.
pub async fn list_users(c: &mut Conn, teams: Option<&[i64]>) -> Result<Vec<UserRow>> {
    let rows = match teams {
        None => {
            let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY login");
            sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *c).await?
        }
        Some([]) => Vec::new(),
        Some(teams) => {
            // The list is the caller's own teams: short, and numbers only.
            let scopes: Vec<String> = teams.iter().map(|t| format!("'team:{t}'")).collect();
            let sql = format!(
                "SELECT {USER_COLUMNS} FROM users WHERE id IN (SELECT user_id FROM role_grants WHERE scope IN ({})) ORDER BY login",
                scopes.join(",")
            );
            sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *c).await?
        }
    };
    Ok(rows.iter().map(user_row).collect())
}

pub struct NewUser<'a> {
    pub login: &'a str,
    pub display_name: &'a str,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub password_hash: &'a str,
    pub must_change_password: bool,
}

pub async fn insert_user(c: &mut Conn, u: &NewUser<'_>) -> Result<i64> {
    let now = now_ms();
    let row = sqlx::query(
        "INSERT INTO users (login, display_name, email, phone, password_hash, must_change_password, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(u.login.to_lowercase())
    .bind(u.display_name)
    .bind(u.email.map(str::to_lowercase))
    .bind(u.phone)
    .bind(u.password_hash)
    .bind(i64::from(u.must_change_password))
    .bind(now)
    .fetch_one(&mut *c)
    .await
    .map_err(|e| StoreError::unique(e, format!("an account with login, e-mail or phone of `{}`", u.login)))?;
    Ok(row.get(0))
}

pub async fn set_password(c: &mut Conn, user: i64, hash: &str, must_change: bool) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1, must_change_password = $2, failed_logins = 0, locked_until = NULL, updated_at = $3 WHERE id = $4")
        .bind(hash)
        .bind(i64::from(must_change))
        .bind(now_ms())
        .bind(user)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn set_disabled(c: &mut Conn, user: i64, disabled: bool) -> Result<()> {
    sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(disabled))
        .bind(now_ms())
        .bind(user)
        .execute(&mut *c)
        .await?;
    if disabled {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user).execute(&mut *c).await?;
    }
    Ok(())
}

// ---- the lock-out ----

/// The lock-out's key of a login: SHA-256 of it as typed (trimmed, lower-cased), whether an
/// account has it or not.
pub fn login_key(login: &str) -> String {
    super::secrets::token_hash(&login.trim().to_lowercase())
}

/// The lock-out's rule: `threshold` attempts from one source, each within `lock_ms` of the one
/// before, lock that source out of the login for `lock_ms`.
#[derive(Clone, Copy, Debug)]
pub struct LockRule {
    pub threshold: u32,
    pub lock_ms: i64,
}

/// An attempt counted by [`reserve_attempt`], its password not yet checked.
#[derive(Clone, Copy, Debug)]
pub struct Reserved {
    /// The lock this attempt set, the last the threshold allowed: in force unless its password
    /// proves right.
    pub locks_until: Option<i64>,
}

/// Counts one attempt at `login_key`'s password from `source`, before the password is checked,
/// in one statement: `Ok`, or `Err(until)` while the pair is locked. However many run at once,
/// at most `rule.threshold` attempts are counted before the lock: the one that reaches it sets
/// the lock, and the statement counts nothing while a lock is in force. An attempt that never
/// reports back (the process died) stays counted, and the lock it may have set ends in time.
pub async fn reserve_attempt(
    c: &mut Conn,
    login_key: &str,
    source: &str,
    rule: LockRule,
) -> Result<std::result::Result<Reserved, i64>> {
    let now = now_ms();
    let until = now + rule.lock_ms;
    // A count starts again after a lock ended, or after a quiet spell as long as a lock.
    let restart = "(sign_in_attempts.locked_until IS NOT NULL AND sign_in_attempts.locked_until <= $4) \
                   OR (sign_in_attempts.locked_until IS NULL AND sign_in_attempts.updated_at <= $7)";
    let count = format!("CASE WHEN {restart} THEN 1 ELSE sign_in_attempts.attempts + 1 END");
    let sql = format!(
        "INSERT INTO sign_in_attempts (login_hash, source, attempts, locked_until, updated_at) VALUES ($1, $2, 1, $3, $4) \
         ON CONFLICT (login_hash, source) DO UPDATE SET attempts = {count}, \
         locked_until = CASE WHEN {count} >= $5 THEN $6 ELSE NULL END, updated_at = $4 \
         WHERE sign_in_attempts.locked_until IS NULL OR sign_in_attempts.locked_until <= $4 RETURNING locked_until"
    );
    let counted = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(login_key)
        .bind(source)
        .bind((rule.threshold <= 1).then_some(until))
        .bind(now)
        .bind(i64::from(rule.threshold))
        .bind(until)
        .bind(now - rule.lock_ms)
        .fetch_optional(&mut *c)
        .await?;
    if let Some(r) = counted {
        return Ok(Ok(Reserved { locks_until: r.get(0) }));
    }
    let locked: Option<i64> =
        sqlx::query("SELECT locked_until FROM sign_in_attempts WHERE login_hash = $1 AND source = $2")
            .bind(login_key)
            .bind(source)
            .fetch_optional(&mut *c)
            .await?
            .and_then(|r| r.get(0));
    // Gone meanwhile (a success ended it): refused all the same, for a second.
    Ok(Err(locked.unwrap_or(now + 1000)))
}

/// Forgets the attempts at `login_key` from `source` (a password proved right there), or from
/// every source (an admin's reset).
pub async fn clear_attempts(c: &mut Conn, login_key: &str, source: Option<&str>) -> Result<()> {
    sqlx::query("DELETE FROM sign_in_attempts WHERE login_hash = $1 AND ($2 IS NULL OR source = $2)")
        .bind(login_key)
        .bind(source)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Drops the counts that no longer count: no lock in force, no attempt for `quiet_ms`.
pub async fn purge_sign_in_attempts(db: &Db, quiet_ms: i64) -> Result<u64> {
    let now = now_ms();
    Ok(sqlx::query(
        "DELETE FROM sign_in_attempts WHERE (locked_until IS NULL OR locked_until <= $1) AND updated_at <= $2",
    )
    .bind(now)
    .bind(now - quiet_ms)
    .execute(db.pool())
    .await?
    .rows_affected())
}

pub async fn grants_of(c: &mut Conn, user: i64) -> Result<Vec<Grant>> {
    let rows = sqlx::query("SELECT id, role, scope FROM role_grants WHERE user_id = $1 ORDER BY id")
        .bind(user)
        .fetch_all(&mut *c)
        .await?;
    // A row this build cannot read (a role from a newer version) grants nothing.
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(Grant {
                id: r.get(0),
                role: Role::parse(&r.get::<String, _>(1))?,
                scope: Scope::from_db(&r.get::<String, _>(2))?,
            })
        })
        .collect())
}

/// Grants `role` in `scope`; the grant's id, and false when the user already held it.
pub async fn grant(c: &mut Conn, user: i64, role: Role, scope: &Scope, by: Option<i64>) -> Result<(i64, bool)> {
    if let Some(r) = sqlx::query("SELECT id FROM role_grants WHERE user_id = $1 AND role = $2 AND scope = $3")
        .bind(user)
        .bind(role.as_str())
        .bind(scope.to_db())
        .fetch_optional(&mut *c)
        .await?
    {
        return Ok((r.get(0), false));
    }
    let id = sqlx::query("INSERT INTO role_grants (user_id, role, scope, granted_by, granted_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
        .bind(user)
        .bind(role.as_str())
        .bind(scope.to_db())
        .bind(by)
        .bind(now_ms())
        .fetch_one(&mut *c)
        .await
        .map_err(|e| StoreError::unique(e, "this grant"))?
        .get(0);
    Ok((id, true))
}

pub async fn revoke_grant(c: &mut Conn, user: i64, grant: i64) -> Result<Grant> {
    let g = grants_of(c, user)
        .await?
        .into_iter()
        .find(|g| g.id == grant)
        .ok_or_else(|| StoreError::NotFound(format!("grant {grant}")))?;
    sqlx::query("DELETE FROM role_grants WHERE id = $1").bind(grant).execute(&mut *c).await?;
    Ok(g)
}

/// Enabled accounts holding admin, other than `except`.
pub async fn other_admins(c: &mut Conn, except: i64) -> Result<i64> {
    Ok(sqlx::query(
        "SELECT COUNT(*) FROM role_grants g JOIN users u ON u.id = g.user_id WHERE g.role = 'admin' AND u.disabled = 0 AND u.id <> $1",
    )
    .bind(except)
    .fetch_one(&mut *c)
    .await?
    .get(0))
}

pub async fn certifications_of(c: &mut Conn, user: i64) -> Result<Vec<Certification>> {
    Ok(sqlx::query("SELECT domain, number, valid_until FROM certifications WHERE user_id = $1 ORDER BY domain")
        .bind(user)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| Certification { domain: r.get(0), number: r.get(1), valid_until: r.get(2) })
        .collect())
}

/// Sets (or renews) a certification; returns the previous one, if any.
pub async fn set_certification(
    c: &mut Conn,
    user: i64,
    cert: &Certification,
    by: Option<i64>,
) -> Result<Option<Certification>> {
    let old = certifications_of(c, user).await?.into_iter().find(|x| x.domain == cert.domain);
    sqlx::query(
        "INSERT INTO certifications (user_id, domain, number, valid_until, granted_by, granted_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (user_id, domain) DO UPDATE SET number = excluded.number, valid_until = excluded.valid_until, \
         granted_by = excluded.granted_by, granted_at = excluded.granted_at",
    )
    .bind(user)
    .bind(&cert.domain)
    .bind(&cert.number)
    .bind(&cert.valid_until)
    .bind(by)
    .bind(now_ms())
    .execute(&mut *c)
    .await?;
    Ok(old)
}

pub async fn remove_certification(c: &mut Conn, user: i64, domain: &str) -> Result<Certification> {
    let old = certifications_of(c, user)
        .await?
        .into_iter()
        .find(|x| x.domain == domain)
        .ok_or_else(|| StoreError::NotFound(format!("certification for {domain}")))?;
    sqlx::query("DELETE FROM certifications WHERE user_id = $1 AND domain = $2")
        .bind(user)
        .bind(domain)
        .execute(&mut *c)
        .await?;
    Ok(old)
}

// ---- sessions ----

pub async fn insert_session(
    c: &mut Conn,
    id_hash: &str,
    user: i64,
    csrf: &str,
    expires_at: i64,
    source: &str,
) -> Result<()> {
    let now = now_ms();
    sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, source) VALUES ($1, $2, $3, $4, $4, $5, $6)")
        .bind(id_hash)
        .bind(user)
        .bind(csrf)
        .bind(now)
        .bind(expires_at)
        .bind(source)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// The live session with this id: not expired, idle for less than `idle_ms`, of an enabled
/// account. Returns (user, csrf token, last seen).
pub async fn live_session(c: &mut Conn, id_hash: &str, idle_ms: i64) -> Result<Option<(i64, String, i64)>> {
    let now = now_ms();
    Ok(sqlx::query(
        "SELECT s.user_id, s.csrf_token, s.last_seen_at FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 AND u.disabled = 0",
    )
    .bind(id_hash)
    .bind(now)
    .bind(now - idle_ms)
    .fetch_optional(&mut *c)
    .await?
    .map(|r| (r.get(0), r.get(1), r.get(2))))
}

pub async fn touch_session(c: &mut Conn, id_hash: &str) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
        .bind(now_ms())
        .bind(id_hash)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn delete_session(c: &mut Conn, id_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(&mut *c).await?;
    Ok(())
}

/// Ends every session of a user but `keep` (after a password change, elsewhere signed-in
/// browsers must sign in again).
pub async fn delete_sessions_of(c: &mut Conn, user: i64, keep: Option<&str>) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
        .bind(user)
        .bind(keep.unwrap_or(""))
        .execute(&mut *c)
        .await?
        .rows_affected())
}

pub async fn purge_expired_sessions(db: &Db, idle_ms: i64) -> Result<u64> {
    let now = now_ms();
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
        .bind(now)
        .bind(now - idle_ms)
        .execute(db.pool())
        .await?
        .rows_affected())
}

// ---- API tokens and Open311 keys ----

#[derive(Clone, Debug, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const TOKEN_COLUMNS: &str = "id, user_id, name, prefix, created_at, expires_at, last_used_at, revoked_at";

fn token_row(r: &sqlx::any::AnyRow) -> TokenInfo {
    TokenInfo {
        id: r.get(0),
        user_id: r.get(1),
        name: r.get(2),
        prefix: r.get(3),
        created_at: r.get(4),
        expires_at: r.get(5),
        last_used_at: r.get(6),
        revoked_at: r.get(7),
    }
}

pub async fn insert_token(
    c: &mut Conn,
    user: i64,
    name: &str,
    hash: &str,
    prefix: &str,
    expires_at: Option<i64>,
) -> Result<TokenInfo> {
    let sql = format!(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
    );
    Ok(token_row(
        &sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user)
            .bind(name)
            .bind(hash)
            .bind(prefix)
            .bind(now_ms())
            .bind(expires_at)
            .fetch_one(&mut *c)
            .await?,
    ))
}

pub async fn tokens_of(c: &mut Conn, user: i64) -> Result<Vec<TokenInfo>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY id");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user).fetch_all(&mut *c).await?.iter().map(token_row).collect())
}

pub async fn token_by_id(c: &mut Conn, id: i64) -> Result<Option<TokenInfo>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *c).await?.as_ref().map(token_row))
}

/// The usable token with this hash: not revoked, not expired, of an enabled account.
pub async fn live_token(c: &mut Conn, hash: &str) -> Result<Option<TokenInfo>> {
    let sql = format!(
        "SELECT {} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
         AND (t.expires_at IS NULL OR t.expires_at > $2) AND u.disabled = 0",
        TOKEN_COLUMNS.split(", ").map(|c| format!("t.{c}")).collect::<Vec<_>>().join(", ")
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(hash)
        .bind(now_ms())
        .fetch_optional(&mut *c)
        .await?
        .as_ref()
        .map(token_row))
}

/// Records use at most once a minute, so reads through a token do not each cost a write.
pub async fn touch_token(c: &mut Conn, id: i64) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(now)
    .bind(id)
    .bind(now - 60_000)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Revokes every live token of a user but those in `keep` (after a password change or reset:
/// whoever had the account may have made some); how many.
pub async fn revoke_tokens_of(c: &mut Conn, user: i64, by: Option<i64>, keep: &[i64]) -> Result<u64> {
    // Numbers only: the list is safe to write into the statement.
    let kept: Vec<String> = keep.iter().map(i64::to_string).collect();
    let except = if kept.is_empty() { String::new() } else { format!(" AND id NOT IN ({})", kept.join(",")) };
    let sql = format!(
        "UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 WHERE user_id = $3 AND revoked_at IS NULL{except}"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now_ms()).bind(by).bind(user).execute(&mut *c).await?.rows_affected())
}

pub async fn revoke_token(c: &mut Conn, id: i64, by: i64) -> Result<bool> {
    Ok(sqlx::query("UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(by)
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected()
        == 1)
}

#[derive(Clone, Debug, Serialize)]
pub struct Open311Key {
    pub id: i64,
    pub client: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// `public` or `all`: see [`crate::open311::Reads`].
    pub reads: String,
}

const KEY_COLUMNS: &str = "id, client, prefix, created_at, last_used_at, revoked_at, reads";

fn key_row(r: &sqlx::any::AnyRow) -> Open311Key {
    Open311Key {
        id: r.get(0),
        client: r.get(1),
        prefix: r.get(2),
        created_at: r.get(3),
        last_used_at: r.get(4),
        revoked_at: r.get(5),
        reads: r.get(6),
    }
}

pub async fn insert_open311_key(
    c: &mut Conn,
    client: &str,
    hash: &str,
    prefix: &str,
    by: Option<i64>,
    reads: &str,
) -> Result<Open311Key> {
    let sql = format!(
        "INSERT INTO open311_keys (client, key_hash, prefix, created_by, created_at, reads) VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING {KEY_COLUMNS}"
    );
    Ok(key_row(
        &sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(client)
            .bind(hash)
            .bind(prefix)
            .bind(by)
            .bind(now_ms())
            .bind(reads)
            .fetch_one(&mut *c)
            .await?,
    ))
}

pub async fn open311_keys(c: &mut Conn) -> Result<Vec<Open311Key>> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {KEY_COLUMNS} FROM open311_keys ORDER BY id")))
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(key_row)
        .collect())
}

pub async fn revoke_open311_key(c: &mut Conn, id: i64) -> Result<bool> {
    Ok(sqlx::query("UPDATE open311_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected()
        == 1)
}

/// The Open311 client a live key belongs to. Open311 intake asks this for every `api_key`.
pub async fn open311_client(c: &mut Conn, key: &str) -> Result<Option<Open311Key>> {
    let hash = super::secrets::token_hash(key);
    let sql = format!("SELECT {KEY_COLUMNS} FROM open311_keys WHERE key_hash = $1 AND revoked_at IS NULL");
    let k = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(hash).fetch_optional(&mut *c).await?.as_ref().map(key_row);
    if let Some(k) = &k {
        sqlx::query("UPDATE open311_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(k.id)
            .execute(&mut *c)
            .await?;
    }
    Ok(k)
}

// ---- the security log ----

/// Who acted: a signed-in account, the command line (with the operating-system user), or the
/// system itself (first start).
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: Option<i64>,
    pub label: String,
    /// The client's address, or `cli` / `system`.
    pub source: String,
}

impl Actor {
    pub fn cli() -> Actor {
        let who = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
        Actor { id: None, label: format!("cli:{who}"), source: "cli".into() }
    }
    pub fn system() -> Actor {
        Actor { id: None, label: "system".into(), source: "system".into() }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct SecurityEvent {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub subject_id: Option<i64>,
    pub source: String,
    pub detail: serde_json::Value,
}

pub async fn record(
    c: &mut Conn,
    kind: &str,
    actor: &Actor,
    subject: Option<i64>,
    detail: serde_json::Value,
) -> Result<()> {
    sqlx::query("INSERT INTO security_events (at, kind, actor_id, actor, subject_id, source, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(now_ms())
        .bind(kind)
        .bind(actor.id)
        .bind(&actor.label)
        .bind(subject)
        .bind(&actor.source)
        .bind(detail.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// The newest events first, optionally of one kind or about one account.
pub async fn events(c: &mut Conn, kind: Option<&str>, subject: Option<i64>, limit: i64) -> Result<Vec<SecurityEvent>> {
    let rows = sqlx::query(
        "SELECT id, at, kind, actor_id, actor, subject_id, source, detail FROM security_events \
         WHERE ($1 IS NULL OR kind = $1) AND ($2 IS NULL OR subject_id = $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(kind)
    .bind(subject)
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .iter()
        .map(|r| SecurityEvent {
            id: r.get(0),
            at: r.get(1),
            kind: r.get(2),
            actor_id: r.get(3),
            actor: r.get(4),
            subject_id: r.get(5),
            source: r.get(6),
            detail: serde_json::from_str(&r.get::<String, _>(7)).unwrap_or(serde_json::Value::Null),
        })
        .collect())
}
