//! `/api/v1/domains`: what each loaded domain plugin supplies — manifest, categories, forms,
//! checklist — and its validation, assessment and classification, served the same way for every
//! domain. Reading what a domain publishes is public (APL art. 34: discretion benchmarks are
//! published); validating a form is open to anyone filing one; assessing and classifying by hand
//! are staff work.

use crate::api_error::ApiError;
use crate::auth::extract::Caller;
use crate::auth::{Principal, Role};
use crate::plugins::bindings::{Assessment, CategoryScore, FieldError, FieldValue, Form, Item, Manifest};
use crate::plugins::{Granted, Plugin, Served};
use crate::server::{ApiJson, AppState};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/domains", get(list))
        .route("/api/v1/domains/{domain}", get(one))
        .route("/api/v1/domains/{domain}/checklist", get(checklist))
        .route("/api/v1/domains/{domain}/checklist/{item}", get(checklist_item))
        .route("/api/v1/domains/{domain}/forms/{form}", get(form))
        .route("/api/v1/domains/{domain}/forms/{form}/validate", post(validate))
        .route("/api/v1/domains/{domain}/assess", post(assess))
        .route("/api/v1/domains/{domain}/classify", post(classify))
        .route("/api/v1/classify", post(classify_all))
}

#[derive(Serialize)]
struct DomainSummary<'a> {
    #[serde(flatten)]
    manifest: &'a Manifest,
    sha256: &'a str,
    size_bytes: u64,
    granted: Granted,
    categories: usize,
    checklist_items: usize,
    /// `active`, or `manual`: the serving version was quarantined with nothing to fall back on;
    /// its published data shows, but nothing is validated or assessed by it.
    mode: &'static str,
}

fn summary(s: &Served) -> DomainSummary<'_> {
    let p = &s.plugin;
    DomainSummary {
        manifest: p.manifest(),
        sha256: &p.sha256,
        size_bytes: p.size,
        granted: p.granted,
        categories: p.data().categories.len(),
        checklist_items: p.data().checklist.len(),
        mode: if s.manual { "manual" } else { "active" },
    }
}

/// What serves an enabled domain (404 otherwise; 503 `plugin-refused` when its version was
/// refused at load with nothing served before), manual mode included: its published data.
fn served(state: &AppState, domain: &str) -> Result<Served, ApiError> {
    if let Some(s) = state.registry.snapshot().served(domain) {
        return Ok(s.clone());
    }
    match state.registry.refused(Some(domain)).into_iter().next() {
        Some(r) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "plugin-refused",
            format!("{domain} is not served: its plugin version {} was refused ({}): {}", r.version, r.code, r.error),
        )),
        None => Err(ApiError::not_found("domain", domain)),
    }
}

/// The plugin to call for `domain`: 503 `manual-mode` while the domain is in manual mode.
pub fn callable(state: &AppState, domain: &str) -> Result<Arc<Plugin>, ApiError> {
    let s = served(state, domain)?;
    if s.manual {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "manual-mode",
            format!(
                "{domain} is in manual mode: its plugin version {} was quarantined and there is none to fall back on; \
                 work without automatic validation or assessment until an admin activates a version",
                s.plugin.manifest().version
            ),
        ));
    }
    Ok(s.plugin)
}

fn plugin(state: &AppState, domain: &str) -> Result<Arc<Plugin>, ApiError> {
    Ok(served(state, domain)?.plugin)
}

async fn list(State(state): State<AppState>) -> Json<Vec<serde_json::Value>> {
    Json(state.registry.snapshot().all().filter_map(|s| serde_json::to_value(summary(s)).ok()).collect())
}

async fn one(State(state): State<AppState>, Path(domain): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let s = served(&state, &domain)?;
    let p = s.plugin.clone();
    let mut v = serde_json::to_value(summary(&s)).unwrap_or_default();
    v["categories"] = serde_json::to_value(&p.data().categories).unwrap_or_default();
    v["forms"] = serde_json::to_value(p.data().forms.iter().map(|f| &f.id).collect::<Vec<_>>()).unwrap_or_default();
    Ok(Json(v))
}

#[derive(Deserialize)]
struct ChecklistQuery {
    /// Words that must all appear in an item's code, title (either language) or keywords.
    q: Option<String>,
}

async fn checklist(
    State(state): State<AppState>,
    Path(domain): Path<String>,
    Query(query): Query<ChecklistQuery>,
) -> Result<Json<Vec<Item>>, ApiError> {
    let p = plugin(&state, &domain)?;
    let words: Vec<String> = query.q.unwrap_or_default().split_whitespace().map(str::to_lowercase).collect();
    let items = p.data().checklist.iter().filter(|it| words.iter().all(|w| item_mentions(it, w))).cloned().collect();
    Ok(Json(items))
}

fn item_mentions(it: &Item, word: &str) -> bool {
    it.code.to_lowercase().contains(word)
        || it.title.zh.contains(word)
        || it.title.en.to_lowercase().contains(word)
        || it.keywords.iter().any(|k| k.to_lowercase().contains(word))
}

async fn checklist_item(
    State(state): State<AppState>,
    Path((domain, code)): Path<(String, String)>,
) -> Result<Json<Item>, ApiError> {
    let p = plugin(&state, &domain)?;
    let item = p
        .data()
        .checklist
        .iter()
        .find(|i| i.code == code)
        .ok_or_else(|| ApiError::not_found("checklist item", &code))?;
    Ok(Json(item.clone()))
}

async fn form(
    State(state): State<AppState>,
    Path((domain, id)): Path<(String, String)>,
) -> Result<Json<Form>, ApiError> {
    let p = plugin(&state, &domain)?;
    let form = p.data().forms.iter().find(|f| f.id == id).ok_or_else(|| ApiError::not_found("form", &id))?;
    Ok(Json(form.clone()))
}

/// The reference time of a call, in Unix seconds; now when not given. Replays pass the original.
/// A reference time may be any moment from 1970 until a day from now: a replay names a past one; a
/// future one would let a date "not in the future" be anything.
fn reference_time(at: Option<i64>) -> Result<i64, ApiError> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    match at {
        None => Ok(now),
        Some(t) if (0..=now + 86_400).contains(&t) => Ok(t),
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-reference-time",
            "`at` must be Unix seconds between 1970 and a day from now",
        )
        .field("at")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateRequest {
    values: Vec<FieldValue>,
    at: Option<i64>,
}

#[derive(Serialize)]
struct ValidateResponse {
    valid: bool,
    errors: Vec<FieldError>,
}

async fn validate(
    State(state): State<AppState>,
    Path((domain, form)): Path<(String, String)>,
    ApiJson(req): ApiJson<ValidateRequest>,
) -> Result<Json<ValidateResponse>, ApiError> {
    let p = callable(&state, &domain)?;
    let errors = p.validate(&form, req.values, reference_time(req.at)?).await?;
    Ok(Json(ValidateResponse { valid: errors.is_empty(), errors }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssessRequest {
    item: String,
    facts: Vec<FieldValue>,
    at: Option<i64>,
}

/// Assessment is casework: officers certified for the domain (APL art. 42: law-enforcement
/// certificates), their team leads, and legal reviewers.
fn may_assess(caller: &Principal, domain: &str) -> Result<(), ApiError> {
    caller.require(&[Role::Officer, Role::TeamLead, Role::LegalReviewer])?;
    if caller.has_any(&[Role::TeamLead, Role::LegalReviewer])
        || caller.certified_for(domain, &crate::store::today_cst())
    {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not-certified",
            format!("no valid law-enforcement certificate for `{domain}`"),
        ))
    }
}

async fn assess(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(domain): Path<String>,
    ApiJson(req): ApiJson<AssessRequest>,
) -> Result<Json<Assessment>, ApiError> {
    may_assess(&caller, &domain)?;
    let p = callable(&state, &domain)?;
    Ok(Json(p.assess(&req.item, req.facts, reference_time(req.at)?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassifyRequest {
    text: String,
}

/// Classifying by hand is the command centre's and the teams' tool; citizens' reports are
/// classified by intake itself.
const CLASSIFIERS: &[Role] = &[Role::Dispatcher, Role::Officer, Role::TeamLead];

async fn classify(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(domain): Path<String>,
    ApiJson(req): ApiJson<ClassifyRequest>,
) -> Result<Json<Vec<CategoryScore>>, ApiError> {
    caller.require(CLASSIFIERS)?;
    let p = callable(&state, &domain)?;
    Ok(Json(p.classify(&req.text, reference_time(None)?).await?))
}

/// Which domain and category a citizen's words belong to, across every loaded domain, or triage.
async fn classify_all(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(req): ApiJson<ClassifyRequest>,
) -> Result<Json<crate::routing::Decision>, ApiError> {
    caller.require(CLASSIFIERS)?;
    let at = reference_time(None)?;
    Ok(Json(crate::routing::route(&state.registry.snapshot(), &req.text, at, state.routing).await))
}
