//! `/api/v1/plugins` and `/api/v1/plugin-keys`: domain teams publish signed versions of their
//! domain's plugin; admins register the teams' keys and choose which version serves each domain.
//! A publisher sees and publishes only its own domains; everything else here is the admin's.

use super::lifecycle::{self, Change};
use super::signing::{self, SignatureDoc};
use crate::api_error::ApiError;
use crate::auth::Role;
use crate::auth::extract::{Caller, ClientIp};
use crate::server::{ApiJson, AppState};
use crate::store::StoreError;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn routes(max_component: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/plugins",
            get(list).post(publish).layer(axum::extract::DefaultBodyLimit::max(max_component + (1 << 20))),
        )
        .route("/api/v1/plugins/{domain}", get(one))
        .route("/api/v1/plugins/{domain}/activate", post(activate))
        .route("/api/v1/plugins/{domain}/rollback", post(rollback))
        .route("/api/v1/plugins/{domain}/enable", post(enable))
        .route("/api/v1/plugins/{domain}/disable", post(disable))
        .route("/api/v1/plugins/{domain}/versions/{version}/release", post(release))
        .route("/api/v1/plugin-keys", get(list_keys).post(register_key))
        .route("/api/v1/plugin-keys/{id}", delete(revoke_key))
}

/// Admins see every domain; a publisher only those it publishes for.
fn may_see(caller: &crate::auth::Principal, domain: &str) -> bool {
    caller.is_admin() || caller.publishes_for(domain)
}

fn require_reader(caller: &crate::auth::Principal) -> Result<(), ApiError> {
    caller.require(&[Role::Admin, Role::Publisher])
}

/// One domain as admins and its publishers see it: what serves, every version with the limits it
/// asks for and is granted, and the faults of the last hour.
async fn domain_view(state: &AppState, domain: &str, history: bool) -> Result<Value, ApiError> {
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let row = lifecycle::domains(&mut c).await?.into_iter().find(|d| d.domain == domain);
    let versions = lifecycle::versions(&mut c, Some(domain)).await?;
    if row.is_none() && versions.is_empty() {
        return Err(ApiError::not_found("domain", domain));
    }
    let limits = state.runtime.limits();
    let versions: Vec<Value> = versions
        .into_iter()
        .map(|v| {
            let l = lifecycle::limits_view(&v.manifest, limits);
            let mut j = serde_json::to_value(&v).unwrap_or_default();
            j["limits"] = serde_json::to_value(l).unwrap_or_default();
            j
        })
        .collect();
    let hour_ago = crate::store::now_ms() - 3_600_000;
    let mut out = json!({
        "domain": domain,
        "state": row,
        "versions": versions,
        "recent_faults": lifecycle::recent_faults(&mut c, domain, hour_ago).await?,
    });
    if history {
        out["activations"] = serde_json::to_value(lifecycle::activations(&mut c, domain).await?).unwrap_or_default();
    }
    Ok(out)
}

async fn list(State(state): State<AppState>, Caller(caller): Caller) -> Result<Json<Value>, ApiError> {
    require_reader(&caller)?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let mut domains: Vec<String> = lifecycle::domains(&mut c).await?.into_iter().map(|d| d.domain).collect();
    domains.extend(lifecycle::versions(&mut c, None).await?.into_iter().map(|v| v.domain));
    drop(c);
    domains.sort();
    domains.dedup();
    let mut out = Vec::new();
    for d in domains.iter().filter(|d| may_see(&caller, d)) {
        out.push(domain_view(&state, d, false).await?);
    }
    Ok(Json(json!({"domains": out})))
}

async fn one(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(domain): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_reader(&caller)?;
    if !may_see(&caller, &domain) {
        return Err(ApiError::forbidden(format!("you publish for other domains than {domain}")));
    }
    Ok(Json(domain_view(&state, &domain, true).await?))
}

/// `POST /api/v1/plugins`: multipart with the `component` (the `.wasm` file) and its `signature`
/// (the JSON document `casegrid plugin publish` makes). The component is loaded in the sandbox,
/// checked against the contract and its self-tests run, exactly as `casegrid plugin check` does;
/// only a version that passes, signed by a key registered for its domain, is stored.
async fn publish(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ip: ClientIp,
    req: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(&[Role::Publisher])?;
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid-multipart", m);
    let too_large = || {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "component-too-large", "the component is over the size cap")
            .field("component")
    };
    let mut mp = Multipart::from_request(req, &state).await.map_err(|e| bad(e.body_text()))?;
    let (mut component, mut signature) = (None, None);
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| if e.status() == StatusCode::PAYLOAD_TOO_LARGE { too_large() } else { bad(e.body_text()) })?
    {
        let name = field.name().unwrap_or("").to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| if e.status() == StatusCode::PAYLOAD_TOO_LARGE { too_large() } else { bad(e.body_text()) })?;
        match name.as_str() {
            "component" => component = Some(bytes),
            "signature" => {
                let doc: SignatureDoc = serde_json::from_slice(&bytes).map_err(|e| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "bad-signature",
                        format!("the signature document: {e}"),
                    )
                    .field("signature")
                })?;
                signature = Some(doc);
            }
            other => return Err(bad(format!("unexpected part `{other}`: send `component` and `signature`"))),
        }
    }
    let component = component.ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "required", "the `component` part (the .wasm file) is missing")
            .field("component")
    })?;
    let limits = state.runtime.limits().clone();
    if component.len() as u64 > limits.max_component_bytes {
        return Err(too_large());
    }
    // Cheap refusals first: the caller's scope, then whether the signature speaks for these bytes,
    // before anything is compiled.
    if let Some(s) = &signature
        && !caller.publishes_for(&s.domain)
    {
        return Err(ApiError::forbidden(format!("you do not publish for {}", s.domain)));
    }
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&component));
    {
        let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
        let key = match &signature {
            Some(s) => lifecycle::trusted_key(&mut c, &s.public_key.trim().to_lowercase()).await?,
            None => None,
        };
        let (domain, version) = signature.as_ref().map_or(("", ""), |s| (s.domain.as_str(), s.version.as_str()));
        signing::verify(signature.as_ref(), &sha256, domain, version, |_| key)
            .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()).field("signature"))?;
    }
    let rt = state.runtime.clone();
    let bytes = component.to_vec();
    let (plugin, report) = tokio::task::spawn_blocking(move || {
        let p = rt.load_bytes(&bytes)?;
        let now = crate::store::now_ms() / 1000;
        let report = super::check::full(&p, now);
        Ok::<_, super::LoadError>((p, report))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "publish", e.to_string()))?
    .map_err(|e| {
        let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()).field("component");
        if let super::LoadError::Contract(problems) = &e {
            err.details = Some(Box::new(json!(problems)));
        }
        err
    })?;
    let m = plugin.manifest();
    if !caller.publishes_for(&m.domain) {
        return Err(ApiError::forbidden(format!("you do not publish for {}", m.domain)));
    }
    if !report.passed() {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "check-failed",
            format!(
                "the plugin does not pass its checks: {} contract problems, {} of {} self-tests failed",
                report.problems.len(),
                report.self_tests.iter().filter(|t| !t.passed).count(),
                report.self_tests.len()
            ),
        )
        .field("component");
        e.details = Some(Box::new(serde_json::to_value(&report).unwrap_or_default()));
        return Err(e);
    }
    let published =
        lifecycle::publish(&state.db, &caller.actor(ip), &limits, &plugin, &component, signature.as_ref()).await?;
    let status = if published.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(serde_json::to_value(&published).unwrap_or_default())))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActivateIn {
    version: String,
    reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReasonIn {
    reason: Option<String>,
}

/// Applies an admin's change, reloads this host at once (the others within a poll), and answers
/// with the domain as it now is, with the limits granted to what serves.
async fn apply(
    state: &AppState,
    caller: &crate::auth::Principal,
    ip: ClientIp,
    domain: &str,
    change: Change<'_>,
    reason: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Admin])?;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    let row = lifecycle::apply(&state.db, &caller.actor(ip), domain, change, reason).await?;
    state.registry.refresh().await?;
    let mut view = domain_view(state, domain, false).await?;
    let serving = view["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["version"] == row.active_version.as_str()))
        .cloned();
    view["serving"] = serving.unwrap_or(Value::Null);
    Ok(Json(view))
}

async fn activate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ip: ClientIp,
    Path(domain): Path<String>,
    ApiJson(body): ApiJson<ActivateIn>,
) -> Result<Json<Value>, ApiError> {
    apply(&state, &caller, ip, &domain, Change::Activate(&body.version), body.reason.as_deref()).await
}

async fn rollback(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ip: ClientIp,
    Path(domain): Path<String>,
    ApiJson(body): ApiJson<ReasonIn>,
) -> Result<Json<Value>, ApiError> {
    apply(&state, &caller, ip, &domain, Change::Rollback, body.reason.as_deref()).await
}

async fn enable(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ip: ClientIp,
    Path(domain): Path<String>,
    ApiJson(body): ApiJson<ReasonIn>,
) -> Result<Json<Value>, ApiError> {
    apply(&state, &caller, ip, &domain, Change::Enable, body.reason.as_deref()).await
}

async fn disable(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ip: ClientIp,
    Path(domain): Path<String>,
    ApiJson(body): ApiJson<ReasonIn>,
) -> Result<Json<Value>, ApiError> {
    apply(&state, &caller, ip, &domain, Change::Disable, body.reason.as_deref()).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseIn {
    reason: String,
}

/// Lifts a version's quarantine without making it serve (cases pinned to it assess again).
async fn release(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ip: ClientIp,
    Path((domain, version)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReleaseIn>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Admin])?;
    let row = lifecycle::release_quarantine(&state.db, &caller.actor(ip), &domain, &version, &body.reason).await?;
    Ok(Json(serde_json::to_value(row).unwrap_or_default()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyIn {
    domain: String,
    name: String,
    public_key: String,
}

async fn list_keys(State(state): State<AppState>, Caller(caller): Caller) -> Result<Json<Value>, ApiError> {
    require_reader(&caller)?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let keys: Vec<_> = lifecycle::keys(&mut c).await?.into_iter().filter(|k| may_see(&caller, &k.domain)).collect();
    Ok(Json(json!({"keys": keys})))
}

async fn register_key(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ip: ClientIp,
    ApiJson(body): ApiJson<KeyIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(&[Role::Admin])?;
    let (id, fingerprint) =
        lifecycle::register_key(&state.db, &caller.actor(ip), &body.domain, &body.name, &body.public_key).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "domain": body.domain, "fingerprint": fingerprint}))))
}

async fn revoke_key(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ip: ClientIp,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Admin])?;
    lifecycle::revoke_key(&state.db, &caller.actor(ip), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
