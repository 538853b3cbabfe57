//! The HTTP server: state, router, and `run`, which tests call exactly as `main` does.

use crate::api_error::ApiError;
use crate::auth::AuthState;
use crate::config::Settings;
use crate::intake::IntakeState;
use crate::plugins::{LoadFailure, Registry, Runtime};
use crate::store::Db;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Clone, Debug)]
pub struct AppState {
    pub runtime: Arc<Runtime>,
    /// What the server counts (requests, plugin calls, approval steps), served at `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    pub registry: Arc<Registry>,
    pub routing: crate::routing::RoutingRules,
    pub db: Db,
    pub auth: Arc<AuthState>,
    pub intake: Arc<IntakeState>,
    pub cases: Arc<crate::cases::CaseSettings>,
    /// The case record's key and this host's checkpoint of it.
    pub record: Arc<crate::cases::audit::Record>,
    pub open311: Arc<crate::open311::Open311>,
}

/// Builds the runtime, loads the bundled plugins and serves until `shutdown` completes.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let open311 = Arc::new(crate::open311::Open311::new(settings.open311.clone(), settings.public_url.as_deref())?);
    let observer = Arc::new(crate::plugins::HostObserver::default());
    let runtime = Runtime::observed(settings.limits.clone(), Some(settings.cache_dir()), observer.clone())?;
    let db = Db::open(settings.database_url.as_ref().map(|u| u.expose()), &settings.data).await?;
    crate::auth::ensure_admin(&db, &settings.auth).await?;
    let record = Arc::new(crate::cases::audit::Record::open(&db, &settings.record, &settings.data).await?);
    let registry = Registry::start(runtime.clone(), db.clone(), &settings.plugins).await?;
    if registry.snapshot().is_empty() {
        tracing::warn!(dir = %settings.plugins.display(), "no domain is served: run scripts/build-plugins, or set CASEGRID_PLUGINS");
    }
    let auth = Arc::new(AuthState::new(settings.auth));
    let intake = Arc::new(IntakeState {
        calendar: crate::clock::Calendar::load(&settings.intake.calendar_files)?,
        objects: settings.intake.objects.open(&settings.data)?,
        notify: settings.notify.clone(),
        uploads: settings.intake.upload_budget(),
        settings: settings.intake,
    });
    let state = AppState {
        runtime,
        metrics: observer.metrics.clone(),
        registry: registry.clone(),
        routing: settings.routing,
        db: db.clone(),
        auth,
        intake,
        cases: Arc::new(settings.cases),
        record: record.clone(),
        open311,
    };
    // One name per process: the outbox claims its messages, and the fault log says where a fault happened.
    let host = format!("{}-{}", std::process::id(), hex::encode(crate::auth::secrets::random_bytes::<4>()));
    let mut background =
        registry.spawn_background(settings.notify.clone(), settings.plugin_policy, host.clone(), &observer);
    background.push(tokio::spawn(housekeeping(state.clone())));
    background.push(tokio::spawn(record.clone().keep_checkpoints()));
    background.push(tokio::spawn(crate::notify::worker(db.clone(), settings.notify, host)));
    tracing::info!(addr = %listener.local_addr()?, domains = registry.snapshot().len(), backend = ?db.backend(), "casegrid serving");
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    for task in background {
        task.abort();
    }
    // The last head this host wrote, in its checkpoint before it goes.
    if let Ok(Some(problem)) = record.check_point().await {
        tracing::error!(%problem, "the case record's checkpoint is not moved: run `casegrid audit verify`");
    }
    db.close().await;
    served?;
    Ok(())
}

/// Periodic work: the clocks of reports, cases and coercive measures every 30 s, expired sessions
/// every 10 minutes.
async fn housekeeping(state: AppState) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(30));
    let remind = i64::from(state.intake.settings.remind_before_minutes) * 60_000;
    for n in 0u64.. {
        every.tick().await;
        let now = crate::store::now_ms();
        match crate::intake::deadlines::tick(&state.db, &state.intake.notify, now, remind).await {
            Ok(t) if t.reminded + t.escalated > 0 => {
                tracing::info!(reminded = t.reminded, escalated = t.escalated, "report deadlines")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "checking report deadlines failed"),
        }
        let case_remind = i64::from(state.cases.remind_before_hours) * 3_600_000;
        match crate::cases::deadlines::tick(&state.record, &state.intake.notify, now, case_remind).await {
            Ok(t) if t.reminded + t.escalated > 0 => {
                tracing::info!(reminded = t.reminded, escalated = t.escalated, "case deadlines")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "checking case deadlines failed"),
        }
        if n % 20 == 0 {
            match crate::auth::store::purge_expired_sessions(&state.db, state.auth.idle_ms()).await {
                Ok(n) if n > 0 => tracing::info!(sessions = n, "expired sessions purged"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
            }
            let quiet_ms = i64::from(state.auth.settings.lockout_minutes) * 60_000;
            if let Err(e) = crate::auth::store::purge_sign_in_attempts(&state.db, quiet_ms).await {
                tracing::warn!(error = %e, "purging old sign-in attempts failed");
            }
        }
    }
}

/// Every route of the server, each with its document (see [`crate::openapi`]). The arguments are
/// the body limits of the upload routes: a plugin component, a case's evidence file, a report's
/// photos.
pub fn api_router(max_component: usize, max_evidence: usize, max_report: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(crate::openapi::document))
        .merge(crate::domains::routes())
        .merge(crate::auth::routes::routes())
        .merge(crate::admin::routes())
        .merge(crate::plugins::routes::routes(max_component))
        .merge(crate::open311::routes())
        .merge(crate::cases::routes::routes(max_evidence))
        .merge(crate::intake::routes::routes(max_report))
}

pub fn router(state: AppState) -> Router {
    // A body may carry the largest plugin input plus its JSON envelope; anything larger is refused
    // before it is buffered.
    let body_limit = state.runtime.limits().max_input_bytes + 64 * 1024;
    let intake = &state.intake.settings;
    let (router, api) = api_router(
        state.runtime.limits().max_component_bytes as usize,
        intake.max_attachment_bytes + (1 << 20),
        intake.max_attachments * intake.max_attachment_bytes + (1 << 20),
    )
    .split_for_parts();
    router
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such route") })
        .layer(axum::Extension(crate::openapi::serve(&crate::openapi::finish(api))))
        .layer(axum::middleware::from_fn(rejections))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::extract::authenticate))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_request))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// axum's own extractors (`Path`, `Query`) refuse a request in plain text; the API answers every
/// error in its one shape, so their refusals are rewritten here with a stable code.
async fn rejections(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let res = next.run(req).await;
    let plain = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !plain || !res.status().is_client_error() {
        return res;
    }
    let status = res.status();
    let text = match axum::body::to_bytes(res.into_body(), 64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    let code = if text.starts_with("Failed to deserialize query string") {
        "invalid-query"
    } else if text.starts_with("Invalid URL") || text.starts_with("Wrong number of path") {
        "invalid-path"
    } else {
        "invalid-request"
    };
    ApiError::new(status, code, text).into_response()
}

/// Counts every request by method, route template (never the raw path: ids would make a series
/// each) and status, with its latency.
async fn count_request(
    State(state): State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().as_str().to_string();
    let route = req.extensions().get::<axum::extract::MatchedPath>().map_or("unmatched", |m| m.as_str()).to_string();
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    let m = state.metrics;
    let status = res.status().as_u16().to_string();
    m.inc("casegrid_http_requests_total", &[("method", &method), ("route", &route), ("status", &status)]);
    m.observe(
        "casegrid_http_request_duration_seconds",
        &[("method", &method), ("route", &route)],
        started.elapsed().as_secs_f64(),
    );
    res
}

/// `GET /metrics`: Prometheus text. Public like `/healthz`: counts and latencies, no personal data;
/// keep it on the internal network.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    let mut text = state.metrics.render();
    text.push_str("# HELP casegrid_plugin_info The plugin version serving each enabled domain, by domain, version, component hash and mode\n");
    text.push_str("# TYPE casegrid_plugin_info gauge\n");
    for s in state.registry.snapshot().all() {
        let (m, p) = (s.plugin.manifest(), &s.plugin);
        let mode = if s.manual { "manual" } else { "active" };
        text.push_str(&format!(
            "casegrid_plugin_info{{domain=\"{}\",version=\"{}\",sha256=\"{}\",mode=\"{mode}\"}} 1\n",
            m.domain, m.version, p.sha256
        ));
    }
    text.push_str("# HELP casegrid_plugin_refused A stored plugin version this host refused to load, by domain, version and why\n");
    text.push_str("# TYPE casegrid_plugin_refused gauge\n");
    for r in state.registry.refused(None) {
        text.push_str(&format!(
            "casegrid_plugin_refused{{domain=\"{}\",version=\"{}\",code=\"{}\"}} 1\n",
            r.domain, r.version, r.code
        ));
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

#[derive(serde::Serialize)]
struct Health<'a> {
    status: &'static str,
    domains: usize,
    refused: &'a [LoadFailure],
}

#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses((status = 200, description = "`{status, domains, refused}`", body = Object)))]
async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    let refused = state.registry.failures();
    let h = Health { status: "ok", domains: state.registry.snapshot().len(), refused: &refused };
    Json(serde_json::to_value(h).unwrap_or_default())
}

/// A 201 answer: the new resource's address in `Location` (RFC 9110 §10.2.2) and its body.
pub type Created<T> = (StatusCode, [(axum::http::HeaderName, String); 1], Json<T>);

/// `201 Created` at `location` with `body`.
pub fn created<T>(location: String, body: T) -> Created<T> {
    (StatusCode::CREATED, [(axum::http::header::LOCATION, location)], Json(body))
}

/// JSON request bodies whose rejections are API errors naming what is wrong.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => {
                // serde's message names the path of the offending field.
                Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-body", e.body_text()))
            }
            Err(JsonRejection::BytesRejection(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "input-too-large", "the request body is too large"))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content-type",
                "send the body as application/json",
            )),
            Err(e) => Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid-json", e.body_text())),
        }
    }
}
