//! The procedure itself: opening a case, and every action on it, each checked against the gates the
//! law sets and written, with its record entry and its messages, in one transaction.

use super::actions::{Cx, Effects};
use super::gates::{CallerFacts, Facts};
use super::lighter::{self, Applies};
use super::procedure::{self, Next};
use super::store::{self, NewEvidence};
use super::{Assessed, CaseRow, CaseSettings, LEVELS, Outcome, Party, Referral, stage};
use crate::api_error::ApiError;
use crate::auth::store::{Actor, Conn, OrgIndex};
use crate::auth::{Principal, Role, Scope};
use crate::clock::Day;
use crate::plugins::Plugin;
use crate::plugins::bindings::{FieldValue, PenaltyKind};
use crate::server::AppState;
use crate::store::{StoreError, now_ms, rfc3339};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

type Result<T, E = ApiError> = std::result::Result<T, E>;

pub(crate) use super::gates::{invalid, refused};

fn changed_meanwhile() -> ApiError {
    refused("changed-meanwhile", "the case changed since it was read: look again and retry")
}

pub(crate) fn text(s: &str, field: &str, min: usize, max: usize) -> Result<String> {
    let t = s.trim();
    let n = t.chars().count();
    if n < min || n > max {
        return Err(invalid(field, "length", format!("{min} to {max} characters")));
    }
    Ok(t.to_string())
}

pub(crate) fn day(s: &str, field: &str) -> Result<Day> {
    Day::parse(s).ok_or_else(|| invalid(field, "invalid-date", "a date, YYYY-MM-DD"))
}

pub(crate) fn year_of(ms: i64) -> i64 {
    Day::of(ms).to_string()[..4].parse().unwrap_or(1970)
}

pub(crate) fn check_party(p: &Party) -> Result<Party> {
    if !matches!(p.kind.as_str(), "person" | "organisation") {
        return Err(invalid("party.kind", "invalid-choice", "person or organisation"));
    }
    let name = text(&p.name, "party.name", 1, 100)?;
    let id_number = match p.id_number.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) if !crate::ids::id_number_valid(id) => {
            return Err(invalid(
                "party.id_number",
                "check-digit",
                "not a valid identity number (GB 11643) or unified social credit code (GB 32100)",
            ));
        }
        other => other.map(str::to_uppercase),
    };
    Ok(Party { kind: p.kind.clone(), name, id_number, ..p.clone() })
}

/// The teams a caller works for as officer or team lead.
pub(crate) fn teams_worked(caller: &Principal, org: &OrgIndex) -> Vec<i64> {
    let mut out = Vec::new();
    for g in &caller.grants {
        if !matches!(g.role, Role::Officer | Role::TeamLead) {
            continue;
        }
        match g.scope {
            Scope::Team(t) => out.push(t),
            Scope::Department(d) => out.extend(org.teams_of(d)),
            _ => {}
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether the caller may see the case: its team within their scope, or they work on it.
pub async fn may_see(c: &mut Conn, caller: &Principal, org: &OrgIndex, k: &CaseRow) -> Result<bool> {
    if caller.team_set(org).contains(k.team_id) {
        return Ok(true);
    }
    Ok(store::is_officer_of(c, k.id, caller.user_id).await?)
}

/// The accounts of `logins` (the field `officers`), each active and holding an officer role.
pub async fn officer_ids(c: &mut Conn, logins: &[String]) -> Result<Vec<i64>> {
    if logins.is_empty() {
        return Err(invalid("officers", "required", "at least one login"));
    }
    let mut ids = Vec::new();
    for (i, login) in logins.iter().enumerate() {
        let u = crate::auth::store::user_by_login(c, &login.to_lowercase()).await?.filter(|u| !u.disabled).ok_or_else(
            || invalid(&format!("officers[{i}]"), "unknown-user", format!("no active account `{login}`")),
        )?;
        if !crate::auth::store::grants_of(c, u.id).await?.iter().any(|g| g.role == Role::Officer) {
            return Err(invalid(
                &format!("officers[{i}]"),
                "not-an-officer",
                format!("`{login}` holds no officer role"),
            ));
        }
        ids.push(u.id);
    }
    Ok(ids)
}

/// Whether the caller works the case: an officer on it, or an officer or lead of its team.
pub(crate) async fn works(c: &mut Conn, caller: &Principal, org: &OrgIndex, k: &CaseRow) -> Result<bool> {
    if caller.acts_for_team(&[Role::Officer, Role::TeamLead], k.team_id, org) {
        return Ok(true);
    }
    Ok(caller.has(Role::Officer) && store::is_officer_of(c, k.id, caller.user_id).await?)
}

/// Which version's rules were in force on the day the act ended (a continuing act: its end, APL
/// art. 36): among the versions that have served the domain (installed, activated or rolled back to
/// by an admin; never one merely published, nor a quarantined one), the one whose in-force dates
/// hold that day and that started latest; the active version when none does.
pub async fn pin(state: &AppState, c: &mut Conn, domain: &str, act_end: Day) -> Result<(String, String)> {
    let versions = crate::plugins::lifecycle::versions(c, Some(domain)).await?;
    let served: std::collections::BTreeSet<String> = crate::plugins::lifecycle::activations(c, domain)
        .await?
        .into_iter()
        .filter(|a| a.mode == "active")
        .map(|a| a.version)
        .collect();
    let date_of = |v: &Value| {
        let (y, m, d) = (v["year"].as_i64()?, v["month"].as_i64()?, v["day"].as_i64()?);
        Day::parse(&format!("{y:04}-{m:02}-{d:02}"))
    };
    // (starts, version order, version, its dates in words)
    type Candidate = (Day, (Vec<u64>, bool), String, String);
    let mut best: Option<Candidate> = None;
    for v in versions.iter().filter(|v| served.contains(&v.version) && v.quarantined_at.is_none()) {
        let range = &v.manifest["in_force"];
        let Some(from) = date_of(&range["from"]) else { continue };
        let until = date_of(&range["until"]);
        if from > act_end || until.is_some_and(|u| act_end >= u) {
            continue;
        }
        let key = (from, crate::plugins::registry::semver_key(&v.version));
        if best.as_ref().is_none_or(|b| (b.0, b.1.clone()) < key) {
            let until = until.map(|u| format!(" until {u}")).unwrap_or_default();
            best = Some((key.0, key.1, v.version.clone(), format!("in force from {from}{until}")));
        }
    }
    match best {
        Some((_, _, version, range)) => {
            Ok((version.clone(), format!("{domain} {version}: its rules were in force on {act_end} ({range})")))
        }
        None => {
            let served = state.registry.snapshot();
            let active = served
                .published(domain)
                .ok_or_else(|| invalid("domain", "unknown-domain", format!("no domain `{domain}` is enabled")))?;
            let v = active.manifest().version.clone();
            Ok((
                v.clone(),
                format!("{domain} {v}: no version that served is in force on {act_end}; the active version was pinned"),
            ))
        }
    }
}

/// A case as opened.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenIn {
    /// `report`, `patrol` or `referral`.
    pub source: String,
    pub report_id: Option<i64>,
    pub referral: Option<Referral>,
    /// The domain; from the report when it comes from one.
    pub domain: Option<String>,
    /// The team's code; the report's team, or the caller's only team for the domain, by default.
    pub team: Option<String>,
    /// `general` (default) or `summary` (APL art. 51).
    pub procedure: Option<String>,
    pub title: String,
    pub place: Option<String>,
    pub summary: String,
    pub party: Party,
    pub act_date: String,
    pub act_end_date: Option<String>,
    #[serde(default)]
    pub safety_harmed: bool,
}

/// Opens a case (立案, APL art. 54).
pub async fn open(state: &AppState, caller: &Principal, actor: &Actor, input: OpenIn) -> Result<Value> {
    caller.require(&[Role::Officer, Role::TeamLead])?;
    let now = now_ms();
    let today = Day::of(now);
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let org = crate::auth::store::org_index(&mut c).await?;
    let title = text(&input.title, "title", 2, 100)?;
    let summary = text(&input.summary, "summary", 5, 4000)?;
    let party = check_party(&input.party)?;
    let act = day(&input.act_date, "act_date")?;
    if act > today {
        return Err(invalid("act_date", "in-future", "the act cannot lie in the future"));
    }
    let act_end = match input.act_end_date.as_deref() {
        Some(s) => {
            let d = day(s, "act_end_date")?;
            if d < act || d > today {
                return Err(invalid("act_end_date", "out-of-range", "between the act's start and today"));
            }
            Some(d)
        }
        None => None,
    };
    let procedure = input.procedure.clone().unwrap_or_else(|| "general".into());
    if !matches!(procedure.as_str(), "general" | "summary") {
        return Err(invalid("procedure", "invalid-choice", "general or summary"));
    }
    let (report, domain, discovered_at, referral) = source_of(&mut c, caller, &org, &input, now).await?;
    if state.registry.snapshot().served(&domain).is_none() {
        return Err(invalid("domain", "unknown-domain", format!("no domain `{domain}` is enabled")));
    }
    let team_id = team_for(caller, &org, &input, report.as_ref(), &domain)?;
    let (plugin_version, pinned_reason) = pin(state, &mut c, &domain, act_end.unwrap_or(act)).await?;
    let s = &state.cases;
    let mut k = CaseRow {
        domain: domain.clone(),
        plugin_version,
        pinned_reason,
        procedure,
        source: input.source.clone(),
        report_id: report.as_ref().map(|r| r.id),
        referral,
        operation_id: None,
        team_id,
        title,
        place: input
            .place
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .or_else(|| report.as_ref().and_then(|r| r.address.clone()))
            .or_else(|| {
                report.as_ref().and_then(|r| r.lat.zip(r.lon)).map(|(lat, lon)| format!("{lat:.6}, {lon:.6}（WGS84）"))
            })
            .ok_or_else(|| invalid("place", "required", "where the act happened"))?,
        summary,
        act_end_date: act_end.map(|d| d.to_string()),
        safety_harmed: input.safety_harmed,
        discovered_at,
        ..CaseRow::opened(party, act, caller.user_id, now)
    };
    let (due, what) = super::clock::stage_deadline(&state.intake.calendar, s, &k, 0).unzip();
    (k.due_at, k.due_what) = (due, what.map(str::to_string));
    let mut tx = state.db.write_on(&mut c).await?;
    store::insert_numbered(&mut tx, &mut k, &s.document_prefix, now).await?;
    if caller.acts_for_team(&[Role::Officer], team_id, &org) {
        store::add_officer(&mut tx, k.id, caller.user_id).await?;
    }
    if let Some(r) = report {
        link_report(state, &mut tx, actor, r, &k, now).await?;
    }
    super::audit::append(
        &state.record,
        &mut tx,
        k.id,
        actor,
        "opened",
        &json!({"number": k.number, "source": k.source, "domain": k.domain, "plugin_version": k.plugin_version,
                "pinned": k.pinned_reason, "team_id": k.team_id, "procedure": k.procedure, "report_id": k.report_id,
                "act_date": k.act_date, "act_end_date": k.act_end_date}),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    drop(c);
    view(state, caller, k.id).await
}

/// Where a case comes from (APL art. 54): a report of the caller's team, a referral received, or
/// an act found on patrol now; the domain, and when the act was discovered (what the limitation
/// period is measured to).
async fn source_of(
    c: &mut Conn,
    caller: &Principal,
    org: &OrgIndex,
    input: &OpenIn,
    now: i64,
) -> Result<(Option<crate::intake::store::ReportRow>, String, i64, Option<Referral>)> {
    let today = Day::of(now);
    Ok(match input.source.as_str() {
        "report" => {
            let id =
                input.report_id.ok_or_else(|| invalid("report_id", "required", "the report the case opens from"))?;
            let r = crate::intake::store::by_id(c, id)
                .await?
                .ok_or_else(|| ApiError::not_found("report", &id.to_string()))?;
            if !r.team_id.is_some_and(|t| caller.acts_for_team(&[Role::Officer, Role::TeamLead], t, org)) {
                return Err(ApiError::forbidden("only the report's team opens a case from it"));
            }
            if !matches!(r.status.as_str(), "dispatched" | "accepted") {
                return Err(refused("wrong-status", format!("a case cannot be opened from a {} report", r.status)));
            }
            let d =
                r.domain.clone().ok_or_else(|| invalid("report_id", "no-domain", "the report has no domain yet"))?;
            let created = r.created_at;
            (Some(r), d, created, None)
        }
        "referral" => {
            let rf =
                input.referral.clone().ok_or_else(|| invalid("referral", "required", "who referred it, and when"))?;
            text(&rf.agency, "referral.agency", 2, 100)?;
            let received = day(&rf.received_on, "referral.received_on")?;
            if received > today {
                return Err(invalid("referral.received_on", "in-future", "cannot lie in the future"));
            }
            let d = input.domain.clone().ok_or_else(|| invalid("domain", "required", "the domain of the case"))?;
            (None, d, received.start_ms(), Some(rf))
        }
        // Found on patrol now: the case is opened when the act is discovered (APL art. 54), and
        // that is the day the limitation period is measured to.
        "patrol" => {
            let d = input.domain.clone().ok_or_else(|| invalid("domain", "required", "the domain of the case"))?;
            (None, d, now, None)
        }
        _ => return Err(invalid("source", "invalid-choice", "report, patrol or referral")),
    })
}

/// The team of the case: the one named (enforcing the domain, the caller working for it), the
/// report's, or the caller's only team for the domain.
fn team_for(
    caller: &Principal,
    org: &OrgIndex,
    input: &OpenIn,
    report: Option<&crate::intake::store::ReportRow>,
    domain: &str,
) -> Result<i64> {
    Ok(match &input.team {
        Some(code) => {
            let t =
                org.team_by_code(code).ok_or_else(|| invalid("team", "unknown-team", format!("no team `{code}`")))?;
            if !t.domains.iter().any(|d| d == domain) {
                return Err(invalid("team", "team-domain", format!("team {code} does not enforce {domain}")));
            }
            if !caller.acts_for_team(&[Role::Officer, Role::TeamLead], t.id, org) {
                return Err(ApiError::forbidden(format!("you do not work for team {code}")));
            }
            t.id
        }
        None => match report {
            Some(r) => r.team_id.unwrap_or_default(),
            None => {
                let mine: Vec<i64> = teams_worked(caller, org)
                    .into_iter()
                    .filter(|t| org.team(*t).is_some_and(|t| t.domains.iter().any(|d| d == domain)))
                    .collect();
                match mine.as_slice() {
                    [one] => *one,
                    [] => return Err(ApiError::forbidden(format!("you work for no team that enforces {domain}"))),
                    _ => return Err(invalid("team", "required", "you work for several teams: name the team")),
                }
            }
        },
    })
}

/// The report a case opens from: marked, linked, its timeline told, its citizen told.
async fn link_report(
    state: &AppState,
    tx: &mut Conn,
    actor: &Actor,
    mut r: crate::intake::store::ReportRow,
    k: &CaseRow,
    now: i64,
) -> Result<()> {
    r.status = "case-opened".into();
    r.acknowledged_at = r.acknowledged_at.or(Some(now));
    if !crate::intake::store::update(tx, &r, false).await? {
        return Err(refused("changed-meanwhile", "the report changed since it was read: look again and retry"));
    }
    sqlx::query("UPDATE reports SET case_id = $1 WHERE id = $2")
        .bind(k.id)
        .bind(r.id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    crate::intake::store::add_event(
        tx,
        r.id,
        "case-opened",
        actor,
        true,
        Some("已立案调查"),
        json!({"case": k.number}),
    )
    .await?;
    let who = crate::intake::audience(tx, &state.intake.notify, &r, "case-opened").await?;
    crate::notify::enqueue(tx, &state.intake.notify, "report.case-opened", &crate::intake::event_body(&r, r.id), &who)
        .await?;
    Ok(())
}

/// One action on a case.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Action {
    /// Officers of the case, by login (the team lead assigns).
    AssignOfficers {
        officers: Vec<String>,
    },
    /// A summary-procedure case that turns out to need the general procedure.
    ConvertToGeneral {
        reason: String,
    },
    /// 调查取证: needs two officers certified for the domain (APL art. 42).
    StartInvestigation,
    /// The on-site inspection record, checked by the domain's `inspection` form.
    RecordInspection {
        /// Form values: `{field, value}` with the value tagged by kind, as the domain's form has it.
        #[schema(value_type = Vec<Object>)]
        values: Vec<FieldValue>,
    },
    /// The checklist item and the circumstances, checked by the domain's `case-facts` form.
    RecordFacts {
        item: String,
        /// Form values: `{field, value}` with the value tagged by kind, as the domain's form has it.
        #[schema(value_type = Vec<Object>)]
        facts: Vec<FieldValue>,
    },
    /// Runs the assessment under the pinned and the current rules, for the officer to see.
    Assess,
    /// The penalty proposed: the fine in fen (inside the band), the optional penalties imposed
    /// (by kind), the reason for departing from the recommendation; in manual mode, the tier.
    Propose {
        fine_fen: Option<i64>,
        #[serde(default)]
        optional: Vec<String>,
        reason: Option<String>,
        tier: Option<String>,
        /// APL art. 58: difficult and complex, or of major public interest.
        #[serde(default)]
        complex: bool,
    },
    /// The case is not the same act as an overlapping one of the same party (APL art. 29).
    DeclareDistinctAct {
        reason: String,
    },
    /// 事先告知书: the notice of intended penalty (APL art. 44).
    IssueNotice,
    /// The notice reached the party (RFC 3339; now when not given): the hearing window opens.
    ServeNotice {
        how: String,
        served_at: Option<String>,
    },
    /// The party's statement and defence (APL art. 45).
    RecordStatement {
        text: String,
    },
    /// The party asked for a hearing (when: RFC 3339, now by default), within the window (APL art. 64).
    RequestHearing {
        requested_at: Option<String>,
    },
    /// The party gives up its hearing and statement.
    WaiveHearing,
    /// When and where; at least seven working days after the hearing notice.
    ScheduleHearing {
        hearing_at: String,
        place: String,
    },
    HoldHearing {
        record: String,
    },
    /// To the approval chain (legal review included where required).
    Submit,
    Approve {
        comment: Option<String>,
    },
    Reject {
        comment: String,
    },
    /// Summary procedure (APL art. 51–52): decided and handed over on the spot.
    DecideSummary {
        item: String,
        /// Form values: `{field, value}` with the value tagged by kind, as the domain's form has it.
        #[schema(value_type = Vec<Object>)]
        facts: Vec<FieldValue>,
        fine_fen: Option<i64>,
        reason: Option<String>,
    },
    /// The decision reached the party (APL art. 61), when (RFC 3339; now by default).
    ServeDecision {
        how: String,
        served_at: Option<String>,
    },
    /// The party paid, on that day (`YYYY-MM-DD`; today by default): the fine and any surcharge.
    RecordPayment {
        paid_fen: i64,
        receipt: String,
        paid_on: Option<String>,
    },
    /// 催告: the written demand to pay before enforcement (ACL art. 35), once the time to pay ran out.
    IssueDemand,
    /// 结案: executed; or, unpaid after the demand, with a note of the application to the court.
    Close {
        note: String,
    },
    /// 不予处罚: with the legal reason; the head's decision (APL art. 57).
    CloseWithoutPenalty {
        reason: String,
        note: String,
    },
    /// 移送: to another agency; the head's decision (APL art. 57).
    ReferOut {
        agency: String,
        reason: String,
    },
    /// The agency accepted the referral.
    ReferralAccepted {
        receipt: String,
    },
    /// The decision clock stops for testing or appraisal.
    Pause {
        reason: String,
    },
    Resume,
    Archive,
}

impl Action {
    /// Every action's name, as the API spells it.
    pub const NAMES: [&'static str; 29] = [
        "assign-officers",
        "convert-to-general",
        "start-investigation",
        "record-inspection",
        "record-facts",
        "assess",
        "propose",
        "declare-distinct-act",
        "issue-notice",
        "serve-notice",
        "record-statement",
        "request-hearing",
        "waive-hearing",
        "schedule-hearing",
        "hold-hearing",
        "submit",
        "approve",
        "reject",
        "decide-summary",
        "serve-decision",
        "record-payment",
        "issue-demand",
        "close",
        "close-without-penalty",
        "refer-out",
        "referral-accepted",
        "pause",
        "resume",
        "archive",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Action::AssignOfficers { .. } => "assign-officers",
            Action::ConvertToGeneral { .. } => "convert-to-general",
            Action::StartInvestigation => "start-investigation",
            Action::RecordInspection { .. } => "record-inspection",
            Action::RecordFacts { .. } => "record-facts",
            Action::Assess => "assess",
            Action::Propose { .. } => "propose",
            Action::DeclareDistinctAct { .. } => "declare-distinct-act",
            Action::IssueNotice => "issue-notice",
            Action::ServeNotice { .. } => "serve-notice",
            Action::RecordStatement { .. } => "record-statement",
            Action::RequestHearing { .. } => "request-hearing",
            Action::WaiveHearing => "waive-hearing",
            Action::ScheduleHearing { .. } => "schedule-hearing",
            Action::HoldHearing { .. } => "hold-hearing",
            Action::Submit => "submit",
            Action::Approve { .. } => "approve",
            Action::Reject { .. } => "reject",
            Action::DecideSummary { .. } => "decide-summary",
            Action::ServeDecision { .. } => "serve-decision",
            Action::RecordPayment { .. } => "record-payment",
            Action::IssueDemand => "issue-demand",
            Action::Close { .. } => "close",
            Action::CloseWithoutPenalty { .. } => "close-without-penalty",
            Action::ReferOut { .. } => "refer-out",
            Action::ReferralAccepted { .. } => "referral-accepted",
            Action::Pause { .. } => "pause",
            Action::Resume => "resume",
            Action::Archive => "archive",
        }
    }
}

/// The reasons not to penalise, with their articles.
pub const NO_PENALTY: [(&str, &str); 7] = [
    ("minor-first-offence", "初次违法且危害后果轻微并及时改正（行政处罚法第三十三条第一款）"),
    ("no-fault", "有证据足以证明没有主观过错（行政处罚法第三十三条第二款）"),
    ("under-age", "不满十四周岁（行政处罚法第三十条）"),
    ("mental-illness", "不能辨认或者不能控制自己行为（行政处罚法第三十一条）"),
    ("limitation", "超过追责期限（行政处罚法第三十六条）"),
    ("not-established", "违法事实不能成立"),
    ("no-current-rule", "现行规定不再处罚该行为（行政处罚法第三十七条）"),
];

/// Loads a case the caller may see (404 otherwise, so as not to say it exists).
pub async fn visible(state: &AppState, caller: &Principal, id: i64) -> Result<(CaseRow, OrgIndex)> {
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let org = crate::auth::store::org_index(&mut c).await?;
    let k = store::load(&mut c, id).await?.ok_or_else(|| ApiError::not_found("case", &id.to_string()))?;
    if !caller.is_staff() || !may_see(&mut c, caller, &org, &k).await? {
        return Err(ApiError::not_found("case", &id.to_string()));
    }
    Ok((k, org))
}

/// Assesses under `plugin` at `at`; a refusal is an outcome, not an error.
async fn assess_with(plugin: Option<(&Arc<Plugin>, bool)>, item: &str, facts: &[FieldValue], at: i64) -> Assessed {
    let Some((p, callable)) = plugin else {
        return Assessed {
            version: String::new(),
            sha256: String::new(),
            reference_at: at,
            outcome: Outcome::Refused { code: "unknown-domain".into(), message: "the domain is not enabled".into() },
        };
    };
    let outcome = if !callable {
        Outcome::Refused {
            code: "manual-mode".into(),
            message: format!("version {} is quarantined: nothing is called; assess by hand", p.manifest().version),
        }
    } else {
        match p.assess(item, facts.to_vec(), at).await {
            Ok(a) => Outcome::Assessed(a),
            Err(e) => Outcome::Refused { code: e.code().into(), message: e.to_string() },
        }
    };
    Assessed { version: p.manifest().version.clone(), sha256: p.sha256.clone(), reference_at: at, outcome }
}

/// The case's pinned version, loaded before any connection is held (a first load reads it from
/// the database).
pub(crate) async fn load_pinned(state: &AppState, k: &CaseRow) -> Result<Arc<Plugin>> {
    state.registry.version(&k.domain, &k.plugin_version).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "pinned-version",
            format!("the case's rules cannot be loaded: {e}"),
        )
    })
}

/// Whether the pinned version may be called: a quarantined version is not.
async fn callable(c: &mut Conn, k: &CaseRow) -> Result<bool> {
    Ok(crate::plugins::lifecycle::version(c, &k.domain, &k.plugin_version)
        .await?
        .is_none_or(|v| v.quarantined_at.is_none()))
}

/// Unix seconds of the last moment of the day the act ended: the reference time of the rules
/// then in force.
pub(crate) fn act_reference(k: &CaseRow) -> i64 {
    k.act_end().next().start_ms() / 1000 - 1
}

/// Both assessments of the lighter-law rule: under the pinned version at the time of the act, and
/// under the version serving now at the current time.
pub(crate) async fn both(
    state: &AppState,
    k: &CaseRow,
    pinned: (&Arc<Plugin>, bool),
    item: &str,
    facts: &[FieldValue],
) -> (Assessed, Assessed) {
    let old = assess_with(Some(pinned), item, facts, act_reference(k)).await;
    let snapshot = state.registry.snapshot();
    let current = snapshot.served(&k.domain).map(|s| (&s.plugin, !s.manual));
    let new = assess_with(current, item, facts, now_ms() / 1000).await;
    (old, new)
}

pub(crate) fn fine_yuan_limit(k: &CaseRow, person: i64, organisation: i64) -> i64 {
    if k.party.kind == "person" { person } else { organisation }
}

/// Why the legal review of APL art. 58 is required for this proposal.
pub(crate) fn legal_review_reasons(
    s: &CaseSettings,
    k: &CaseRow,
    penalties: &[crate::plugins::bindings::Penalty],
    fine: Option<i64>,
    complex: bool,
) -> Vec<String> {
    let mut why = Vec::new();
    let limit = fine_yuan_limit(k, s.legal_review_fine_person_yuan, s.legal_review_fine_organisation_yuan);
    if fine.is_some_and(|f| f >= limit * 100) {
        why.push(format!("a fine of {} yuan or more (the bureau's threshold for a major case)", limit));
    }
    if penalties.iter().any(|p| lighter::gravity(&p.kind) >= 3) {
        why.push("a penalty on licences, business or practice: the party's major rights (APL art. 58(1)(2))".into());
    }
    if k.progress.heard {
        why.push("a hearing was held (APL art. 58(1)(2))".into());
    }
    if complex {
        why.push("difficult and complex, or of major public interest (APL art. 58(1)(1)(3))".into());
    }
    if k.proposal.as_ref().is_some_and(|p| p.manual) {
        why.push("assessed by hand in manual mode".into());
    }
    if k.distinct_act.is_some() {
        why.push("declared a distinct act from an overlapping case of the same party (APL art. 29)".into());
    }
    why
}

/// The approval chain for a fine: the matching rule with the highest threshold reached, legal
/// review inserted where required, and one level more where the fine departs from the
/// recommendation.
pub fn chain_for(
    s: &CaseSettings,
    domain: &str,
    item: &str,
    fine: Option<i64>,
    legal_review: bool,
    deviates: bool,
) -> Vec<String> {
    let yuan = fine.unwrap_or(0) / 100;
    let rule = s
        .approval
        .iter()
        .filter(|r| r.domain.as_deref().is_none_or(|d| d == domain))
        .filter(|r| r.items.is_empty() || r.items.iter().any(|i| i == item))
        .filter(|r| r.min_fine_yuan <= yuan)
        .max_by_key(|r| (r.min_fine_yuan, r.domain.is_some(), !r.items.is_empty()));
    let mut chain: Vec<String> = rule.map(|r| r.chain.clone()).unwrap_or_else(|| vec!["team-lead".into()]);
    if legal_review && !chain.iter().any(|r| r == "legal-reviewer") {
        let at = chain.iter().position(|r| r == "leader").unwrap_or(chain.len());
        chain.insert(at, "legal-reviewer".into());
    }
    if deviates {
        let top = chain.iter().filter_map(|r| LEVELS.iter().position(|l| l == r)).max();
        if let Some(next) = LEVELS.get(top.map_or(0, |t| t + 1)) {
            chain.push(next.to_string());
        }
    }
    chain
}

/// APL art. 29: the same act is not fined twice. Another case of the same party whose act overlaps
/// in time and that was fined refuses this fine, unless the case was declared a distinct act.
pub(crate) async fn one_act_one_fine(c: &mut Conn, caller: &Principal, k: &CaseRow, fine: Option<i64>) -> Result<()> {
    if fine.is_none() || k.distinct_act.is_some() {
        return Ok(());
    }
    let others = store::same_party(c, &k.party_key, k.id).await?;
    let (from, to) = (Day::parse(&k.act_date).unwrap_or(Day(0)), k.act_end());
    let others: Vec<CaseRow> = others
        .into_iter()
        .filter(|o| {
            let (of, ot) = (Day::parse(&o.act_date).unwrap_or(Day(0)), o.act_end());
            of <= to && from <= ot
        })
        .filter(|o| o.progress.decision.as_ref().is_some_and(|d| d.fine_fen.is_some()))
        .collect();
    let mut fined = Vec::new();
    if !others.is_empty() {
        // Named only as far as the caller's scope goes.
        let org = crate::auth::store::org_index(c).await?;
        for o in &others {
            let seen = may_see(c, caller, &org, o).await?;
            fined.push(if seen { format!("{} ({})", o.number, o.domain) } else { "a case of another team".into() });
        }
    }
    if !fined.is_empty() {
        return Err(refused(
            "same-act-fined",
            format!(
                "the same party was already fined for an act of the same time in {}: the same act is not fined twice (APL art. 29); \
                 if it is another act, declare it so with the reason",
                fined.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The assessment that applies under APL art. 37, or why none can.
pub(crate) fn applicable(pinned: &Assessed, current: &Assessed) -> Result<(Applies, String)> {
    match (&pinned.outcome, &current.outcome) {
        (Outcome::Assessed(old), Outcome::Assessed(new)) => {
            let applies = lighter::lighter(old, new);
            let band = |a: &crate::plugins::bindings::Assessment| {
                a.fine_range.as_ref().map_or("no fine".to_string(), |r| {
                    format!("{}–{}", crate::money::yuan(r.min), crate::money::yuan(r.max))
                })
            };
            let why = match applies {
                Applies::Current => format!(
                    "the current rules ({} {}, tier {}, {}) are lighter than those at the time of the act ({} {}, tier {}, {}): APL art. 37",
                    new.item,
                    current.version,
                    new.tier,
                    band(new),
                    old.item,
                    pinned.version,
                    old.tier,
                    band(old)
                ),
                Applies::Pinned => format!(
                    "the rules at the time of the act ({} tier {}, {}) apply; the current rules ({} tier {}, {}) are not lighter: APL art. 37",
                    pinned.version,
                    old.tier,
                    band(old),
                    current.version,
                    new.tier,
                    band(new)
                ),
            };
            Ok((applies, why))
        }
        (Outcome::Refused { code, message }, _) if code == "not-in-force" || code == "not-found" => Err(refused(
            "not-punishable-then",
            format!(
                "under the rules in force at the time of the act ({}): {message}; an act is penalised only under a rule then in force",
                pinned.version
            ),
        )),
        (_, Outcome::Refused { code, message }) if code == "not-in-force" || code == "not-found" => Err(refused(
            "no-current-rule",
            format!(
                "the current rules ({}) no longer provide this penalty ({message}); under APL art. 37 the lighter applies: close without penalty, or let legal review decide",
                current.version
            ),
        )),
        (Outcome::Refused { code, message }, _) | (_, Outcome::Refused { code, message })
            if code == "invalid-facts" =>
        {
            Err(refused("invalid-facts", format!("the facts do not suffice for the assessment: {message}")))
        }
        _ => Err(refused("manual-mode", "a version cannot be called: propose in manual mode, naming the tier")),
    }
}

/// The fine band of a tier from the published checklist, for manual mode: fixed bands, or
/// proportional and per-unit ones from the amounts in the facts.
pub(crate) fn static_band(
    p: &Plugin,
    item: &str,
    tier: &str,
    facts: &[FieldValue],
) -> Result<(crate::plugins::bindings::Assessment, Option<(i64, i64)>)> {
    use crate::plugins::bindings::{Assessment, FenRange};
    let it = p
        .data()
        .checklist
        .iter()
        .find(|i| i.code == item)
        .ok_or_else(|| invalid("item", "unknown-item", format!("no item {item}")))?;
    let t = it
        .tiers
        .iter()
        .find(|t| t.code == tier)
        .ok_or_else(|| invalid("tier", "unknown-tier", format!("item {item} has no tier {tier}")))?;
    let band = crate::plugins::check::statutory_band(p, item, tier, facts)
        .map_err(|m| invalid("facts", "invalid-facts", m))?;
    let a = Assessment {
        item: item.into(),
        tier: tier.into(),
        reasons: vec![crate::plugins::bindings::Text {
            zh: "人工模式：执法人员选择裁量档次".into(),
            en: "manual mode: the officer chose the tier".into(),
        }],
        penalties: t.penalties.clone(),
        fine_range: band.map(|(min, max)| FenRange { min, max }),
        recommended_fine: band.map(|(a, b)| a + (b - a) / 2),
        orders: t.orders.clone(),
        basis: t.basis.clone(),
    };
    Ok((a, band))
}

/// When something happened, as an officer records it after the fact: RFC 3339, not in the future,
/// not before `earliest`; now when not given.
pub(crate) fn when(s: Option<&str>, field: &str, earliest: i64, now: i64) -> Result<i64> {
    let Some(s) = s else { return Ok(now) };
    let (at, _) = crate::clock::parse_rfc3339(s)
        .ok_or_else(|| invalid(field, "invalid-datetime", "an RFC 3339 date and time"))?;
    if at > now + 300_000 || at < earliest {
        return Err(invalid(field, "out-of-range", format!("between {} and now", rfc3339(earliest))));
    }
    Ok(at)
}

/// The number a document of `kind` gets: 综执罚告〔2026〕3号.
pub(crate) fn number_for(s: &CaseSettings, kind: &str, year: i64, n: i64) -> String {
    let word = match kind {
        "notice" => "罚告",
        "hearing" => "听通",
        "decision" => "罚决",
        "referral" => "移",
        "demand" => "催",
        _ => "文",
    };
    format!("{}{word}〔{year}〕{n}号", s.document_prefix)
}

pub(crate) fn give_number(k: &mut CaseRow, kind: &str, number: String) {
    let p = &mut k.progress;
    match kind {
        "notice" => p.notice.iter_mut().for_each(|n| n.number = number.clone()),
        "hearing" => p.hearing.iter_mut().for_each(|h| h.notice_number = Some(number.clone())),
        "decision" => p.decision.iter_mut().for_each(|d| d.number = number.clone()),
        "referral" => p.referral_out.iter_mut().for_each(|r| r.number = number.clone()),
        "demand" => p.demand.iter_mut().for_each(|d| d.number = number.clone()),
        _ => {}
    }
}

/// Whether the caller heads the case's team: its lead, or a leader over it (APL art. 57's
/// 负责人; ACL art. 18's).
pub(crate) fn heads(caller: &Principal, org: &OrgIndex, k: &CaseRow) -> bool {
    let dept = org.team(k.team_id).map(|t| t.department_id);
    caller.acts_for_team(&[Role::TeamLead], k.team_id, org)
        || caller.grants.iter().any(|g| {
            g.role == Role::Leader && (g.scope == Scope::All || Some(&g.scope) == dept.map(Scope::Department).as_ref())
        })
}

/// The validation errors of a form as one API error naming the first field.
pub(crate) fn form_error(errors: &[crate::plugins::bindings::FieldError]) -> ApiError {
    let mut e = invalid(&errors[0].field, "invalid-form", format!("{}: {}", errors[0].field, errors[0].message.en));
    e.details = serde_json::to_value(errors).ok().map(Box::new);
    e
}

/// The fine a proposal really imposes: only where one of its penalties is a fine.
pub(crate) fn imposed_fine(penalties: &[crate::plugins::bindings::Penalty], fine: Option<i64>) -> Option<i64> {
    fine.filter(|_| penalties.iter().any(|p| matches!(p.kind, PenaltyKind::Fine(_))))
}

/// What the procedure judges an action on, loaded once: the caller's standing on the case, its
/// officers, approval steps, clock stops and measures in force.
pub async fn facts<'a>(
    state: &'a AppState,
    c: &mut Conn,
    caller: &Principal,
    org: &OrgIndex,
    k: &CaseRow,
) -> Result<Facts<'a>> {
    let today = crate::store::today_cst();
    let dept = org.team(k.team_id).map(|t| t.department_id);
    // A role held for this team's approval steps: a team lead of this team; a legal reviewer or
    // leader of its department or of the whole bureau.
    let holds = |role: Role| {
        caller.grants.iter().any(|g| {
            g.role == role
                && match g.scope {
                    Scope::All => role != Role::TeamLead,
                    Scope::Department(d) => Some(d) == dept,
                    Scope::Team(t) => role == Role::TeamLead && t == k.team_id,
                    _ => false,
                }
        })
    };
    let caller_facts = CallerFacts {
        user_id: caller.user_id,
        login: caller.login.clone(),
        works: works(c, caller, org, k).await?,
        heads: heads(caller, org, k),
        leads_team: caller.acts_for_team(&[Role::TeamLead], k.team_id, org),
        holds_step_role: [holds(Role::TeamLead), holds(Role::LegalReviewer), holds(Role::Leader)],
        certified: caller.certified_for(&k.domain, &today),
    };
    Ok(Facts {
        now: now_ms(),
        today,
        caller: caller_facts,
        officers: store::officers(c, k.id, &k.domain).await?,
        steps: store::steps(c, k.id).await?,
        pauses: store::pauses(c, k.id).await?,
        measures_in_force: store::measures(c, k.id).await?.iter().filter(|m| m.released_at.is_none()).count(),
        settings: &state.cases,
        calendar: &state.intake.calendar,
    })
}

/// Runs an action on a case: the procedure's table decides whether it may be taken now, the
/// action's body does its work, and everything it leaves is written in one transaction. The case
/// as it now is.
pub async fn act(state: &AppState, caller: &Principal, actor: &Actor, id: i64, action: Action) -> Result<Value> {
    let (mut k, org) = visible(state, caller, id).await?;
    // Loaded before a connection is held: a first load reads the component from the database.
    let pinned = load_pinned(state, &k).await?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let callable = callable(&mut c, &k).await?;
    let f = facts(state, &mut c, caller, &org, &k).await?;
    let row = procedure::row_of(action.name());
    procedure::check(row, &k, &f)?;
    let mut cx = Cx { state, c: &mut c, f: &f, caller, pinned: &pinned, callable };
    let fx = super::actions::run(&mut cx, &mut k, action).await?;
    if let Next::To(stage) = row.next {
        k.stage = stage.into();
    }
    let approval = fx.approval.clone();
    write(state, &mut c, (caller, actor), row, &f, &pinned, k, fx).await?;
    if let Some((step_id, outcome, _)) = &approval
        && let Some(step) = f.steps.iter().find(|x| x.id == *step_id)
        && let Some(asked) = step.requested_at
    {
        state.metrics.observe(
            "casegrid_case_approval_step_seconds",
            &[("role", step.role.as_str()), ("outcome", outcome)],
            (f.now - asked).max(0) as f64 / 1000.0,
        );
    }
    drop(c);
    view(state, caller, id).await
}

/// The number kind of a document that has one: 综执罚告〔2026〕3号.
fn number_kind(document: &str) -> Option<&'static str> {
    match document {
        "notice" => Some("notice"),
        "hearing-notice" => Some("hearing"),
        "decision" => Some("decision"),
        "referral" => Some("referral"),
        "demand" => Some("demand"),
        _ => None,
    }
}

/// One transaction: the case, what hangs on it, its numbers and documents, its record entry and its
/// messages.
#[allow(clippy::too_many_arguments)]
async fn write(
    state: &AppState,
    c: &mut Conn,
    (caller, actor): (&Principal, &Actor),
    row: &procedure::Row,
    f: &Facts<'_>,
    pinned: &Arc<Plugin>,
    mut k: CaseRow,
    fx: Effects,
) -> Result<()> {
    let (s, now) = (&state.cases, f.now);
    let documents: Vec<&str> = row.makes.iter().chain(&fx.documents).copied().collect();
    let mut tx = state.db.write_on(c).await?;
    super::audit::unchanged(&state.record, &mut tx, k.id).await?;
    if let Some(fine) = fx.recheck_in_tx {
        // One decision at a time: two cases of one party cannot both pass the gate at once.
        state.db.serialise(&mut tx, crate::store::Lock::Decisions).await?;
        one_act_one_fine(&mut tx, caller, &k, fine).await?;
    }
    for kind in documents.iter().filter_map(|d| number_kind(d)) {
        let year = year_of(now);
        let n = store::next_number(&mut tx, kind, year).await?;
        give_number(&mut k, kind, number_for(s, kind, year, n));
    }
    write_effects(&mut tx, caller, actor, &k, f, &fx).await?;
    let pauses_now = store::pauses(&mut tx, k.id).await?;
    let (due, what) = super::clock::stage_deadline(f.calendar, s, &k, store::paused_ms(&pauses_now, None, now)).unzip();
    if due != k.due_at {
        k.reminded_for = None;
        k.escalated_for = None;
    }
    (k.due_at, k.due_what) = (due, what.map(str::to_string));
    if !store::save(&mut tx, &k).await? {
        return Err(changed_meanwhile());
    }
    let officers_now = store::officers(&mut tx, k.id, &k.domain).await?;
    for kind in &documents {
        let (number, title, html) = super::documents::render(state, &k, &officers_now, kind, now, Some(pinned))?;
        store::add_document(&mut tx, k.id, kind, &number, &title, &html, &actor.label).await?;
    }
    let mut record = fx.record;
    record["stage"] = json!(k.stage);
    super::audit::append(&state.record, &mut tx, k.id, actor, row.action, &record).await?;
    if let Some(event) = fx.event.or(row.event) {
        let body = json!({"case": k.number, "domain": k.domain, "stage": k.stage, "team_id": k.team_id});
        crate::notify::enqueue(&mut tx, &state.intake.notify, &format!("case.{event}"), &body, &Default::default())
            .await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// What hangs on the case: officers, assessments, the inspection record, the clock's stops, the
/// approval steps.
async fn write_effects(
    tx: &mut Conn,
    caller: &Principal,
    actor: &Actor,
    k: &CaseRow,
    f: &Facts<'_>,
    fx: &Effects,
) -> Result<()> {
    let now = f.now;
    for u in &fx.officers {
        store::add_officer(tx, k.id, *u).await?;
    }
    for (purpose, item, facts, a) in &fx.assessments {
        store::add_assessment(tx, k.id, purpose, &k.domain, item, facts, a, &actor.label).await?;
    }
    if let Some(form) = &fx.inspection {
        let e = NewEvidence {
            kind: "inspection",
            description: "现场检查（勘验）笔录",
            file: None,
            form: Some(form.clone()),
            by: Some(caller.user_id),
        };
        store::add_evidence(tx, k.id, &e).await?;
    }
    match &fx.pause {
        Some(Some(reason)) => store::start_pause(tx, k.id, None, reason, now).await?,
        Some(None) => {
            for p in f.pauses.iter().filter(|p| p.measure_id.is_none() && p.ended_at.is_none()) {
                store::end_pause(tx, p.id, now).await?;
            }
        }
        None => {}
    }
    if let Some((step, outcome, comment)) = &fx.approval {
        store::decide_step(tx, *step, caller.user_id, outcome, comment, now).await?;
        if *outcome == "approved"
            && let Some(next) = f
                .steps
                .iter()
                .filter(|x| x.round == k.progress.approval_round && x.decided_at.is_none() && x.id != *step)
                .min_by_key(|x| x.step)
        {
            store::request_step(tx, next.id, now).await?;
        }
    }
    if let Some(chain) = &fx.new_round {
        store::add_steps(tx, k.id, k.progress.approval_round, chain, now).await?;
    }
    Ok(())
}

/// An assessment the lighter-law rule chose but the outcome did not hold: cannot happen, since
/// `applicable` only returns a side that was assessed; kept total.
pub(crate) fn unreachable_assessment(item: &str) -> crate::plugins::bindings::Assessment {
    crate::plugins::bindings::Assessment {
        item: item.into(),
        tier: String::new(),
        reasons: vec![],
        penalties: vec![],
        fine_range: None,
        recommended_fine: None,
        orders: vec![],
        basis: vec![],
    }
}

/// Cases of the same party whose act overlaps in time, as far as the caller's scope goes: a case
/// the caller may not see is only said to exist, in another team, with no number, domain or stage.
async fn same_party_overlapping(c: &mut Conn, caller: &Principal, org: &OrgIndex, k: &CaseRow) -> Result<Vec<Value>> {
    let (from, to) = (Day::parse(&k.act_date).unwrap_or(Day(0)), k.act_end());
    let mut out = Vec::new();
    for o in store::same_party(c, &k.party_key, k.id).await? {
        if Day::parse(&o.act_date).unwrap_or(Day(0)) > to || from > o.act_end() {
            continue;
        }
        out.push(if may_see(c, caller, org, &o).await? {
            json!({"visible": true, "id": o.id, "number": o.number, "domain": o.domain, "stage": o.stage,
                   "fined": o.progress.decision.as_ref().and_then(|d| d.fine_fen).is_some()})
        } else {
            json!({"visible": false, "note": "a case exists in another team", "note_zh": "该当事人在其他执法队另有案件"})
        });
    }
    Ok(out)
}

/// The case as its people see it: the row, the clock, officers, assessments, approvals, measures,
/// documents, evidence and the record.
pub async fn view(state: &AppState, caller: &Principal, id: i64) -> Result<Value> {
    let (k, org) = visible(state, caller, id).await?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    // What the caller may do next, from the procedure's own table: the pages draw these buttons.
    let actions = procedure::allowed_actions(&k, &facts(state, &mut c, caller, &org, &k).await?);
    let now = now_ms();
    let cal = &state.intake.calendar;
    let pauses = store::pauses(&mut c, k.id).await?;
    let paused = store::paused_ms(&pauses, None, now);
    let clock = k.due_at.map(|due| {
        let (days, working) = super::clock::days_left(cal, now, due);
        json!({"due_at": rfc3339(due), "for": k.due_what, "days_left": days, "working_days_left": working, "overdue": now > due,
               "paused": pauses.iter().any(|p| p.measure_id.is_none() && p.ended_at.is_none()), "paused_days": paused / 86_400_000})
    });
    let limitation = super::clock::limitation_ends(k.act_end(), k.safety_harmed);
    let overlapping = same_party_overlapping(&mut c, caller, &org, &k).await?;
    let measures: Vec<Value> = store::measures(&mut c, k.id)
        .await?
        .iter()
        .map(|m| {
            let (days, _) = super::clock::days_left(cal, now, m.due_at);
            let mut v = serde_json::to_value(m).unwrap_or_default();
            v["due_at"] = json!(rfc3339(m.due_at));
            v["days_left"] = json!(if m.released_at.is_some() { Value::Null } else { json!(days) });
            v
        })
        .collect();
    let payment_due = match (&k.progress.decision, &k.progress.service) {
        (Some(d), Some(sv)) if d.fine_fen.is_some() => {
            let by = super::clock::end_of_limit(cal, sv.served_at, state.cases.pay_days);
            let surcharge = super::clock::surcharge(&state.cases, d.fine_fen.unwrap_or(0), by, now);
            Some(
                json!({"pay_by": rfc3339(by), "fine_fen": d.fine_fen, "surcharge_fen": surcharge, "total_fen": d.fine_fen.unwrap_or(0) + surcharge}),
            )
        }
        _ => None,
    };
    Ok(json!({
        "case": k,
        "stage_zh": stage::zh(&k.stage),
        "actions": actions,
        "clock": clock,
        "limitation": {"ends": limitation.to_string(), "years": if k.safety_harmed { 5 } else { 2 },
                       "discovered": Day::of(k.discovered_at).to_string(), "expired": Day::of(k.discovered_at) > limitation},
        "same_party_overlapping": overlapping,
        "payment": payment_due,
        "officers": store::officers(&mut c, k.id, &k.domain).await?,
        "assessments": store::assessments(&mut c, k.id).await?,
        "approvals": store::steps(&mut c, k.id).await?,
        "measures": measures,
        "pauses": pauses,
        "documents": store::documents(&mut c, k.id).await?,
        "evidence": store::evidence(&mut c, k.id).await?,
        "record": super::audit::of_case(&mut c, k.id).await?,
    }))
}
