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
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(one))
        .routes(routes!(checklist))
        .routes(routes!(checklist_item))
        .routes(routes!(form))
        .routes(routes!(validate))
        .routes(routes!(assess))
        .routes(routes!(classify))
        .routes(routes!(classify_all))
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

#[utoipa::path(get, path = "/api/v1/domains", tag = "domains",
    responses((status = 200, description = "every enabled domain: manifest, plugin hash, limits granted, mode", body = Vec<Object>)))]
async fn list(State(state): State<AppState>) -> Json<Vec<serde_json::Value>> {
    Json(state.registry.snapshot().all().filter_map(|s| serde_json::to_value(summary(s)).ok()).collect())
}

#[utoipa::path(get, path = "/api/v1/domains/{domain}", tag = "domains", params(("domain" = String, Path)),
    responses((status = 200, description = "the domain with its report categories and forms", body = Object),
              (status = 404, description = "`not-found`: no enabled domain of that code", body = ApiError)))]
async fn one(State(state): State<AppState>, Path(domain): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let s = served(&state, &domain)?;
    let p = s.plugin.clone();
    let mut v = serde_json::to_value(summary(&s)).unwrap_or_default();
    v["categories"] = serde_json::to_value(&p.data().categories).unwrap_or_default();
    v["forms"] = serde_json::to_value(p.data().forms.iter().map(|f| &f.id).collect::<Vec<_>>()).unwrap_or_default();
    Ok(Json(v))
}

#[derive(Deserialize, utoipa::IntoParams)]
struct ChecklistQuery {
    /// Words that must all appear in an item's code, title (either language) or keywords.
    q: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/domains/{domain}/checklist", tag = "domains",
    params(("domain" = String, Path), ChecklistQuery),
    responses((status = 200, description = "the checklist items that mention every word of `q`", body = Vec<Object>),
              (status = 404, description = "`not-found`", body = ApiError)))]
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

#[utoipa::path(get, path = "/api/v1/domains/{domain}/checklist/{item}", tag = "domains",
    params(("domain" = String, Path), ("item" = String, Path)),
    responses((status = 200, description = "one checklist item: legal basis, discretion band, deadlines", body = Object),
              (status = 404, description = "`not-found`", body = ApiError)))]
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

#[utoipa::path(get, path = "/api/v1/domains/{domain}/forms/{form}", tag = "domains",
    params(("domain" = String, Path), ("form" = String, Path)),
    responses((status = 200, description = "the form's fields", body = Object),
              (status = 404, description = "`not-found`", body = ApiError)))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ValidateRequest {
    /// Form values: `{field, value}` with the value tagged by kind, as the domain's form has it.
    #[schema(value_type = Vec<Object>)]
    values: Vec<FieldValue>,
    at: Option<i64>,
}

#[derive(Serialize)]
struct ValidateResponse {
    valid: bool,
    errors: Vec<FieldError>,
}

#[utoipa::path(post, path = "/api/v1/domains/{domain}/forms/{form}/validate", tag = "domains",
    params(("domain" = String, Path), ("form" = String, Path)), request_body = ValidateRequest,
    responses((status = 200, description = "`valid`, and each field's error", body = Object),
              (status = 400, description = "`invalid-reference-time`", body = ApiError),
              (status = 404, description = "`not-found`: domain or form", body = ApiError),
              (status = 502, description = "the plugin crashed or broke the contract", body = ApiError)))]
async fn validate(
    State(state): State<AppState>,
    Path((domain, form)): Path<(String, String)>,
    ApiJson(req): ApiJson<ValidateRequest>,
) -> Result<Json<ValidateResponse>, ApiError> {
    let p = callable(&state, &domain)?;
    let errors = p.validate(&form, req.values, reference_time(req.at)?).await?;
    Ok(Json(ValidateResponse { valid: errors.is_empty(), errors }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AssessRequest {
    item: String,
    /// Form values: `{field, value}` with the value tagged by kind, as the domain's form has it.
    #[schema(value_type = Vec<Object>)]
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

#[utoipa::path(post, path = "/api/v1/domains/{domain}/assess", tag = "domains",
    params(("domain" = String, Path)), request_body = AssessRequest,
    responses((status = 200, description = "the plugin's assessment, checked against the checklist", body = Object),
              (status = 400, description = "`invalid-reference-time`", body = ApiError),
              (status = 403, description = "`forbidden`, `not-certified`", body = ApiError),
              (status = 404, description = "`not-found`", body = ApiError),
              (status = 422, description = "`invalid-facts`, `not-in-force`", body = ApiError),
              (status = 502, description = "the plugin crashed or broke the contract", body = ApiError)))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ClassifyRequest {
    text: String,
}

/// Classifying by hand is the command centre's and the teams' tool; citizens' reports are
/// classified by intake itself.
const CLASSIFIERS: &[Role] = &[Role::Dispatcher, Role::Officer, Role::TeamLead];

#[utoipa::path(post, path = "/api/v1/domains/{domain}/classify", tag = "domains",
    params(("domain" = String, Path)), request_body = ClassifyRequest,
    responses((status = 200, description = "the domain's categories scored for the text", body = Vec<Object>),
              (status = 404, description = "`not-found`", body = ApiError),
              (status = 502, description = "the plugin crashed or broke the contract", body = ApiError)))]
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
#[utoipa::path(post, path = "/api/v1/classify", tag = "domains", request_body = ClassifyRequest,
    responses((status = 200, description = "routed to a domain and category, or triage, with the candidates weighed", body = Object)))]
async fn classify_all(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(req): ApiJson<ClassifyRequest>,
) -> Result<Json<crate::routing::Decision>, ApiError> {
    caller.require(CLASSIFIERS)?;
    let at = reference_time(None)?;
    Ok(Json(crate::routing::route(&state.registry.snapshot(), &req.text, at, state.routing).await))
}
