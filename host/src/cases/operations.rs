//! Joint operations (专项行动): a lead team and many officers on one domain for a while, spawning
//! and tracking many cases at once — a sweep of low-price tours, say — with the operation's
//! progress: its cases by stage, those overdue, the fines decided.

use super::workflow::{check_party, day, invalid, pin, text};
use super::{CaseRow, stage, store};
use crate::api_error::ApiError;
use crate::auth::store::Actor;
use crate::auth::{Principal, Role, Scope};
use crate::clock::Day;
use crate::server::AppState;
use crate::store::{StoreError, now_ms, rfc3339};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationIn {
    pub code: String,
    pub title: String,
    pub domain: String,
    /// The lead team's code.
    pub team: String,
    pub description: String,
    pub starts_on: String,
    pub ends_on: Option<String>,
}

/// Who runs operations: the lead team's lead, or a leader over it.
fn may_run(caller: &Principal, org: &crate::auth::store::OrgIndex, team: i64) -> bool {
    let dept = org.team(team).map(|t| t.department_id);
    caller.acts_for_team(&[Role::TeamLead], team, org)
        || caller.grants.iter().any(|g| {
            g.role == Role::Leader && (g.scope == Scope::All || Some(g.scope.clone()) == dept.map(Scope::Department))
        })
}

pub async fn create(state: &AppState, caller: &Principal, actor: &Actor, o: OperationIn) -> Result<Value, ApiError> {
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let org = crate::auth::store::org_index(&mut c).await?;
    let team =
        org.team_by_code(&o.team).ok_or_else(|| invalid("team", "unknown-team", format!("no team `{}`", o.team)))?;
    if !may_run(caller, &org, team.id) {
        return Err(ApiError::forbidden("the lead team's lead or a leader runs an operation"));
    }
    if !(2..=40).contains(&o.code.len()) || !o.code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(invalid("code", "invalid-code", "2 to 40 letters, digits and '-'"));
    }
    if !team.domains.contains(&o.domain) || state.registry.snapshot().served(&o.domain).is_none() {
        return Err(invalid(
            "domain",
            "unknown-domain",
            format!("the team does not enforce an enabled domain `{}`", o.domain),
        ));
    }
    let title = text(&o.title, "title", 2, 100)?;
    let description = text(&o.description, "description", 2, 4000)?;
    let starts = day(&o.starts_on, "starts_on")?;
    if let Some(e) = &o.ends_on
        && day(e, "ends_on")? < starts
    {
        return Err(invalid("ends_on", "out-of-range", "an operation ends after it starts"));
    }
    let mut tx = state.db.write_on(&mut c).await?;
    let id: i64 = sqlx::query(
        "INSERT INTO operations (code, title, domain, team_id, description, starts_on, ends_on, status, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $9) RETURNING id",
    )
    .bind(&o.code)
    .bind(&title)
    .bind(&o.domain)
    .bind(team.id)
    .bind(&description)
    .bind(starts.to_string())
    .bind(&o.ends_on)
    .bind(actor.id)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| StoreError::unique(e, format!("operation {}", o.code)))?
    .get(0);
    tx.commit().await.map_err(StoreError::from)?;
    drop(c);
    view(state, caller, id).await
}

struct OperationRow {
    id: i64,
    code: String,
    title: String,
    domain: String,
    team_id: i64,
    description: String,
    starts_on: String,
    ends_on: Option<String>,
    status: String,
}

async fn load(c: &mut crate::auth::store::Conn, id: i64) -> Result<OperationRow, ApiError> {
    let r = sqlx::query(
        "SELECT id, code, title, domain, team_id, description, starts_on, ends_on, status FROM operations WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await
    .map_err(StoreError::from)?
    .ok_or_else(|| ApiError::not_found("operation", &id.to_string()))?;
    Ok(OperationRow {
        id: r.get(0),
        code: r.get(1),
        title: r.get(2),
        domain: r.get(3),
        team_id: r.get(4),
        description: r.get(5),
        starts_on: r.get(6),
        ends_on: r.get(7),
        status: r.get(8),
    })
}

async fn officer_ids(c: &mut crate::auth::store::Conn, id: i64) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(sqlx::query(
        "SELECT u.id, u.login FROM operation_officers o JOIN users u ON u.id = o.user_id WHERE o.operation_id = $1 ORDER BY o.added_at, u.id",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect())
}

/// Whether the caller sees the operation: its team in scope, or working in it.
async fn visible(state: &AppState, caller: &Principal, id: i64) -> Result<OperationRow, ApiError> {
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let org = crate::auth::store::org_index(&mut c).await?;
    let o = load(&mut c, id).await?;
    let works_in = officer_ids(&mut c, id).await?.iter().any(|(u, _)| *u == caller.user_id);
    if !caller.is_staff() || !(caller.team_set(&org).contains(o.team_id) || works_in) {
        return Err(ApiError::not_found("operation", &id.to_string()));
    }
    Ok(o)
}

pub async fn add_officers(
    state: &AppState,
    caller: &Principal,
    id: i64,
    logins: Vec<String>,
) -> Result<Value, ApiError> {
    let o = visible(state, caller, id).await?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let org = crate::auth::store::org_index(&mut c).await?;
    if !may_run(caller, &org, o.team_id) {
        return Err(ApiError::forbidden("the lead team's lead or a leader assigns an operation's officers"));
    }
    let ids = super::workflow::officer_ids(&mut c, &logins).await?;
    let mut tx = state.db.write_on(&mut c).await?;
    for u in ids {
        sqlx::query(
            "INSERT INTO operation_officers (operation_id, user_id, added_at) VALUES ($1, $2, $3) ON CONFLICT (operation_id, user_id) DO NOTHING",
        )
        .bind(id)
        .bind(u)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    drop(c);
    view(state, caller, id).await
}

/// One case an operation spawns.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpawnIn {
    pub title: String,
    pub party: super::Party,
    pub act_date: String,
    pub act_end_date: Option<String>,
    pub place: String,
    pub summary: String,
    #[serde(default)]
    pub safety_harmed: bool,
}

/// Opens many cases at once, all or none: each with the operation's team, domain and officers.
pub async fn spawn(
    state: &AppState,
    caller: &Principal,
    actor: &Actor,
    id: i64,
    cases: Vec<SpawnIn>,
) -> Result<Value, ApiError> {
    let o = visible(state, caller, id).await?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let org = crate::auth::store::org_index(&mut c).await?;
    if !may_run(caller, &org, o.team_id) && !caller.acts_for_team(&[Role::Officer], o.team_id, &org) {
        return Err(ApiError::forbidden("the operation's team opens its cases"));
    }
    if o.status != "active" {
        return Err(super::workflow::refused("operation-closed", "the operation is closed"));
    }
    if cases.is_empty() || cases.len() > 500 {
        return Err(invalid("cases", "count", "1 to 500 cases at once"));
    }
    let officers = officer_ids(&mut c, id).await?;
    let now = now_ms();
    let today = Day::of(now);
    let mut rows = Vec::new();
    for (i, s) in cases.iter().enumerate() {
        let at = |f: &str| format!("cases[{i}].{f}");
        let title = text(&s.title, &at("title"), 2, 100).map_err(|e| e.field(at("title")))?;
        let summary = text(&s.summary, &at("summary"), 5, 4000).map_err(|e| e.field(at("summary")))?;
        let place = text(&s.place, &at("place"), 2, 200).map_err(|e| e.field(at("place")))?;
        let party = check_party(&s.party).map_err(|mut e| {
            e.field = e.field.map(|f| at(&f));
            e
        })?;
        let act = day(&s.act_date, &at("act_date")).map_err(|e| e.field(at("act_date")))?;
        if act > today {
            return Err(invalid(&at("act_date"), "in-future", "the act cannot lie in the future"));
        }
        let end = match &s.act_end_date {
            Some(e) => {
                let d = day(e, &at("act_end_date")).map_err(|x| x.field(at("act_end_date")))?;
                if d < act || d > today {
                    return Err(invalid(&at("act_end_date"), "out-of-range", "between the act's start and today"));
                }
                Some(d)
            }
            None => None,
        };
        let (plugin_version, pinned_reason) = pin(state, &mut c, &o.domain, end.unwrap_or(act)).await?;
        let mut k = CaseRow {
            domain: o.domain.clone(),
            plugin_version,
            pinned_reason,
            procedure: "general".into(),
            source: "operation".into(),
            report_id: None,
            referral: None,
            operation_id: Some(o.id),
            team_id: o.team_id,
            title,
            place,
            summary,
            act_end_date: end.map(|d| d.to_string()),
            safety_harmed: s.safety_harmed,
            discovered_at: now,
            ..CaseRow::opened(party, act, caller.user_id, now)
        };
        let (due, what) = super::clock::stage_deadline(&state.intake.calendar, &state.cases, &k, 0).unzip();
        (k.due_at, k.due_what) = (due, what.map(str::to_string));
        rows.push(k);
    }
    let mut tx = state.db.write_on(&mut c).await?;
    let mut numbers = Vec::new();
    for k in &mut rows {
        store::insert_numbered(&mut tx, k, &state.cases.document_prefix, now).await?;
        for (u, _) in &officers {
            store::add_officer(&mut tx, k.id, *u).await?;
        }
        super::audit::append(
            &state.record,
            &mut tx,
            k.id,
            actor,
            "opened",
            &json!({"number": k.number, "source": "operation", "operation": o.code, "domain": k.domain,
                    "plugin_version": k.plugin_version, "pinned": k.pinned_reason, "team_id": k.team_id,
                    "officers": officers.iter().map(|(_, l)| l).collect::<Vec<_>>()}),
        )
        .await?;
        numbers.push(json!({"id": k.id, "number": k.number}));
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(json!({"opened": numbers}))
}

/// The operation with its officers and progress.
pub async fn view(state: &AppState, caller: &Principal, id: i64) -> Result<Value, ApiError> {
    let o = visible(state, caller, id).await?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let officers = officer_ids(&mut c, id).await?;
    let cases =
        store::list(&mut c, &store::Filter { operation: Some(id), limit: 10_000, ..Default::default() }).await?;
    let now = now_ms();
    let mut by_stage = serde_json::Map::new();
    for s in stage::ALL {
        by_stage.insert(s.into(), json!(cases.iter().filter(|k| k.stage == s).count()));
    }
    let fines: i64 = cases.iter().filter_map(|k| k.progress.decision.as_ref().and_then(|d| d.fine_fen)).sum();
    let done = cases.iter().filter(|k| matches!(k.stage.as_str(), stage::CLOSED | stage::ARCHIVED)).count();
    Ok(json!({
        "id": o.id, "code": o.code, "title": o.title, "domain": o.domain, "team_id": o.team_id, "description": o.description,
        "starts_on": o.starts_on, "ends_on": o.ends_on, "status": o.status,
        "officers": officers.iter().map(|(_, l)| l).collect::<Vec<_>>(),
        "progress": {
            "cases": cases.len(), "by_stage": by_stage, "closed": done,
            "decided": cases.iter().filter(|k| k.progress.decision.is_some()).count(),
            "overdue": cases.iter().filter(|k| k.due_at.is_some_and(|d| d < now)).count(),
            "fines_fen": fines,
            "percent_closed": if cases.is_empty() { 0.0 } else { (done as f64 * 1000.0 / cases.len() as f64).round() / 10.0 },
        },
        "cases": cases.iter().map(|k| json!({"id": k.id, "number": k.number, "party": k.party.name, "stage": k.stage,
                                            "due_at": k.due_at.map(rfc3339)})).collect::<Vec<_>>(),
    }))
}

pub async fn list(state: &AppState, caller: &Principal) -> Result<Value, ApiError> {
    caller.require(&[Role::Officer, Role::TeamLead, Role::Leader, Role::Dispatcher, Role::LegalReviewer])?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let org = crate::auth::store::org_index(&mut c).await?;
    let teams = caller.team_set(&org);
    let rows =
        sqlx::query("SELECT id, code, title, domain, team_id, status, starts_on FROM operations ORDER BY id DESC")
            .fetch_all(&mut *c)
            .await
            .map_err(StoreError::from)?;
    let mut out = Vec::new();
    for r in rows {
        let (id, team): (i64, i64) = (r.get(0), r.get(4));
        let works_in = officer_ids(&mut c, id).await?.iter().any(|(u, _)| *u == caller.user_id);
        if teams.contains(team) || works_in {
            out.push(json!({"id": id, "code": r.get::<String, _>(1), "title": r.get::<String, _>(2), "domain": r.get::<String, _>(3),
                            "team_id": team, "status": r.get::<String, _>(5), "starts_on": r.get::<String, _>(6)}));
        }
    }
    Ok(json!({"operations": out}))
}
