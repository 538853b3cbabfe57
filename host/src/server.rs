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
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

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
    let registry = Registry::start(runtime.clone(), db.clone(), &settings.plugins).await?;
    if registry.snapshot().is_empty() {
        tracing::warn!(dir = %settings.plugins.display(), "no domain is served: run scripts/build-plugins, or set CASEGRID_PLUGINS");
    }
    let auth = Arc::new(AuthState::new(settings.auth));
    let intake = Arc::new(IntakeState {
        calendar: crate::clock::Calendar::load(&settings.intake.calendar_files)?,
        objects: settings.intake.objects.open(&settings.data)?,
        notify: settings.notify.clone(),
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
        open311,
    };
    // One name per process: the outbox claims its messages, and the fault log says where a fault happened.
    let host = format!("{}-{}", std::process::id(), hex::encode(crate::auth::secrets::random_bytes::<4>()));
    let mut background = registry.spawn_background(settings.notify.clone(), settings.plugin_policy, host.clone(), &observer);
    background.push(tokio::spawn(housekeeping(state.clone())));
    background.push(tokio::spawn(crate::notify::worker(db.clone(), settings.notify, host)));
    tracing::info!(addr = %listener.local_addr()?, domains = registry.snapshot().len(), backend = ?db.backend(), "casegrid serving");
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    for task in background {
        task.abort();
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
        match crate::cases::deadlines::tick(&state.db, &state.intake.notify, now, case_remind).await {
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
        }
    }
}

pub fn router(state: AppState) -> Router {
    // A body may carry the largest plugin input plus its JSON envelope; anything larger is refused
    // before it is buffered.
    let body_limit = state.runtime.limits().max_input_bytes + 64 * 1024;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(crate::domains::routes())
        .merge(crate::auth::routes::routes())
        .merge(crate::admin::routes())
        .merge(crate::plugins::routes::routes(state.runtime.limits().max_component_bytes as usize))
        .merge(crate::open311::routes())
        .merge(crate::cases::routes::routes(state.intake.settings.max_attachment_bytes + (1 << 20)))
        .merge(crate::intake::routes::routes(
            state.intake.settings.max_attachments * state.intake.settings.max_attachment_bytes + (1 << 20),
        ))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such route") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::extract::authenticate))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_request))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
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
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

#[derive(serde::Serialize)]
struct Health<'a> {
    status: &'static str,
    domains: usize,
    refused: &'a [LoadFailure],
}

async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    let h = Health { status: "ok", domains: state.registry.snapshot().len(), refused: &state.registry.failures };
    Json(serde_json::to_value(h).unwrap_or_default())
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
