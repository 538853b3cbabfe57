//! The plugin lifecycle in the database: publisher keys, the versions of each domain's plugin, which
//! one serves each domain, every change of that (who, when, from where, why), and the faults that
//! quarantine a version. Every change runs in one transaction that also counts up `plugin_state`,
//! which every host polls to reload ([`super::registry`]).
//!
//! Versions are immutable and never deleted: a case pinned to a version can always run it again.

use super::check::Report;
use super::signing::{SignatureDoc, TrustedKey};
use super::{Granted, Limits, Plugin, Runtime};
use crate::api_error::ApiError;
use crate::auth::Principal;
use crate::auth::store::{Actor, Conn};
use crate::store::{Db, Lock, StoreError, now_ms, rfc3339};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One stored version, without its bytes.
#[derive(Debug, Clone, Serialize)]
pub struct VersionRow {
    pub domain: String,
    pub version: String,
    pub sha256: String,
    pub size_bytes: i64,
    /// `bundled` or `published`.
    pub source: String,
    pub key_fingerprint: Option<String>,
    pub published_by: Option<String>,
    #[serde(serialize_with = "ser_time")]
    pub published_at: i64,
    pub manifest: serde_json::Value,
    #[serde(serialize_with = "ser_opt_time")]
    pub quarantined_at: Option<i64>,
    pub quarantine_reason: Option<String>,
}

fn ser_time<S: serde::Serializer>(ms: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*ms))
}

fn ser_opt_time<S: serde::Serializer>(ms: &Option<i64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&rfc3339(*ms)),
        None => s.serialize_none(),
    }
}

const VERSION_COLUMNS: &str = "v.domain, v.version, v.sha256, v.size_bytes, v.source, k.fingerprint, u.login, \
     v.published_at, v.manifest, v.quarantined_at, v.quarantine_reason \
     FROM plugin_versions v LEFT JOIN publisher_keys k ON k.id = v.key_id LEFT JOIN users u ON u.id = v.published_by";

fn version_row(r: &crate::store::Row) -> VersionRow {
    VersionRow {
        domain: r.get(0),
        version: r.get(1),
        sha256: r.get(2),
        size_bytes: r.get(3),
        source: r.get(4),
        key_fingerprint: r.get(5),
        published_by: r.get(6),
        published_at: r.get(7),
        manifest: serde_json::from_str(&r.get::<String, _>(8)).unwrap_or_default(),
        quarantined_at: r.get(9),
        quarantine_reason: r.get(10),
    }
}

pub async fn versions(c: &mut Conn, domain: Option<&str>) -> Result<Vec<VersionRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {VERSION_COLUMNS} WHERE ($1 IS NULL OR v.domain = $1) ORDER BY v.domain, v.id"
    )))
    .bind(domain)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.iter().map(version_row).collect())
}

pub async fn version(c: &mut Conn, domain: &str, version: &str) -> Result<Option<VersionRow>> {
    let row =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {VERSION_COLUMNS} WHERE v.domain = $1 AND v.version = $2")))
            .bind(domain)
            .bind(version)
            .fetch_optional(&mut *c)
            .await?;
    Ok(row.as_ref().map(version_row))
}

/// A version's component: (sha256, bytes).
pub async fn component(c: &mut Conn, domain: &str, version: &str) -> Result<Option<(String, Vec<u8>)>> {
    let row = sqlx::query("SELECT sha256, component FROM plugin_versions WHERE domain = $1 AND version = $2")
        .bind(domain)
        .bind(version)
        .fetch_optional(&mut *c)
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// What serves a domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainRow {
    pub domain: String,
    pub enabled: bool,
    pub active_version: String,
    /// `active`, or `manual`: the active version was quarantined and nothing was left to fall back
    /// on; officers work the domain's cases without assessment.
    pub mode: String,
    #[serde(serialize_with = "ser_time")]
    pub changed_at: i64,
}

pub async fn domains(c: &mut Conn) -> Result<Vec<DomainRow>> {
    let rows =
        sqlx::query("SELECT domain, enabled, active_version, mode, changed_at FROM plugin_domains ORDER BY domain")
            .fetch_all(&mut *c)
            .await?;
    Ok(rows.iter().map(domain_row).collect())
}

async fn domain(c: &mut Conn, domain: &str) -> Result<Option<DomainRow>> {
    let row =
        sqlx::query("SELECT domain, enabled, active_version, mode, changed_at FROM plugin_domains WHERE domain = $1")
            .bind(domain)
            .fetch_optional(&mut *c)
            .await?;
    Ok(row.as_ref().map(domain_row))
}

fn domain_row(r: &crate::store::Row) -> DomainRow {
    DomainRow {
        domain: r.get(0),
        enabled: r.get::<i64, _>(1) != 0,
        active_version: r.get(2),
        mode: r.get(3),
        changed_at: r.get(4),
    }
}

/// The change counter every host polls.
pub async fn seq(c: &mut Conn) -> Result<i64> {
    Ok(sqlx::query("SELECT seq FROM plugin_state WHERE id = 1").fetch_one(&mut *c).await?.get(0))
}

#[derive(Debug, Clone, Serialize)]
pub struct Activation {
    pub id: i64,
    pub domain: String,
    pub action: String,
    pub version: String,
    pub previous: Option<String>,
    pub mode: String,
    pub actor: String,
    pub source: String,
    pub reason: Option<String>,
    #[serde(serialize_with = "ser_time")]
    pub at: i64,
}

pub async fn activations(c: &mut Conn, domain: &str) -> Result<Vec<Activation>> {
    let rows = sqlx::query(
        "SELECT id, domain, action, version, previous, mode, actor, source, reason, at FROM plugin_activations \
         WHERE domain = $1 ORDER BY id",
    )
    .bind(domain)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Activation {
            id: r.get(0),
            domain: r.get(1),
            action: r.get(2),
            version: r.get(3),
            previous: r.get(4),
            mode: r.get(5),
            actor: r.get(6),
            source: r.get(7),
            reason: r.get(8),
            at: r.get(9),
        })
        .collect())
}

/// Every domain that serves or has a version, each once, in order.
pub async fn domain_codes(db: &Db) -> Result<Vec<String>> {
    let mut c = db.pool().acquire().await?;
    let mut codes: Vec<String> = domains(&mut c).await?.into_iter().map(|d| d.domain).collect();
    // A domain whose versions were published but that never served has no `plugin_domains` row.
    codes.extend(versions(&mut c, None).await?.into_iter().map(|v| v.domain));
    codes.sort();
    codes.dedup();
    Ok(codes)
}

/// One domain as admins and its publishers see it: what serves, every version, the faults of the
/// last hour and, when asked, every change of what served.
#[derive(Debug)]
pub struct Overview {
    pub state: Option<DomainRow>,
    pub versions: Vec<VersionRow>,
    pub recent_faults: Vec<serde_json::Value>,
    pub activations: Option<Vec<Activation>>,
}

/// A domain's [`Overview`]; 404 for a domain that neither serves nor has a version.
pub async fn overview(db: &Db, domain_code: &str, history: bool) -> Result<Overview, ApiError> {
    let mut c = db.pool().acquire().await.map_err(StoreError::from)?;
    let state = domains(&mut c).await?.into_iter().find(|d| d.domain == domain_code);
    let stored = versions(&mut c, Some(domain_code)).await?;
    if state.is_none() && stored.is_empty() {
        return Err(ApiError::not_found("domain", domain_code));
    }
    let hour_ago = now_ms() - 3_600_000;
    let faults = recent_faults(&mut c, domain_code, hour_ago).await?;
    let changes = if history { Some(activations(&mut c, domain_code).await?) } else { None };
    Ok(Overview { state, versions: stored, recent_faults: faults, activations: changes })
}

/// Sets what serves a domain and records the change, in the caller's transaction (which holds
/// [`Lock::PluginState`]).
async fn change(
    tx: &mut Conn,
    actor: &Actor,
    action: &str,
    new: &DomainRow,
    previous: Option<&DomainRow>,
    reason: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO plugin_domains (domain, enabled, active_version, mode, changed_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (domain) DO UPDATE SET enabled = $2, active_version = $3, mode = $4, changed_at = $5",
    )
    .bind(&new.domain)
    .bind(i64::from(new.enabled))
    .bind(&new.active_version)
    .bind(&new.mode)
    .bind(new.changed_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO plugin_activations (domain, action, version, previous, mode, actor_id, actor, source, reason, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&new.domain)
    .bind(action)
    .bind(&new.active_version)
    .bind(previous.map(|p| p.active_version.clone()))
    .bind(if new.enabled { new.mode.as_str() } else { "disabled" })
    .bind(actor.id)
    .bind(&actor.label)
    .bind(&actor.source)
    .bind(reason)
    .bind(new.changed_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE plugin_state SET seq = seq + 1 WHERE id = 1").execute(&mut *tx).await?;
    Ok(())
}

/// The requested and granted limits of a version, against the ceilings.
#[derive(Debug, Clone, Serialize)]
pub struct LimitsView {
    pub requested: serde_json::Value,
    pub granted: Granted,
    pub ceilings: serde_json::Value,
}

pub fn limits_view(manifest: &serde_json::Value, limits: &Limits) -> LimitsView {
    let asked = &manifest["limits"];
    let pick = |k: &str| asked[k].as_u64();
    LimitsView {
        requested: asked.clone(),
        granted: Granted {
            memory_bytes: pick("memory_bytes").unwrap_or(limits.default_memory_bytes).min(limits.max_memory_bytes),
            call_millis: pick("call_millis")
                .map_or(limits.default_call_millis, |m| m.min(u64::from(u32::MAX)) as u32)
                .min(limits.max_call_millis),
            component_bytes: pick("component_bytes")
                .unwrap_or(limits.default_component_bytes)
                .min(limits.max_component_bytes),
        },
        ceilings: json!({"memory_bytes": limits.max_memory_bytes, "call_millis": limits.max_call_millis,
                         "component_bytes": limits.max_component_bytes}),
    }
}

fn manifest_json(p: &Plugin) -> String {
    serde_json::to_string(p.manifest()).unwrap_or_else(|_| "{}".into())
}

async fn insert_version(
    tx: &mut Conn,
    p: &Plugin,
    bytes: &[u8],
    source: &str,
    key: Option<i64>,
    signature: Option<&SignatureDoc>,
    by: Option<i64>,
) -> Result<()> {
    let m = p.manifest();
    sqlx::query(
        "INSERT INTO plugin_versions (domain, version, sha256, size_bytes, component, source, key_id, signature, \
         published_by, published_at, manifest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&m.domain)
    .bind(&m.version)
    .bind(&p.sha256)
    .bind(bytes.len() as i64)
    .bind(bytes)
    .bind(source)
    .bind(key)
    .bind(signature.and_then(|s| serde_json::to_string(s).ok()))
    .bind(by)
    .bind(now_ms())
    .bind(manifest_json(p))
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::unique(e, format!("{} {}", m.domain, m.version)))?;
    Ok(())
}

/// What became of a bundled component at start.
#[derive(Debug, PartialEq, Eq)]
pub enum Installed {
    /// Stored now.
    New,
    /// The same bytes were stored already.
    Present,
    /// Another component was stored under this version: a version is immutable.
    Conflict { installed_sha256: String },
}

/// Stores a bundled component as a version (trusted: it shipped with the host), and on a domain's
/// first start enables it. A later start that brings a newer bundled version installs it but does
/// not switch: which rules serve is the admin's decision.
pub async fn install_bundled(db: &Db, p: &Plugin, bytes: &[u8]) -> Result<Installed> {
    let m = p.manifest();
    let mut tx = db.write().await?;
    db.serialise(&mut tx, Lock::PluginState).await?;
    let installed = match version(&mut tx, &m.domain, &m.version).await? {
        Some(v) if v.sha256 == p.sha256 => Installed::Present,
        Some(v) => Installed::Conflict { installed_sha256: v.sha256 },
        None => {
            insert_version(&mut tx, p, bytes, "bundled", None, None, None).await?;
            Installed::New
        }
    };
    if installed != Installed::Present
        && !matches!(installed, Installed::Conflict { .. })
        && domain(&mut tx, &m.domain).await?.is_none()
    {
        let row = DomainRow {
            domain: m.domain.clone(),
            enabled: true,
            active_version: m.version.clone(),
            mode: "active".into(),
            changed_at: now_ms(),
        };
        change(&mut tx, &Actor::system(), "install", &row, None, Some("bundled with the host; first start")).await?;
    }
    tx.commit().await?;
    Ok(installed)
}

fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// Registers a domain team's public key.
pub async fn register_key(
    db: &Db,
    actor: &Actor,
    domain: &str,
    name: &str,
    public_key: &str,
) -> Result<(i64, String), ApiError> {
    crate::admin::ops::check_domain_code(domain, "domain")?;
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(invalid("invalid-name", "name the key (who holds it), in at most 100 characters").field("name"));
    }
    let key =
        super::signing::parse_public_key(public_key).map_err(|m| invalid("invalid-key", m).field("public_key"))?;
    let fp = super::signing::fingerprint(key.as_bytes());
    let mut tx = db.write().await?;
    let id: i64 = sqlx::query(
        "INSERT INTO publisher_keys (domain, name, public_key, fingerprint, registered_by, registered_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(domain)
    .bind(name.trim())
    .bind(hex::encode(key.as_bytes()))
    .bind(&fp)
    .bind(actor.id)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| StoreError::unique(e, format!("the key {fp}")))?
    .get(0);
    crate::auth::store::record(
        &mut tx,
        "publisher-key-registered",
        actor,
        None,
        json!({"key_id": id, "domain": domain, "fingerprint": fp, "name": name.trim()}),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok((id, fp))
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyRow {
    pub id: i64,
    pub domain: String,
    pub name: String,
    pub public_key: String,
    pub fingerprint: String,
    #[serde(serialize_with = "ser_time")]
    pub registered_at: i64,
    #[serde(serialize_with = "ser_opt_time")]
    pub revoked_at: Option<i64>,
}

pub async fn keys(c: &mut Conn) -> Result<Vec<KeyRow>> {
    let rows = sqlx::query(
        "SELECT id, domain, name, public_key, fingerprint, registered_at, revoked_at FROM publisher_keys ORDER BY id",
    )
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .iter()
        .map(|r| KeyRow {
            id: r.get(0),
            domain: r.get(1),
            name: r.get(2),
            public_key: r.get(3),
            fingerprint: r.get(4),
            registered_at: r.get(5),
            revoked_at: r.get(6),
        })
        .collect())
}

pub async fn revoke_key(db: &Db, actor: &Actor, id: i64) -> Result<(), ApiError> {
    let mut tx = db.write().await?;
    let done =
        sqlx::query("UPDATE publisher_keys SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(actor.id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?
            .rows_affected();
    if done == 0 {
        return Err(ApiError::not_found("active publisher key", &id.to_string()));
    }
    crate::auth::store::record(&mut tx, "publisher-key-revoked", actor, None, json!({"key_id": id})).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

pub async fn trusted_key(c: &mut Conn, public_key: &str) -> Result<Option<TrustedKey>> {
    let row =
        sqlx::query("SELECT id, domain, fingerprint FROM publisher_keys WHERE public_key = $1 AND revoked_at IS NULL")
            .bind(public_key)
            .fetch_optional(&mut *c)
            .await?;
    Ok(row.map(|r| TrustedKey { id: r.get(0), domain: r.get(1), fingerprint: r.get(2) }))
}

/// What publishing answers.
#[derive(Debug, Serialize)]
pub struct Published {
    /// False when these very bytes were published before under this version.
    pub created: bool,
    pub version: VersionRow,
    pub limits: LimitsView,
}

/// Stores a checked, signed version. The caller has loaded the component (which checks the
/// contract) and run its self-tests; here the signature is verified against the registered keys
/// and the version's immutability is enforced.
pub async fn publish(
    db: &Db,
    actor: &Actor,
    limits: &Limits,
    p: &Plugin,
    bytes: &[u8],
    signature: Option<&SignatureDoc>,
) -> Result<Published, ApiError> {
    let m = p.manifest();
    let mut tx = db.write().await?;
    db.serialise(&mut tx, Lock::PluginState).await?;
    let key = match signature {
        Some(s) => trusted_key(&mut tx, &s.public_key.trim().to_lowercase()).await?,
        None => None,
    };
    let key = super::signing::verify(signature, &p.sha256, &m.domain, &m.version, |_| key)
        .map_err(|e| invalid(e.code(), e.to_string()).field("signature"))?;
    let created = match version(&mut tx, &m.domain, &m.version).await? {
        Some(v) if v.sha256 == p.sha256 => false,
        Some(v) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "version-exists",
                format!(
                    "{} {} was published with other bytes (sha256 {}…): a version is immutable; publish a new version",
                    m.domain,
                    m.version,
                    &v.sha256[..12]
                ),
            ));
        }
        None => {
            insert_version(&mut tx, p, bytes, "published", Some(key.id), signature, actor.id).await?;
            crate::auth::store::record(
                &mut tx,
                "plugin-published",
                actor,
                None,
                json!({"domain": m.domain, "version": m.version, "sha256": p.sha256, "key": key.fingerprint}),
            )
            .await?;
            true
        }
    };
    let row =
        version(&mut tx, &m.domain, &m.version).await?.ok_or_else(|| StoreError::NotFound("the version".into()))?;
    tx.commit().await.map_err(StoreError::from)?;
    let limits = limits_view(&row.manifest, limits);
    Ok(Published { created, version: row, limits })
}

/// A component as a publisher sent it: the `.wasm` bytes and the signature document
/// `casegrid plugin publish` made for them, when one was sent.
pub struct Upload {
    pub component: bytes::Bytes,
    pub signature: Option<SignatureDoc>,
}

/// 413 for a component over the size cap, whether the request's body limit or the cap caught it.
pub fn component_too_large() -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "component-too-large", "the component is over the size cap")
        .field("component")
}

/// Publishes what a publisher uploaded. The component is loaded in the sandbox, checked against the
/// contract and its self-tests run, exactly as `casegrid plugin check` does; only a version that
/// passes, signed by a key registered for its domain, is stored ([`publish`]).
pub async fn publish_upload(
    db: &Db,
    runtime: &Arc<Runtime>,
    caller: &Principal,
    actor: &Actor,
    upload: Upload,
) -> Result<Published, ApiError> {
    let Upload { component, signature } = upload;
    let limits = runtime.limits();
    if component.len() as u64 > limits.max_component_bytes {
        return Err(component_too_large());
    }
    // Cheap refusals first: the caller's scope, then whether the signature speaks for these bytes,
    // before anything is compiled.
    if let Some(s) = &signature
        && !caller.publishes_for(&s.domain)
    {
        return Err(ApiError::forbidden(format!("you do not publish for {}", s.domain)));
    }
    precheck_signature(db, signature.as_ref(), &component).await?;
    let (plugin, report) = load_and_check(runtime, component.clone()).await?;
    // The signature named a domain; the manifest is what the component really serves.
    let m = plugin.manifest();
    if !caller.publishes_for(&m.domain) {
        return Err(ApiError::forbidden(format!("you do not publish for {}", m.domain)));
    }
    if !report.passed() {
        return Err(check_failed(&report));
    }
    publish(db, actor, limits, &plugin, &component, signature.as_ref()).await
}

/// Verifies the signature against the registered keys for the domain and version it names, before
/// the component is compiled; [`publish`] verifies it again, against the manifest, in the
/// transaction that stores the version.
async fn precheck_signature(db: &Db, signature: Option<&SignatureDoc>, component: &[u8]) -> Result<(), ApiError> {
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(component));
    let mut c = db.pool().acquire().await.map_err(StoreError::from)?;
    let key = match signature {
        Some(s) => trusted_key(&mut c, &s.public_key.trim().to_lowercase()).await?,
        None => None,
    };
    let (domain, version) = signature.map_or(("", ""), |s| (s.domain.as_str(), s.version.as_str()));
    super::signing::verify(signature, &sha256, domain, version, |_| key)
        .map_err(|e| invalid(e.code(), e.to_string()).field("signature"))?;
    Ok(())
}

/// Loads the component in the sandbox (which checks the contract) and runs its full check, on a
/// blocking thread: compiling and running a component would stall the async workers.
async fn load_and_check(runtime: &Arc<Runtime>, bytes: bytes::Bytes) -> Result<(Arc<Plugin>, Report), ApiError> {
    let rt = runtime.clone();
    tokio::task::spawn_blocking(move || {
        let p = rt.load_bytes(&bytes)?;
        let now = now_ms() / 1000;
        let report = super::check::full(&p, now);
        Ok::<_, super::LoadError>((p, report))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "publish", e.to_string()))?
    .map_err(|e| {
        let mut err = invalid(e.code(), e.to_string()).field("component");
        if let super::LoadError::Contract(problems) = &e {
            err.details = Some(Box::new(json!(problems)));
        }
        err
    })
}

/// 422 for a component that loads but fails its checks, with the whole report.
fn check_failed(report: &Report) -> ApiError {
    let mut e = invalid(
        "check-failed",
        format!(
            "the plugin does not pass its checks: {} contract problems, {} of {} self-tests failed",
            report.problems.len(),
            report.self_tests.iter().filter(|t| !t.passed).count(),
            report.self_tests.len()
        ),
    )
    .field("component");
    e.details = Some(Box::new(serde_json::to_value(report).unwrap_or_default()));
    e
}

/// An admin's change of what serves a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// Serve this version (enabling the domain if it was disabled); a quarantined version is
    /// released by activating it.
    Activate(&'a str),
    /// Serve the version that served before the current one.
    Rollback,
    Enable,
    Disable,
}

/// Clears a version's quarantine; the faults before now no longer count against it.
async fn lift_quarantine(tx: &mut Conn, domain: &str, version: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE plugin_versions SET quarantined_at = NULL, quarantine_reason = NULL, released_at = $1 WHERE domain = $2 AND version = $3",
    )
    .bind(now)
    .bind(domain)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Lifts a version's quarantine without making it serve: cases pinned to it can be assessed under
/// it again. Recorded in the security log.
pub async fn release_quarantine(
    db: &Db,
    actor: &Actor,
    domain: &str,
    v: &str,
    reason: &str,
) -> Result<VersionRow, ApiError> {
    let reason = reason.trim();
    if reason.chars().count() < 5 {
        return Err(invalid("required", "say why it is safe again, in at least 5 characters").field("reason"));
    }
    let mut tx = db.write().await?;
    db.serialise(&mut tx, Lock::PluginState).await?;
    let row =
        version(&mut tx, domain, v).await?.ok_or_else(|| ApiError::not_found(&format!("version of {domain}"), v))?;
    if row.quarantined_at.is_none() {
        return Err(ApiError::new(StatusCode::CONFLICT, "not-quarantined", format!("{domain} {v} is not quarantined")));
    }
    lift_quarantine(&mut tx, domain, v, now_ms()).await?;
    crate::auth::store::record(
        &mut tx,
        "plugin-quarantine-lifted",
        actor,
        None,
        json!({"domain": domain, "version": v, "reason": reason, "quarantine_reason": row.quarantine_reason}),
    )
    .await?;
    let row = version(&mut tx, domain, v).await?.ok_or_else(|| StoreError::NotFound("the version".into()))?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(row)
}

/// Applies an admin's change; returns the domain's new state.
pub async fn apply(
    db: &Db,
    actor: &Actor,
    domain_code: &str,
    change_: Change<'_>,
    reason: Option<&str>,
) -> Result<DomainRow, ApiError> {
    let mut tx = db.write().await?;
    db.serialise(&mut tx, Lock::PluginState).await?;
    let current = domain(&mut tx, domain_code).await?;
    let now = now_ms();
    // A refusal returns before the commit: whatever the change wrote so far is rolled back.
    let (action, new) = match change_ {
        Change::Activate(v) => ("activate", activated(&mut tx, domain_code, current.as_ref(), v, now).await?),
        Change::Rollback => ("rollback", rolled_back(&mut tx, domain_code, current.as_ref(), now).await?),
        Change::Enable | Change::Disable => toggled(domain_code, current.as_ref(), change_ == Change::Enable, now)?,
    };
    change(&mut tx, actor, action, &new, current.as_ref(), reason).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(new)
}

/// The domain serving `v`, which must exist and not serve already; a quarantined `v` is released
/// by activating it.
async fn activated(
    tx: &mut Conn,
    domain_code: &str,
    current: Option<&DomainRow>,
    v: &str,
    now: i64,
) -> Result<DomainRow, ApiError> {
    let row = version(tx, domain_code, v)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("version of {domain_code}"), v).field("version"))?;
    if row.quarantined_at.is_some() {
        lift_quarantine(tx, domain_code, v, now).await?;
    }
    if current.is_some_and(|c| c.enabled && c.active_version == v && c.mode == "active") {
        return Err(ApiError::new(StatusCode::CONFLICT, "already-active", format!("{domain_code} already serves {v}")));
    }
    Ok(DomainRow {
        domain: domain_code.into(),
        enabled: true,
        active_version: v.into(),
        mode: "active".into(),
        changed_at: now,
    })
}

/// The domain serving again the version that served before the current one took over: the latest
/// activation of another version that is not quarantined (a disabling served nothing).
async fn rolled_back(
    tx: &mut Conn,
    domain_code: &str,
    current: Option<&DomainRow>,
    now: i64,
) -> Result<DomainRow, ApiError> {
    let cur = current.ok_or_else(|| ApiError::not_found("domain", domain_code))?;
    let v = last_usable(tx, domain_code, |a| a.version != cur.active_version && a.mode != "disabled")
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "nothing-to-roll-back-to",
                format!("{domain_code} has served no other usable version"),
            )
        })?;
    Ok(DomainRow {
        domain: domain_code.into(),
        enabled: true,
        active_version: v,
        mode: "active".into(),
        changed_at: now,
    })
}

/// The domain enabled or disabled, with the action to record; it must exist and not be so already.
fn toggled(
    domain_code: &str,
    current: Option<&DomainRow>,
    enabled: bool,
    now: i64,
) -> Result<(&'static str, DomainRow), ApiError> {
    let cur = current.ok_or_else(|| ApiError::not_found("domain", domain_code))?;
    if cur.enabled == enabled {
        let state = if enabled { "enabled" } else { "disabled" };
        return Err(ApiError::new(StatusCode::CONFLICT, "unchanged", format!("{domain_code} is {state} already")));
    }
    let action = if enabled { "enable" } else { "disable" };
    Ok((action, DomainRow { enabled, changed_at: now, ..cur.clone() }))
}

/// The version of the latest activation `eligible` admits whose version is not quarantined: what
/// an admin's rollback and a quarantine's fallback both look for, each with its own idea of which
/// earlier activations count.
async fn last_usable(
    tx: &mut Conn,
    domain_code: &str,
    eligible: impl Fn(&Activation) -> bool,
) -> Result<Option<String>> {
    for a in activations(tx, domain_code).await?.iter().rev() {
        if !eligible(a) {
            continue;
        }
        if version(tx, domain_code, &a.version).await?.is_some_and(|v| v.quarantined_at.is_none()) {
            return Ok(Some(a.version.clone()));
        }
    }
    Ok(None)
}

/// Records a serving call's fault; when the version has faulted more than `max` times within the
/// window and still serves its domain, quarantines it: the domain falls back to the version that
/// served before it, or, with none, to manual mode; admins are told through the outbox.
/// Returns the domain's new state when it changed.
pub async fn record_fault(
    db: &Db,
    notify: &crate::notify::NotifySettings,
    policy: &FaultPolicy,
    fault: &Fault,
    host: &str,
) -> Result<Option<DomainRow>> {
    let mut tx = db.write().await?;
    let n = count_fault(&mut tx, policy, fault, host).await?;
    if policy.max_faults == 0 || n <= i64::from(policy.max_faults) {
        tx.commit().await?;
        return Ok(None);
    }
    db.serialise(&mut tx, Lock::PluginState).await?;
    // Gone, or quarantined by another host's fault meanwhile: nothing more to do.
    if !version(&mut tx, &fault.domain, &fault.version).await?.is_some_and(|v| v.quarantined_at.is_none()) {
        tx.commit().await?;
        return Ok(None);
    }
    let reason = format!(
        "{n} faults (timeouts, traps, contract violations) within {} minutes, over the limit of {}; the last: {}",
        policy.window_minutes, policy.max_faults, fault.code
    );
    let changed = quarantine(&mut tx, fault, &reason).await?;
    let body = json!({
        "domain": fault.domain, "version": fault.version, "faults": n, "window_minutes": policy.window_minutes,
        "reason": reason,
        "now_serving": changed.as_ref().map(|d| if d.mode == "manual" { json!({"mode": "manual"}) } else { json!({"version": d.active_version}) }),
    });
    let audience = admins_audience(&mut tx, notify, &fault.domain, &fault.version, changed.as_ref(), &reason).await?;
    crate::notify::enqueue(&mut tx, notify, "plugin.quarantined", &body, &audience).await?;
    tx.commit().await?;
    tracing::error!(domain = %fault.domain, version = %fault.version, faults = n, "plugin version quarantined");
    Ok(changed)
}

/// Stores the fault and counts the version's faults within the policy's window.
async fn count_fault(tx: &mut Conn, policy: &FaultPolicy, fault: &Fault, host: &str) -> Result<i64> {
    sqlx::query("INSERT INTO plugin_faults (domain, version, code, host, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&fault.domain)
        .bind(&fault.version)
        .bind(fault.code)
        .bind(host)
        .bind(fault.at)
        .execute(&mut *tx)
        .await?;
    let since = fault.at - i64::from(policy.window_minutes) * 60_000;
    // Faults before an admin lifted a quarantine do not count again.
    Ok(sqlx::query(
        "SELECT COUNT(*) FROM plugin_faults WHERE domain = $1 AND version = $2 AND at > $3 \
         AND at > COALESCE((SELECT released_at FROM plugin_versions WHERE domain = $1 AND version = $2), 0)",
    )
    .bind(&fault.domain)
    .bind(&fault.version)
    .bind(since)
    .fetch_one(&mut *tx)
    .await?
    .get(0))
}

/// Quarantines the faulting version for `reason`; if it serves its domain, the domain falls back to
/// the latest other version that served actively and is not quarantined, or, with none, to manual
/// mode. Returns the domain's new state when it changed.
async fn quarantine(tx: &mut Conn, fault: &Fault, reason: &str) -> Result<Option<DomainRow>> {
    sqlx::query(
        "UPDATE plugin_versions SET quarantined_at = $1, quarantine_reason = $2 WHERE domain = $3 AND version = $4",
    )
    .bind(fault.at)
    .bind(reason)
    .bind(&fault.domain)
    .bind(&fault.version)
    .execute(&mut *tx)
    .await?;
    let current = domain(tx, &fault.domain).await?;
    let Some(cur) = current.as_ref().filter(|c| c.active_version == fault.version && c.mode == "active") else {
        return Ok(None);
    };
    let new = match last_usable(tx, &fault.domain, |a| a.version != fault.version && a.mode == "active").await? {
        Some(f) => DomainRow { active_version: f, mode: "active".into(), changed_at: fault.at, ..cur.clone() },
        // Nothing to fall back on: the version's published data still shows, but nothing is
        // called; officers work without assessment.
        None => DomainRow { mode: "manual".into(), changed_at: fault.at, ..cur.clone() },
    };
    change(tx, &Actor::system(), "quarantine", &new, Some(cur), Some(reason)).await?;
    Ok(Some(new))
}

/// Every enabled admin with an e-mail address, told what was quarantined and what serves now.
async fn admins_audience(
    c: &mut Conn,
    notify: &crate::notify::NotifySettings,
    domain: &str,
    version: &str,
    now: Option<&DomainRow>,
    reason: &str,
) -> Result<crate::notify::Audience> {
    if notify.smtp.is_none() {
        return Ok(Default::default());
    }
    let emails = sqlx::query(
        "SELECT DISTINCT u.email FROM users u JOIN role_grants g ON g.user_id = u.id \
         WHERE g.role = 'admin' AND u.disabled = 0 AND u.email IS NOT NULL ORDER BY u.email",
    )
    .fetch_all(&mut *c)
    .await?
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect();
    let serving = match now {
        Some(d) if d.mode == "manual" => "该领域转入人工模式（案件照常办理，不作自动裁量）".to_string(),
        Some(d) => format!("已回退至 {}", d.active_version),
        None => "该版本当前未在服务".to_string(),
    };
    Ok(crate::notify::Audience {
        emails,
        subject: format!("插件隔离：{domain} {version}"),
        text: format!("领域插件 {domain} {version} 已被隔离：{reason}。{serving}。"),
        phones: Vec::new(),
    })
}

/// `[plugin_policy]` in the settings: when a version is quarantined, and how often hosts look for
/// changes.
#[derive(Debug, Clone, serde::Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPolicy {
    /// A version that faults more than this many times…
    pub max_faults: u32,
    /// …within this many minutes is quarantined (0 faults: never).
    pub window_minutes: u32,
    /// How often each host checks whether what serves a domain changed.
    pub poll_millis: u64,
}

impl Default for FaultPolicy {
    fn default() -> Self {
        Self { max_faults: 20, window_minutes: 5, poll_millis: 500 }
    }
}

/// A serving call that timed out, trapped or broke the contract.
#[derive(Debug, Clone)]
pub struct Fault {
    pub domain: String,
    pub version: String,
    pub code: &'static str,
    pub at: i64,
}

/// Recent faults of a domain's versions, for the admin's view.
pub async fn recent_faults(c: &mut Conn, domain: &str, since: i64) -> Result<Vec<serde_json::Value>> {
    let rows = sqlx::query(
        "SELECT version, code, COUNT(*), MAX(at) FROM plugin_faults WHERE domain = $1 AND at > $2 \
         GROUP BY version, code ORDER BY version, code",
    )
    .bind(domain)
    .bind(since)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .iter()
        .map(|r| json!({"version": r.get::<String, _>(0), "code": r.get::<String, _>(1), "count": r.get::<i64, _>(2), "last_at": rfc3339(r.get(3))}))
        .collect())
}
