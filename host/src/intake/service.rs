//! The work behind the reports' routes, with no HTTP in it: who sees which report and how it is
//! shown, the teams' actions on a report, the citizen's tracking, rating and reopening by
//! tracking code, and the grid. The JSON routes (and the pages) parse their request, call one
//! function here and shape its answer.

use super::store::{self, ReportRow};
use super::{IntakeSettings, Origin, invalid};
use crate::api_error::ApiError;
use crate::auth::extract::ClientIp;
use crate::auth::store::{Actor, OrgIndex, org_index};
use crate::auth::{Principal, Role, TeamSet};
use crate::server::AppState;
use crate::store::{StoreError, now_ms, rfc3339};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::IpAddr;

/// A connection from the pool, for a request's reads.
pub(super) async fn conn(state: &AppState) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, ApiError> {
    Ok(state.db.pool().acquire().await.map_err(StoreError::from)?)
}

/// Too many requests from one address: answered 429, to be retried after this many seconds.
#[derive(Debug)]
pub struct Limited {
    pub retry_after_secs: u64,
}

/// New reports and lookups by tracking code share one budget per address: intake stays open to
/// anyone, and the codes stay unguessable.
pub fn check_limit(state: &AppState, ip: IpAddr) -> Result<(), Limited> {
    state.auth.intake_limiter.check(ip).map_err(|wait| Limited { retry_after_secs: wait.as_secs() + 1 })
}

/// Where a report sent through the web comes from: the signed-in caller (a citizen's own report,
/// if they are one), or an anonymous address.
pub fn web_origin(caller: Option<&Principal>, ip: IpAddr) -> Origin {
    match caller {
        Some(p) => Origin {
            source: "web",
            citizen: p.has(Role::Citizen).then_some(p.user_id),
            open311_key: None,
            actor: p.actor(ClientIp(ip)),
        },
        None => Origin {
            source: "web",
            citizen: None,
            open311_key: None,
            actor: Actor { id: None, label: "anonymous".into(), source: ip.to_string() },
        },
    }
}

// ---- the staff's (and a signed-in citizen's) side: reports by id ----

/// Which reports a caller sees: teams in scope; dispatchers (the command centre) also the triage
/// queue; citizens their own.
struct View {
    teams: TeamSet,
    triage: bool,
    citizen: Option<i64>,
}

impl View {
    /// Staff see contact details, the whole timeline and the evidence; citizens do not.
    fn staff(&self) -> bool {
        self.citizen.is_none()
    }
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

/// A report in a list. Contact details only for staff; never in a citizen's view of others.
fn summary(r: &ReportRow, org: &OrgIndex, staff: bool) -> Value {
    let mut v = json!({
        "id": r.id, "status": r.status, "domain": r.domain, "category": r.category,
        "description": r.description, "address": r.address,
        "location": r.lat.zip(r.lon).map(|(lat, lon)| json!({"lat": lat, "lon": lon})),
        "team": r.team_id.and_then(|t| org.team(t)).map(|t| json!({"code": t.code, "name": t.name})),
        "created_at": rfc3339(r.created_at), "ack_due_at": r.ack_due_at.map(rfc3339), "handle_due_at": r.handle_due_at.map(rfc3339),
        "closed_at": r.closed_at.map(rfc3339), "result": r.result, "rating": r.rating,
    });
    if !staff {
        // A citizen sees only their own reports: the code is theirs. Staff see the number only.
        v["tracking_code"] = json!(r.tracking_code);
    }
    if staff {
        v["source"] = json!(r.source);
        v["contact"] = json!({"name": r.contact_name, "phone": r.contact_phone, "email": r.contact_email});
        v["occurred_at"] = json!(r.occurred_at.map(rfc3339));
        v["duplicate_of"] = json!(r.duplicate_of);
        v["attributes"] = r.attributes.as_deref().and_then(|a| serde_json::from_str(a).ok()).unwrap_or(Value::Null);
    }
    v
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

/// Report `id`, if `p` sees it (404 alike when it does not exist and when it is not theirs).
async fn load_visible(state: &AppState, p: &Principal, id: i64) -> Result<(ReportRow, OrgIndex, View), ApiError> {
    let mut c = conn(state).await?;
    let org = org_index(&mut c).await?;
    let v = view_of(p, &org)?;
    let r = store::by_id(&mut c, id)
        .await?
        .filter(|r| sees(&v, r))
        .ok_or_else(|| ApiError::not_found("report", &id.to_string()))?;
    Ok((r, org, v))
}

/// The query of a list of reports.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub status: Option<String>,
    /// 100 unless given; 1 to 1000.
    pub limit: Option<i64>,
}

/// The reports `p` sees, newest first: `{"reports": […]}`.
pub async fn list(state: &AppState, p: &Principal, q: &ListQuery) -> Result<Value, ApiError> {
    let mut c = conn(state).await?;
    let org = org_index(&mut c).await?;
    let v = view_of(p, &org)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let status = q.status.as_deref();
    let rows = match (&v.citizen, &v.teams) {
        (Some(me), _) => store::list(&mut c, None, false, status, Some(*me), limit).await?,
        (None, TeamSet::All) => store::list(&mut c, None, false, status, None, limit).await?,
        (None, TeamSet::Some(t)) => store::list(&mut c, Some(t), v.triage, status, None, limit).await?,
    };
    let reports: Vec<Value> = rows.iter().map(|r| summary(r, &org, v.staff())).collect();
    Ok(json!({ "reports": reports }))
}

/// Report `id` as `p` sees it, with its timeline; staff also see its attachments, the possible
/// duplicates and the working days left to handle it.
pub async fn report(state: &AppState, p: &Principal, id: i64) -> Result<Value, ApiError> {
    let (r, org, v) = load_visible(state, p, id).await?;
    let staff = v.staff();
    let mut c = conn(state).await?;
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
    Ok(out)
}

/// A file attached to a report, as stored.
pub struct AttachmentFile {
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// Attachment `attachment` of report `id`: evidence, for staff only.
pub async fn attachment(state: &AppState, p: &Principal, id: i64, attachment: i64) -> Result<AttachmentFile, ApiError> {
    let (r, _, v) = load_visible(state, p, id).await?;
    if !v.staff() {
        return Err(ApiError::forbidden("attachments are evidence for the teams"));
    }
    let mut c = conn(state).await?;
    let a = store::attachments(&mut c, r.id)
        .await?
        .into_iter()
        .find(|a| a.id == attachment)
        .ok_or_else(|| ApiError::not_found("attachment", &attachment.to_string()))?;
    let bytes = state.intake.objects.get(&a.object_key).await.map_err(super::objects::unavailable)?;
    Ok(AttachmentFile { media_type: a.media_type, bytes })
}

// ---- a report changes: the teams' actions, the citizen's rating and reopening ----

/// One change of a report, as its timeline records it and its messages announce it.
struct Change {
    kind: &'static str,
    public: bool,
    note: Option<String>,
    detail: Value,
    /// A new deadline: the reminder and the escalations start afresh.
    restart: bool,
}

/// Writes a changed report with its timeline entry and its messages in one transaction, unless
/// someone changed the report since it was read.
async fn record(state: &AppState, r: &ReportRow, actor: &Actor, change: Change) -> Result<(), ApiError> {
    let mut tx = state.db.write().await?;
    if !store::update(&mut tx, r, change.restart).await? {
        return Err(changed_meanwhile());
    }
    store::add_event(&mut tx, r.id, change.kind, actor, change.public, change.note.as_deref(), change.detail).await?;
    super::announce(&mut tx, &state.intake.notify, r, change.kind).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
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
        return Err(invalid(field, "required", "1 to 1000 characters"));
    }
    Ok(t.to_string())
}

/// With a team, to be handled.
fn open(r: &ReportRow) -> bool {
    matches!(r.status.as_str(), "dispatched" | "accepted")
}

/// A team's (or the command centre's) action on a report.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Action {
    /// The team takes it on.
    Accept,
    /// To another team, or another domain (and category).
    Transfer { team: Option<String>, domain: Option<String>, category: Option<String>, reason: String },
    /// Back to the command centre: not this team's.
    Return { reason: String },
    /// A duplicate of another report, by its number.
    Merge { into: i64, reason: Option<String> },
    /// Done, with the result the citizen is told.
    Close { result: String },
    /// The command centre routes a triage report.
    Dispatch { domain: String, category: String, team: Option<String> },
}

/// A staff member acting on a report, as of one moment.
struct Acting<'a> {
    state: &'a AppState,
    p: &'a Principal,
    org: OrgIndex,
    now: i64,
}

impl Acting<'_> {
    /// An officer or the lead of `team`.
    fn in_team(&self, team: Option<i64>) -> bool {
        team.is_some_and(|t| self.p.acts_for_team(&[Role::Officer, Role::TeamLead], t, &self.org))
    }

    fn team_lead(&self, team: Option<i64>) -> bool {
        team.is_some_and(|t| self.p.acts_for_team(&[Role::TeamLead], t, &self.org))
    }

    /// The command centre.
    fn dispatcher(&self) -> bool {
        self.p.has(Role::Dispatcher)
    }
}

/// `p`'s `action` on report `id`, recorded as done by `actor`; the report afterwards, as staff
/// see it in a list.
pub async fn act(state: &AppState, p: &Principal, actor: &Actor, id: i64, action: Action) -> Result<Value, ApiError> {
    let (mut r, org, v) = load_visible(state, p, id).await?;
    if !v.staff() {
        return Err(ApiError::forbidden("citizens rate and reopen through /api/v1/track"));
    }
    let a = Acting { state, p, org, now: now_ms() };
    let mut change = match action {
        Action::Accept => accept(&a, &mut r)?,
        Action::Transfer { team, domain, category, reason } => {
            transfer(&a, &mut r, team, domain, category, &reason).await?
        }
        Action::Return { reason } => send_back(&a, &mut r, &reason)?,
        Action::Merge { into, reason } => merge(&a, &mut r, into, reason).await?,
        Action::Close { result } => close(&a, &mut r, &result)?,
        Action::Dispatch { domain, category, team } => dispatch(&a, &mut r, domain, category, team).await?,
    };
    change.detail["status"] = json!(r.status);
    record(state, &r, actor, change).await?;
    Ok(summary(&r, &a.org, true))
}

fn accept(a: &Acting<'_>, r: &mut ReportRow) -> Result<Change, ApiError> {
    if !a.in_team(r.team_id) {
        return Err(ApiError::forbidden("only the assigned team accepts a report"));
    }
    if r.status != "dispatched" {
        return Err(conflict(format!("a {} report cannot be accepted", r.status)));
    }
    r.status = "accepted".into();
    r.acknowledged_at = Some(a.now);
    Ok(Change { kind: "accepted", public: true, note: None, detail: json!({}), restart: false })
}

/// To the team named, or the grid's team at the report's place, in its domain or a new one; the
/// clock restarts from the report's receipt.
async fn transfer(
    a: &Acting<'_>,
    r: &mut ReportRow,
    team: Option<String>,
    domain: Option<String>,
    category: Option<String>,
    reason: &str,
) -> Result<Change, ApiError> {
    if !(a.team_lead(r.team_id) || a.dispatcher()) {
        return Err(ApiError::forbidden("the team lead or the command centre transfers a report"));
    }
    if !open(r) {
        return Err(conflict(format!("a {} report cannot be transferred", r.status)));
    }
    let reason = need_text(reason, "reason")?;
    if let Some(d) = domain {
        let cat = category.ok_or_else(|| invalid("category", "required", "the category in the new domain"))?;
        super::check_category(&a.state.registry.snapshot(), &d, &cat)?;
        r.domain = Some(d);
        r.category = Some(cat);
    }
    let from = r.team_id;
    r.team_id = Some(target_team(a.state, &a.org, r, team).await?);
    let received = r.created_at;
    restart_clock(a.state, r, received);
    r.status = "dispatched".into();
    r.acknowledged_at = None;
    let detail = json!({"from_team_id": from, "to_team_id": r.team_id, "domain": r.domain, "category": r.category});
    Ok(Change { kind: "transferred", public: true, note: Some(reason), detail, restart: true })
}

/// The `return` action: back to triage, to be routed again within the acknowledgement time.
fn send_back(a: &Acting<'_>, r: &mut ReportRow, reason: &str) -> Result<Change, ApiError> {
    if !a.in_team(r.team_id) {
        return Err(ApiError::forbidden("only the assigned team returns a report"));
    }
    if !open(r) {
        return Err(conflict(format!("a {} report cannot be returned", r.status)));
    }
    let reason = need_text(reason, "reason")?;
    let from = r.team_id.take();
    r.status = "triage".into();
    r.acknowledged_at = None;
    r.ack_due_at = Some(super::acknowledge_by(&a.state.intake.calendar, &a.state.intake.settings, a.now));
    let detail = json!({"from_team_id": from});
    Ok(Change { kind: "returned", public: false, note: Some(reason), detail, restart: true })
}

/// Closed as a duplicate of another open report the actor sees, named by its number.
async fn merge(a: &Acting<'_>, r: &mut ReportRow, into: i64, reason: Option<String>) -> Result<Change, ApiError> {
    if !(a.in_team(r.team_id) || a.dispatcher()) {
        return Err(ApiError::forbidden("the assigned team or the command centre merges a report"));
    }
    if !(open(r) || r.status == "triage") {
        return Err(conflict(format!("a {} report cannot be merged", r.status)));
    }
    let mut c = conn(a.state).await?;
    let target = store::by_id(&mut c, into)
        .await?
        .filter(|t| a.in_team(t.team_id) || a.dispatcher())
        .ok_or_else(|| ApiError::not_found("report", &into.to_string()).field("into"))?;
    if target.id == r.id || !matches!(target.status.as_str(), "triage" | "dispatched" | "accepted") {
        return Err(conflict("merge into another open report"));
    }
    r.status = "merged".into();
    r.duplicate_of = Some(target.id);
    r.closed_at = Some(a.now);
    let detail = json!({"into": target.id});
    Ok(Change { kind: "merged", public: true, note: reason, detail, restart: false })
}

fn close(a: &Acting<'_>, r: &mut ReportRow, result: &str) -> Result<Change, ApiError> {
    if !a.in_team(r.team_id) {
        return Err(ApiError::forbidden("only the assigned team closes a report"));
    }
    if !open(r) {
        return Err(conflict(format!("a {} report cannot be closed", r.status)));
    }
    let result = need_text(result, "result")?;
    r.status = "closed".into();
    r.closed_at = Some(a.now);
    r.acknowledged_at = r.acknowledged_at.or(Some(a.now));
    r.result = Some(result.clone());
    Ok(Change { kind: "closed", public: true, note: Some(result), detail: json!({}), restart: false })
}

/// The command centre routes a report from triage: domain and category, and the team named or
/// the grid's; the clock runs from the report's receipt.
async fn dispatch(
    a: &Acting<'_>,
    r: &mut ReportRow,
    domain: String,
    category: String,
    team: Option<String>,
) -> Result<Change, ApiError> {
    if !a.dispatcher() {
        return Err(ApiError::forbidden("the command centre dispatches from triage"));
    }
    if r.status != "triage" {
        return Err(conflict(format!("a {} report is not in triage", r.status)));
    }
    super::check_category(&a.state.registry.snapshot(), &domain, &category)?;
    r.domain = Some(domain);
    r.category = Some(category);
    r.team_id = Some(target_team(a.state, &a.org, r, team).await?);
    let received = r.created_at;
    restart_clock(a.state, r, received);
    r.status = "dispatched".into();
    let detail = json!({"team_id": r.team_id, "domain": r.domain, "category": r.category});
    Ok(Change { kind: "dispatched", public: true, note: None, detail, restart: true })
}

/// The team an action names (422 `unknown-team`), or else the grid's team for the report's domain
/// at its place (409 when none covers it).
async fn target_team(state: &AppState, org: &OrgIndex, r: &ReportRow, team: Option<String>) -> Result<i64, ApiError> {
    match team {
        Some(code) => org
            .team_by_code(&code)
            .map(|t| t.id)
            .ok_or_else(|| invalid("team", "unknown-team", format!("no team `{code}`"))),
        None => {
            reassign(state, r).await?.ok_or_else(|| conflict("no team covers this place for the domain: name the team"))
        }
    }
}

/// The team for the report's domain at its place, by the grid.
async fn reassign(state: &AppState, r: &ReportRow) -> Result<Option<i64>, ApiError> {
    let Some(d) = &r.domain else { return Ok(None) };
    let at = r.lat.zip(r.lon).and_then(|(a, b)| crate::dispatch::geo::GeoPoint::new(a, b));
    let mut c = conn(state).await?;
    Ok(crate::dispatch::assign(&mut c, d, at).await?.team_id)
}

/// Deadlines from `from` for the report's category (kept as they were when it has none).
fn restart_clock(state: &AppState, r: &mut ReportRow, from: i64) {
    let plugins = state.registry.snapshot();
    if let Some((ack, due)) =
        super::due_dates(&state.intake, &plugins, r.domain.as_deref(), r.category.as_deref(), from)
    {
        r.ack_due_at = Some(ack);
        r.handle_due_at = Some(due);
    }
}

// ---- the citizen's side: the tracking code is the key ----

/// Why a request by tracking code was not served.
#[derive(Debug)]
pub enum CodeError {
    /// Too many requests from the address.
    Limited(Limited),
    Failed(ApiError),
}

impl From<ApiError> for CodeError {
    fn from(e: ApiError) -> Self {
        CodeError::Failed(e)
    }
}

impl From<StoreError> for CodeError {
    fn from(e: StoreError) -> Self {
        CodeError::Failed(e.into())
    }
}

/// The report with tracking code `code`, typed as people type it. Lookups by code count against
/// the address's budget like new reports: codes are unguessable, and stay so.
async fn tracked(state: &AppState, ip: IpAddr, code: &str) -> Result<ReportRow, CodeError> {
    check_limit(state, ip).map_err(CodeError::Limited)?;
    let code = super::normalise_code(code).ok_or_else(|| ApiError::not_found("report", code))?;
    let mut c = conn(state).await?;
    Ok(store::by_code(&mut c, &code).await?.ok_or_else(|| ApiError::not_found("report", &code))?)
}

/// The citizen, known only by the tracking code and the address they came from.
fn reporter(ip: IpAddr) -> Actor {
    Actor { id: None, label: "reporter".into(), source: ip.to_string() }
}

/// Until when a report closed at `closed` may be reopened.
fn reopen_until(s: &IntakeSettings, closed: i64) -> i64 {
    closed + i64::from(s.reopen_days) * 86_400_000
}

/// What the citizen sees of their report: its progress and its public timeline.
pub async fn track(state: &AppState, ip: IpAddr, code: &str) -> Result<Value, CodeError> {
    let r = tracked(state, ip, code).await?;
    let mut c = conn(state).await?;
    let org = org_index(&mut c).await?;
    let events = store::events(&mut c, r.id, true).await?;
    Ok(json!({
        "tracking_code": r.tracking_code, "status": r.status, "domain": r.domain, "category": r.category,
        "team": r.team_id.and_then(|t| org.team(t)).map(|t| t.name.clone()),
        "received_at": rfc3339(r.created_at), "expected_response_by": r.handle_due_at.or(r.ack_due_at).map(rfc3339),
        "closed_at": r.closed_at.map(rfc3339), "result": r.result, "rating": r.rating,
        "can_reopen_until": r.closed_at.filter(|_| r.status == "closed").map(|c| rfc3339(reopen_until(&state.intake.settings, c))),
        "timeline": timeline(&events, false),
    }))
}

/// The citizen's rating of a closed report.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rating {
    /// 1 to 5.
    pub score: i64,
    /// At most 500 characters.
    pub comment: Option<String>,
}

/// The citizen rates their closed report, once.
pub async fn rate(state: &AppState, ip: IpAddr, code: &str, body: Rating) -> Result<(), CodeError> {
    let mut r = tracked(state, ip, code).await?;
    if r.status != "closed" {
        return Err(conflict("a report is rated once it is closed").into());
    }
    if r.rating.is_some() {
        return Err(ApiError::new(StatusCode::CONFLICT, "already-rated", "this report was rated already").into());
    }
    if !(1..=5).contains(&body.score) {
        return Err(invalid("score", "out-of-range", "1 to 5").into());
    }
    let comment = body.comment.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    if comment.as_ref().is_some_and(|c| c.chars().count() > 500) {
        return Err(invalid("comment", "too-long", "at most 500 characters").into());
    }
    r.rating = Some(body.score);
    r.rating_comment = comment.clone();
    let detail = json!({"score": body.score, "comment": comment});
    record(state, &r, &reporter(ip), Change { kind: "rated", public: true, note: None, detail, restart: false })
        .await?;
    Ok(())
}

/// The citizen's request to handle a closed report again.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reopen {
    pub reason: String,
}

/// The citizen reopens their report within the reopening window after it closed: back to its team
/// with a fresh clock, its rating cleared. What the citizen is told: the status and the new
/// response time.
pub async fn reopen(state: &AppState, ip: IpAddr, code: &str, body: Reopen) -> Result<Value, CodeError> {
    let mut r = tracked(state, ip, code).await?;
    let closed =
        r.closed_at.filter(|_| r.status == "closed").ok_or_else(|| conflict("only a closed report is reopened"))?;
    let now = now_ms();
    if now > reopen_until(&state.intake.settings, closed) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "reopen-window-passed",
            format!("a report is reopened within {} days of closing", state.intake.settings.reopen_days),
        )
        .into());
    }
    let reason = need_text(&body.reason, "reason")?;
    r.status = "dispatched".into();
    r.closed_at = None;
    r.acknowledged_at = None;
    r.rating = None;
    r.rating_comment = None;
    r.reopened += 1;
    restart_clock(state, &mut r, now);
    let detail = json!({"team_id": r.team_id});
    let change = Change { kind: "reopened", public: true, note: Some(reason), detail, restart: true };
    record(state, &r, &reporter(ip), change).await?;
    Ok(json!({"status": r.status, "expected_response_by": r.handle_due_at.map(rfc3339)}))
}

// ---- the grid ----

/// The grid as GeoJSON, for the bureau's staff.
pub async fn grid(state: &AppState, p: &Principal) -> Result<Value, ApiError> {
    if !p.is_staff() {
        return Err(ApiError::forbidden("the grid is visible to the bureau's staff"));
    }
    let mut c = conn(state).await?;
    Ok(crate::dispatch::grid_geojson(&mut c).await?)
}

/// Imports a grid (admins only), recorded as done by `actor`; what it changed.
pub async fn import_grid(state: &AppState, p: &Principal, actor: &Actor, doc: &Value) -> Result<Value, ApiError> {
    p.require(&[Role::Admin])?;
    Ok(json!(crate::dispatch::import_grid(&state.db, actor, doc).await?))
}
