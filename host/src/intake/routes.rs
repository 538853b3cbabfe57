//! `/api/v1/reports` (intake, the teams' lists and actions), `/api/v1/track/{code}` (the citizen's
//! side) and `/api/v1/grid`.

use super::store::{self, ReportRow};
use super::{NewReport, Origin, Upload, submit};
use crate::api_error::ApiError;
use crate::api_error::too_many;
use crate::auth::extract::{Caller, ClientIp, MaybeCaller};
use crate::auth::store::{Actor, OrgIndex, org_index};
use crate::auth::{Principal, Role, TeamSet};
use crate::server::{ApiJson, AppState};
use crate::store::{StoreError, now_ms, rfc3339};
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn routes(max_upload: usize) -> Router<AppState> {
    Router::new()
        .route("/api/v1/reports", post(create).get(list).layer(axum::extract::DefaultBodyLimit::max(max_upload)))
        .route("/api/v1/reports/{id}", get(one))
        .route("/api/v1/reports/{id}/actions", post(act))
        .route("/api/v1/reports/{id}/attachments/{attachment}", get(attachment))
        .route("/api/v1/track/{code}", get(track))
        .route("/api/v1/track/{code}/rating", post(rate))
        .route("/api/v1/track/{code}/reopen", post(reopen))
        .route("/api/v1/grid", get(grid))
        .route("/api/v1/grid/import", post(import_grid).layer(axum::extract::DefaultBodyLimit::max(32 << 20)))
}

fn origin_of(caller: &Option<Principal>, ip: ClientIp) -> Origin {
    match caller {
        Some(p) => Origin {
            source: "web",
            citizen: p.has(Role::Citizen).then_some(p.user_id),
            open311_key: None,
            actor: p.actor(ip),
        },
        None => Origin {
            source: "web",
            citizen: None,
            open311_key: None,
            actor: Actor { id: None, label: "anonymous".into(), source: ip.0.to_string() },
        },
    }
}

/// `POST /api/v1/reports`: JSON, or multipart with a `report` part (JSON) and `photos` files.
async fn create(
    State(state): State<AppState>,
    ip: ClientIp,
    MaybeCaller(caller): MaybeCaller,
    req: Request,
) -> Response {
    if let Err(wait) = state.auth.intake_limiter.check(ip.0) {
        return too_many("rate-limited", "too many reports from this address", wait.as_secs() + 1);
    }
    let origin = origin_of(&caller, ip);
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let parsed = if ct.starts_with("multipart/form-data") {
        read_multipart(&state, req).await
    } else {
        // The route admits bodies big enough for nine photos; a JSON report is held to 1 MiB.
        let (parts, body) = req.into_parts();
        match axum::body::to_bytes(body, 1 << 20).await {
            Ok(bytes) => {
                let req = Request::from_parts(parts, axum::body::Body::from(bytes));
                ApiJson::<NewReport>::from_request(req, &state).await.map(|ApiJson(r)| (r, Vec::new()))
            }
            Err(_) => {
                Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "input-too-large", "a JSON report is at most 1 MiB"))
            }
        }
    };
    let (report, uploads) = match parsed {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    match submit(&state, origin, report, uploads).await {
        Ok(receipt) => (StatusCode::CREATED, Json(receipt)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn read_multipart(state: &AppState, req: Request) -> Result<(NewReport, Vec<Upload>), ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid-multipart", m);
    let mut mp = Multipart::from_request(req, state).await.map_err(|e| bad(e.body_text()))?;
    let mut report = None;
    let mut uploads = Vec::new();
    while let Some(field) = mp.next_field().await? {
        match field.name() {
            Some("report") => {
                let text = field.text().await?;
                let r: NewReport = serde_json::from_str(&text).map_err(|e| {
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-body", format!("report: {e}"))
                        .field("report")
                })?;
                report = Some(r);
            }
            Some("photos") => {
                let file_name = field.file_name().unwrap_or("photo").to_string();
                let media_type = field.content_type().unwrap_or("application/octet-stream").to_string();
                if uploads.len() >= state.intake.settings.max_attachments {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "too-many",
                        format!("at most {} files", state.intake.settings.max_attachments),
                    )
                    .field("photos"));
                }
                let bytes = field.bytes().await?;
                uploads.push(Upload { file_name, media_type, bytes });
            }
            other => return Err(bad(format!("unexpected part {:?}: send `report` and `photos`", other.unwrap_or("")))),
        }
    }
    let report = report.ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "required", "a `report` part with the report as JSON")
            .field("report")
    })?;
    Ok((report, uploads))
}

/// Which reports a caller sees: teams in scope; dispatchers (the command centre) also the triage
/// queue; citizens their own.
struct View {
    teams: TeamSet,
    triage: bool,
    citizen: Option<i64>,
}

fn view_of(p: &Principal, org: &OrgIndex) -> Result<View, ApiError> {
    if p.has_any(&[Role::Dispatcher, Role::Officer, Role::TeamLead, Role::LegalReviewer, Role::Leader]) {
        return Ok(View { teams: p.team_set(org), triage: p.has(Role::Dispatcher), citizen: None });
    }
    if p.has(Role::Citizen) {
        return Ok(View { teams: TeamSet::Some(Vec::new()), triage: false, citizen: Some(p.user_id) });
    }
    Err(ApiError::forbidden("reports are seen by the teams, the command centre, leaders and their reporters"))
}

fn sees(v: &View, r: &ReportRow) -> bool {
    let by_team = match r.team_id {
        Some(t) => v.teams.contains(t),
        None => v.triage,
    };
    by_team || (v.citizen.is_some() && r.citizen_id == v.citizen)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let org = org_index(&mut c).await?;
    let v = view_of(&p, &org)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = match (&v.citizen, &v.teams) {
        (Some(me), _) => store::list(&mut c, None, false, q.status.as_deref(), Some(*me), limit).await?,
        (None, TeamSet::All) => store::list(&mut c, None, false, q.status.as_deref(), None, limit).await?,
        (None, TeamSet::Some(t)) => store::list(&mut c, Some(t), v.triage, q.status.as_deref(), None, limit).await?,
    };
    let staff = v.citizen.is_none();
    let reports: Vec<Value> = rows.iter().map(|r| summary(r, &org, staff)).collect();
    Ok(Json(json!({ "reports": reports })))
}

/// A report in a list. Contact details only for staff; never in a citizen's view of others.
fn summary(r: &ReportRow, org: &OrgIndex, staff: bool) -> Value {
    let mut v = json!({
        "id": r.id, "tracking_code": r.tracking_code, "status": r.status, "domain": r.domain, "category": r.category,
        "description": r.description, "address": r.address,
        "location": r.lat.zip(r.lon).map(|(lat, lon)| json!({"lat": lat, "lon": lon})),
        "team": r.team_id.and_then(|t| org.team(t)).map(|t| json!({"code": t.code, "name": t.name})),
        "created_at": rfc3339(r.created_at), "ack_due_at": r.ack_due_at.map(rfc3339), "handle_due_at": r.handle_due_at.map(rfc3339),
        "closed_at": r.closed_at.map(rfc3339), "result": r.result, "rating": r.rating,
    });
    if staff {
        v["source"] = json!(r.source);
        v["contact"] = json!({"name": r.contact_name, "phone": r.contact_phone, "email": r.contact_email});
        v["occurred_at"] = json!(r.occurred_at.map(rfc3339));
        v["duplicate_of"] = json!(r.duplicate_of);
        v["attributes"] = r.attributes.as_deref().and_then(|a| serde_json::from_str(a).ok()).unwrap_or(Value::Null);
    }
    v
}

async fn load_visible(state: &AppState, p: &Principal, id: i64) -> Result<(ReportRow, OrgIndex, View), ApiError> {
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let org = org_index(&mut c).await?;
    let v = view_of(p, &org)?;
    let r = store::by_id(&mut c, id)
        .await?
        .filter(|r| sees(&v, r))
        .ok_or_else(|| ApiError::not_found("report", &id.to_string()))?;
    Ok((r, org, v))
}

async fn one(State(state): State<AppState>, Caller(p): Caller, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let (r, org, v) = load_visible(&state, &p, id).await?;
    let staff = v.citizen.is_none();
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let mut out = summary(&r, &org, staff);
    out["timeline"] = json!(timeline(&store::events(&mut c, r.id, !staff).await?, staff));
    if staff {
        out["attachments"] = json!(store::attachments(&mut c, r.id).await?);
        out["possible_duplicates"] = json!(super::possible_duplicates(&mut c, &state.intake.settings, &r).await?);
        out["working_days_left"] = json!(
            r.handle_due_at
                .filter(|_| matches!(r.status.as_str(), "dispatched" | "accepted"))
                .map(|d| state.intake.calendar.working_days_between(now_ms(), d))
        );
    }
    Ok(Json(out))
}

fn timeline(events: &[store::Event], staff: bool) -> Vec<Value> {
    events
        .iter()
        .map(|e| {
            let mut v = json!({"at": rfc3339(e.at), "kind": e.kind, "note": e.note});
            if staff {
                v["actor"] = json!(e.actor);
                v["public"] = json!(e.public);
                v["detail"] = e.detail.clone();
            }
            v
        })
        .collect()
}

async fn attachment(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((id, aid)): Path<(i64, i64)>,
) -> Result<Response, ApiError> {
    let (r, _, v) = load_visible(&state, &p, id).await?;
    if v.citizen.is_some() {
        return Err(ApiError::forbidden("attachments are evidence for the teams"));
    }
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let a = store::attachments(&mut c, r.id)
        .await?
        .into_iter()
        .find(|a| a.id == aid)
        .ok_or_else(|| ApiError::not_found("attachment", &aid.to_string()))?;
    let bytes = state.intake.objects.get(&a.object_key).await.map_err(crate::intake::objects::unavailable)?;
    Ok(([(header::CONTENT_TYPE, a.media_type)], bytes).into_response())
}

/// A team's (or the command centre's) action on a report.
#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
enum Action {
    /// The team takes it on.
    Accept,
    /// To another team, or another domain (and category).
    Transfer { team: Option<String>, domain: Option<String>, category: Option<String>, reason: String },
    /// Back to the command centre: not this team's.
    Return { reason: String },
    /// A duplicate of another report (by tracking code).
    Merge { into: String, reason: Option<String> },
    /// Done, with the result the citizen is told.
    Close { result: String },
    /// The command centre routes a triage report.
    Dispatch { domain: String, category: String, team: Option<String> },
}

/// Two people acted on one report at once: the later is told, and nothing of either is lost.
fn changed_meanwhile() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "changed-meanwhile",
        "the report changed since it was read: look again and retry",
    )
}

fn conflict(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "wrong-status", msg)
}

fn need_text(s: &str, field: &str) -> Result<String, ApiError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > 1000 {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "required", "1 to 1000 characters").field(field));
    }
    Ok(t.to_string())
}

async fn act(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    Path(id): Path<i64>,
    ApiJson(action): ApiJson<Action>,
) -> Result<Json<Value>, ApiError> {
    let (mut r, org, v) = load_visible(&state, &p, id).await?;
    if v.citizen.is_some() {
        return Err(ApiError::forbidden("citizens rate and reopen through /api/v1/track"));
    }
    let in_team = |team: Option<i64>| team.is_some_and(|t| p.acts_for_team(&[Role::Officer, Role::TeamLead], t, &org));
    let team_lead = |team: Option<i64>| team.is_some_and(|t| p.acts_for_team(&[Role::TeamLead], t, &org));
    let dispatcher = p.has(Role::Dispatcher);
    let open = matches!(r.status.as_str(), "dispatched" | "accepted");
    let now = now_ms();
    let (kind, public, note, mut detail): (&str, bool, Option<String>, Value);
    match action {
        Action::Accept => {
            if !in_team(r.team_id) {
                return Err(ApiError::forbidden("only the assigned team accepts a report"));
            }
            if r.status != "dispatched" {
                return Err(conflict(format!("a {} report cannot be accepted", r.status)));
            }
            r.status = "accepted".into();
            r.acknowledged_at = Some(now);
            (kind, public, note, detail) = ("accepted", true, None, json!({}));
        }
        Action::Transfer { team, domain, category, reason } => {
            if !(team_lead(r.team_id) || dispatcher) {
                return Err(ApiError::forbidden("the team lead or the command centre transfers a report"));
            }
            if !open {
                return Err(conflict(format!("a {} report cannot be transferred", r.status)));
            }
            let reason = need_text(&reason, "reason")?;
            if let Some(d) = domain {
                let cat = category.ok_or_else(|| {
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "required", "the category in the new domain")
                        .field("category")
                })?;
                super::check_category(&state.registry.snapshot(), &d, &cat)?;
                r.domain = Some(d);
                r.category = Some(cat);
            }
            let from = r.team_id;
            r.team_id = Some(target_team(&state, &org, &r, team).await?);
            let received = r.created_at;
            restart_clock(&state, &mut r, received);
            r.status = "dispatched".into();
            r.acknowledged_at = None;
            (kind, public, note, detail) = (
                "transferred",
                true,
                Some(reason),
                json!({"from_team_id": from, "to_team_id": r.team_id, "domain": r.domain, "category": r.category}),
            );
        }
        Action::Return { reason } => {
            if !in_team(r.team_id) {
                return Err(ApiError::forbidden("only the assigned team returns a report"));
            }
            if !open {
                return Err(conflict(format!("a {} report cannot be returned", r.status)));
            }
            let reason = need_text(&reason, "reason")?;
            let from = r.team_id.take();
            r.status = "triage".into();
            r.acknowledged_at = None;
            r.ack_due_at =
                Some(state.intake.calendar.end_of_working_days(now, state.intake.settings.acknowledge_working_days));
            (kind, public, note, detail) = ("returned", false, Some(reason), json!({"from_team_id": from}));
        }
        Action::Merge { into, reason } => {
            if !(in_team(r.team_id) || dispatcher) {
                return Err(ApiError::forbidden("the assigned team or the command centre merges a report"));
            }
            if !(open || r.status == "triage") {
                return Err(conflict(format!("a {} report cannot be merged", r.status)));
            }
            let code = super::normalise_code(&into).ok_or_else(|| {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-code", "a tracking code").field("into")
            })?;
            let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
            let target = store::by_code(&mut c, &code).await?.ok_or_else(|| ApiError::not_found("report", &code))?;
            if target.id == r.id || !matches!(target.status.as_str(), "triage" | "dispatched" | "accepted") {
                return Err(conflict("merge into another open report"));
            }
            r.status = "merged".into();
            r.duplicate_of = Some(target.id);
            r.closed_at = Some(now);
            (kind, public, note, detail) = ("merged", true, reason, json!({"into": target.tracking_code}));
        }
        Action::Close { result } => {
            if !in_team(r.team_id) {
                return Err(ApiError::forbidden("only the assigned team closes a report"));
            }
            if !open {
                return Err(conflict(format!("a {} report cannot be closed", r.status)));
            }
            let result = need_text(&result, "result")?;
            r.status = "closed".into();
            r.closed_at = Some(now);
            r.acknowledged_at = r.acknowledged_at.or(Some(now));
            r.result = Some(result.clone());
            (kind, public, note, detail) = ("closed", true, Some(result), json!({}));
        }
        Action::Dispatch { domain, category, team } => {
            if !dispatcher {
                return Err(ApiError::forbidden("the command centre dispatches from triage"));
            }
            if r.status != "triage" {
                return Err(conflict(format!("a {} report is not in triage", r.status)));
            }
            super::check_category(&state.registry.snapshot(), &domain, &category)?;
            r.domain = Some(domain);
            r.category = Some(category);
            r.team_id = Some(target_team(&state, &org, &r, team).await?);
            let received = r.created_at;
            restart_clock(&state, &mut r, received);
            r.status = "dispatched".into();
            (kind, public, note, detail) =
                ("dispatched", true, None, json!({"team_id": r.team_id, "domain": r.domain, "category": r.category}));
        }
    }
    detail["status"] = json!(r.status);
    let mut tx = state.db.write().await?;
    let restart = matches!(kind, "transferred" | "returned" | "dispatched");
    if !store::update(&mut tx, &r, restart).await? {
        return Err(changed_meanwhile());
    }
    store::add_event(&mut tx, r.id, kind, &p.actor(ip), public, note.as_deref(), detail).await?;
    let who = super::audience(&mut tx, &state.intake.notify, &r, kind).await?;
    crate::notify::enqueue(
        &mut tx,
        &state.intake.notify,
        &format!("report.{kind}"),
        &super::event_body(&r, r.id),
        &who,
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Json(summary(&r, &org, true)))
}

/// The team an action names (422 `unknown-team`), or else the grid's team for the report's domain
/// at its place (409 when none covers it).
async fn target_team(state: &AppState, org: &OrgIndex, r: &ReportRow, team: Option<String>) -> Result<i64, ApiError> {
    match team {
        Some(code) => org.team_by_code(&code).map(|t| t.id).ok_or_else(|| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown-team", format!("no team `{code}`")).field("team")
        }),
        None => {
            reassign(state, r).await?.ok_or_else(|| conflict("no team covers this place for the domain: name the team"))
        }
    }
}

/// The team for the report's domain at its place, by the grid.
async fn reassign(state: &AppState, r: &ReportRow) -> Result<Option<i64>, ApiError> {
    let Some(d) = &r.domain else { return Ok(None) };
    let at = r.lat.zip(r.lon).and_then(|(a, b)| crate::dispatch::geo::GeoPoint::new(a, b));
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    Ok(crate::dispatch::assign(&mut c, d, at).await?.team_id)
}

/// Deadlines from `from` for the report's category.
fn restart_clock(state: &AppState, r: &mut ReportRow, from: i64) {
    let plugins = state.registry.snapshot();
    let limit =
        r.domain.as_ref().and_then(|d| plugins.published(d)).and_then(|p| {
            p.data().categories.iter().find(|c| Some(&c.code) == r.category.as_ref()).map(|c| c.response)
        });
    if let Some(l) = limit {
        let (ack, due) = super::deadlines(&state.intake.calendar, &state.intake.settings, from, &l);
        r.ack_due_at = Some(ack);
        r.handle_due_at = Some(due);
    }
}

// ---- the citizen's side: the tracking code is the key ----

async fn tracked(state: &AppState, ip: ClientIp, code: &str) -> Result<ReportRow, Response> {
    // Lookups by code are rate-limited like intake: codes are unguessable, and stay so.
    if let Err(wait) = state.auth.intake_limiter.check(ip.0) {
        return Err(too_many("rate-limited", "too many requests from this address", wait.as_secs() + 1));
    }
    let code = super::normalise_code(code).ok_or_else(|| ApiError::not_found("report", code).into_response())?;
    let mut c = state.db.pool().acquire().await.map_err(|e| ApiError::from(StoreError::from(e)).into_response())?;
    store::by_code(&mut c, &code)
        .await
        .map_err(|e| ApiError::from(e).into_response())?
        .ok_or_else(|| ApiError::not_found("report", &code).into_response())
}

async fn track(State(state): State<AppState>, ip: ClientIp, Path(code): Path<String>) -> Response {
    let r = match tracked(&state, ip, &code).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    let public = async {
        let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
        let org = org_index(&mut c).await?;
        let events = store::events(&mut c, r.id, true).await?;
        Ok::<_, ApiError>(json!({
            "tracking_code": r.tracking_code, "status": r.status, "domain": r.domain, "category": r.category,
            "team": r.team_id.and_then(|t| org.team(t)).map(|t| t.name.clone()),
            "received_at": rfc3339(r.created_at), "expected_response_by": r.handle_due_at.or(r.ack_due_at).map(rfc3339),
            "closed_at": r.closed_at.map(rfc3339), "result": r.result, "rating": r.rating,
            "can_reopen_until": r.closed_at.filter(|_| r.status == "closed").map(|c| rfc3339(c + i64::from(state.intake.settings.reopen_days) * 86_400_000)),
            "timeline": timeline(&events, false),
        }))
    };
    match public.await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rating {
    score: i64,
    comment: Option<String>,
}

async fn rate(
    State(state): State<AppState>,
    ip: ClientIp,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<Rating>,
) -> Response {
    let mut r = match tracked(&state, ip, &code).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    let result = async {
        if r.status != "closed" {
            return Err(conflict("a report is rated once it is closed"));
        }
        if r.rating.is_some() {
            return Err(ApiError::new(StatusCode::CONFLICT, "already-rated", "this report was rated already"));
        }
        if !(1..=5).contains(&body.score) {
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "out-of-range", "1 to 5").field("score"));
        }
        let comment = body.comment.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
        if comment.as_ref().is_some_and(|c| c.chars().count() > 500) {
            return Err(
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too-long", "at most 500 characters").field("comment")
            );
        }
        r.rating = Some(body.score);
        r.rating_comment = comment.clone();
        let citizen = Actor { id: None, label: "reporter".into(), source: ip.0.to_string() };
        let mut tx = state.db.write().await?;
        if !store::update(&mut tx, &r, false).await? {
            return Err(changed_meanwhile());
        }
        store::add_event(
            &mut tx,
            r.id,
            "rated",
            &citizen,
            true,
            None,
            json!({"score": body.score, "comment": comment}),
        )
        .await?;
        let who = super::audience(&mut tx, &state.intake.notify, &r, "rated").await?;
        crate::notify::enqueue(&mut tx, &state.intake.notify, "report.rated", &super::event_body(&r, r.id), &who)
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(StatusCode::NO_CONTENT)
    };
    match result.await {
        Ok(s) => s.into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reopen {
    reason: String,
}

async fn reopen(
    State(state): State<AppState>,
    ip: ClientIp,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<Reopen>,
) -> Response {
    let mut r = match tracked(&state, ip, &code).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    let result = async {
        let closed =
            r.closed_at.filter(|_| r.status == "closed").ok_or_else(|| conflict("only a closed report is reopened"))?;
        let now = now_ms();
        if now > closed + i64::from(state.intake.settings.reopen_days) * 86_400_000 {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "reopen-window-passed",
                format!("a report is reopened within {} days of closing", state.intake.settings.reopen_days),
            ));
        }
        let reason = need_text(&body.reason, "reason")?;
        r.status = "dispatched".into();
        r.closed_at = None;
        r.acknowledged_at = None;
        r.rating = None;
        r.rating_comment = None;
        r.reopened += 1;
        restart_clock(&state, &mut r, now);
        let citizen = Actor { id: None, label: "reporter".into(), source: ip.0.to_string() };
        let mut tx = state.db.write().await?;
        if !store::update(&mut tx, &r, true).await? {
            return Err(changed_meanwhile());
        }
        store::add_event(&mut tx, r.id, "reopened", &citizen, true, Some(&reason), json!({"team_id": r.team_id}))
            .await?;
        let who = super::audience(&mut tx, &state.intake.notify, &r, "reopened").await?;
        crate::notify::enqueue(&mut tx, &state.intake.notify, "report.reopened", &super::event_body(&r, r.id), &who)
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Json(json!({"status": r.status, "expected_response_by": r.handle_due_at.map(rfc3339)})))
    };
    match result.await {
        Ok(v) => v.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn grid(State(state): State<AppState>, Caller(p): Caller) -> Result<Json<Value>, ApiError> {
    if !p.is_staff() {
        return Err(ApiError::forbidden("the grid is visible to the bureau's staff"));
    }
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    Ok(Json(crate::dispatch::grid_geojson(&mut c).await?))
}

async fn import_grid(
    State(state): State<AppState>,
    ip: ClientIp,
    Caller(p): Caller,
    ApiJson(doc): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    p.require(&[Role::Admin])?;
    Ok(Json(json!(crate::dispatch::import_grid(&state.db, &p.actor(ip), &doc).await?)))
}
