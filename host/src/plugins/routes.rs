//! `/api/v1/plugins` and `/api/v1/plugin-keys`: domain teams publish signed versions of their
//! domain's plugin; admins register the teams' keys and choose which version serves each domain.
//! A publisher sees and publishes only its own domains; everything else here is the admin's.

use super::lifecycle::{self, Change, Upload};
use super::signing::SignatureDoc;
use crate::api_error::ApiError;
use crate::auth::Role;
use crate::auth::extract::{Caller, ClientIp};
use crate::server::{ApiJson, AppState, Created, created};
use crate::store::StoreError;
use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub fn routes(max_component: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, publish).layer(axum::extract::DefaultBodyLimit::max(max_component + (1 << 20))))
        .routes(routes!(one))
        .routes(routes!(activate))
        .routes(routes!(rollback))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(release))
        .routes(routes!(list_keys, register_key))
        .routes(routes!(revoke_key))
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
    let o = lifecycle::overview(&state.db, domain, history).await?;
    let limits = state.runtime.limits();
    let versions: Vec<Value> = o
        .versions
        .into_iter()
        .map(|v| {
            let l = lifecycle::limits_view(&v.manifest, limits);
            let mut j = serde_json::to_value(&v).unwrap_or_default();
            j["limits"] = serde_json::to_value(l).unwrap_or_default();
            j
        })
        .collect();
    let mut out = json!({
        "domain": domain,
        "state": o.state,
        "versions": versions,
        "recent_faults": o.recent_faults,
        // Versions this host refused to load (bytes nothing vouches for, a load that fails).
        "refused": state.registry.refused(Some(domain)),
    });
    if let Some(activations) = o.activations {
        out["activations"] = serde_json::to_value(activations).unwrap_or_default();
    }
    Ok(out)
}

#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins",
    responses((status = 200, description = "`{domains}`: what serves each domain the caller may see, every version", body = Object)))]
async fn list(State(state): State<AppState>, Caller(caller): Caller) -> Result<Json<Value>, ApiError> {
    require_reader(&caller)?;
    let mut out = Vec::new();
    for d in lifecycle::domain_codes(&state.db).await?.iter().filter(|d| may_see(&caller, d)) {
        out.push(domain_view(&state, d, false).await?);
    }
    Ok(Json(json!({"domains": out})))
}

#[utoipa::path(get, path = "/api/v1/plugins/{domain}", tag = "plugins", params(("domain" = String, Path)),
    responses((status = 200, description = "one domain with its versions and activations", body = Object)))]
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
/// (the JSON document `casegrid plugin publish` makes); [`lifecycle::publish_upload`] checks and
/// stores it. 201 for a new version, 200 when these very bytes were published before.
#[utoipa::path(post, path = "/api/v1/plugins", tag = "plugins",
    request_body(content = Object, content_type = "multipart/form-data",
                 description = "`component` (the .wasm file) and `signature` (the JSON document `casegrid plugin publish` makes)"),
    responses((status = 201, description = "a new version", headers(("Location" = String, description = "where what was created is read")), body = Object),
              (status = 200, description = "these very bytes were published before", body = Object),
              (status = 409, description = "`conflict`: the version exists with other bytes", body = ApiError)))]
async fn publish(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ip: ClientIp,
    req: Request,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Publisher])?;
    let upload = read_upload(&state, req).await?;
    let published = lifecycle::publish_upload(&state.db, &state.runtime, &caller, &caller.actor(ip), upload).await?;
    let body = serde_json::to_value(&published).unwrap_or_default();
    Ok(if published.created {
        created(format!("/api/v1/plugins/{}", published.version.domain), body).into_response()
    } else {
        Json(body).into_response()
    })
}

/// The parts of a publishing request: a `component` (required) and a `signature` that must be a
/// signature document; any other part is refused.
async fn read_upload(state: &AppState, req: Request) -> Result<Upload, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid-multipart", m);
    // Over the route's body limit, the multipart reader fails as the size cap would refuse it.
    let read_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE { lifecycle::component_too_large() } else { bad(e.body_text()) }
    };
    let mut mp = Multipart::from_request(req, state).await.map_err(|e| bad(e.body_text()))?;
    let (mut component, mut signature) = (None, None);
    while let Some(field) = mp.next_field().await.map_err(read_error)? {
        let name = field.name().unwrap_or("").to_string();
        let bytes = field.bytes().await.map_err(read_error)?;
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
    Ok(Upload { component, signature })
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ActivateIn {
    version: String,
    reason: Option<String>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
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

#[utoipa::path(post, path = "/api/v1/plugins/{domain}/activate", tag = "plugins", params(("domain" = String, Path)), request_body = ActivateIn,
    responses((status = 200, description = "the domain as it now serves", body = Object),
              (status = 409, description = "`conflict`", body = ApiError)))]
async fn activate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ip: ClientIp,
    Path(domain): Path<String>,
    ApiJson(body): ApiJson<ActivateIn>,
) -> Result<Json<Value>, ApiError> {
    apply(&state, &caller, ip, &domain, Change::Activate(&body.version), body.reason.as_deref()).await
}

#[utoipa::path(post, path = "/api/v1/plugins/{domain}/rollback", tag = "plugins", params(("domain" = String, Path)), request_body = ReasonIn,
    responses((status = 200, description = "the domain as it now serves", body = Object),
              (status = 409, description = "`conflict`", body = ApiError)))]
async fn rollback(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ip: ClientIp,
    Path(domain): Path<String>,
    ApiJson(body): ApiJson<ReasonIn>,
) -> Result<Json<Value>, ApiError> {
    apply(&state, &caller, ip, &domain, Change::Rollback, body.reason.as_deref()).await
}

#[utoipa::path(post, path = "/api/v1/plugins/{domain}/enable", tag = "plugins", params(("domain" = String, Path)), request_body = ReasonIn,
    responses((status = 200, description = "the domain as it now serves", body = Object),
              (status = 409, description = "`conflict`", body = ApiError)))]
async fn enable(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ip: ClientIp,
    Path(domain): Path<String>,
    ApiJson(body): ApiJson<ReasonIn>,
) -> Result<Json<Value>, ApiError> {
    apply(&state, &caller, ip, &domain, Change::Enable, body.reason.as_deref()).await
}

#[utoipa::path(post, path = "/api/v1/plugins/{domain}/disable", tag = "plugins", params(("domain" = String, Path)), request_body = ReasonIn,
    responses((status = 200, description = "the domain as it now serves", body = Object),
              (status = 409, description = "`conflict`", body = ApiError)))]
async fn disable(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ip: ClientIp,
    Path(domain): Path<String>,
    ApiJson(body): ApiJson<ReasonIn>,
) -> Result<Json<Value>, ApiError> {
    apply(&state, &caller, ip, &domain, Change::Disable, body.reason.as_deref()).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReleaseIn {
    reason: String,
}

/// Lifts a version's quarantine without making it serve (cases pinned to it assess again).
#[utoipa::path(post, path = "/api/v1/plugins/{domain}/versions/{version}/release", tag = "plugins",
    params(("domain" = String, Path), ("version" = String, Path)), request_body = ReleaseIn,
    responses((status = 200, description = "the version, out of quarantine", body = Object),
              (status = 409, description = "`conflict`", body = ApiError)))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct KeyIn {
    domain: String,
    name: String,
    public_key: String,
}

#[utoipa::path(get, path = "/api/v1/plugin-keys", tag = "plugins",
    responses((status = 200, description = "`{keys}`", body = Object)))]
async fn list_keys(State(state): State<AppState>, Caller(caller): Caller) -> Result<Json<Value>, ApiError> {
    require_reader(&caller)?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let keys: Vec<_> = lifecycle::keys(&mut c).await?.into_iter().filter(|k| may_see(&caller, &k.domain)).collect();
    Ok(Json(json!({"keys": keys})))
}

#[utoipa::path(post, path = "/api/v1/plugin-keys", tag = "plugins", request_body = KeyIn,
    responses((status = 201, description = "`{id, domain, fingerprint}`", headers(("Location" = String, description = "where what was created is read")), body = Object),
              (status = 409, description = "`conflict`", body = ApiError)))]
async fn register_key(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ip: ClientIp,
    ApiJson(body): ApiJson<KeyIn>,
) -> Result<Created<Value>, ApiError> {
    caller.require(&[Role::Admin])?;
    let (id, fingerprint) =
        lifecycle::register_key(&state.db, &caller.actor(ip), &body.domain, &body.name, &body.public_key).await?;
    Ok(created(
        format!("/api/v1/plugin-keys/{id}"),
        json!({"id": id, "domain": body.domain, "fingerprint": fingerprint}),
    ))
}

#[utoipa::path(delete, path = "/api/v1/plugin-keys/{id}", tag = "plugins", params(("id" = i64, Path)),
    responses((status = 204, description = "revoked")))]
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
