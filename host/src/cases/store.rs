//! The SQL of cases and of everything hung on them: officers, assessments, approval steps,
//! evidence, documents, coercive measures, clock stops, numbers.

use super::{Assessed, CaseRow};
use crate::auth::store::Conn;
use crate::store::columns::{Flag, JsonText};
use crate::store::{Result, StoreError, now_ms};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn parse<T: serde::de::DeserializeOwned>(s: Option<String>) -> Option<T> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

/// The next number of a kind of document in a year: 1, 2, 3…
pub async fn next_number(c: &mut Conn, kind: &str, year: i64) -> Result<i64> {
    let n: i64 = sqlx::query(
        "INSERT INTO doc_counters (kind, year, n) VALUES ($1, $2, 1) \
         ON CONFLICT (kind, year) DO UPDATE SET n = doc_counters.n + 1 RETURNING n",
    )
    .bind(kind)
    .bind(year)
    .fetch_one(&mut *c)
    .await?
    .get(0);
    Ok(n)
}

const COLUMNS: &str = "id, number, domain, plugin_version, pinned_reason, procedure, stage, source, report_id, referral, \
    operation_id, team_id, title, place, summary, party, party_key, act_date, act_end_date, safety_harmed, discovered_at, \
    distinct_act, item_code, facts, proposal, legal_review, progress, opened_at, opened_by, due_at, due_what, reminded_for, \
    escalated_for, closed_at, version, updated_at";

/// A case from its `COLUMNS`, by position. Not derived: the type belongs to the workflow, and its
/// JSON columns read into typed values each with its own fallback (an unreadable party is an
/// unnamed person, unreadable progress is none yet).
fn row(r: &crate::store::Row) -> CaseRow {
    CaseRow {
        id: r.get(0),
        number: r.get(1),
        domain: r.get(2),
        plugin_version: r.get(3),
        pinned_reason: r.get(4),
        procedure: r.get(5),
        stage: r.get(6),
        source: r.get(7),
        report_id: r.get(8),
        referral: parse(r.get(9)),
        operation_id: r.get(10),
        team_id: r.get(11),
        title: r.get(12),
        place: r.get(13),
        summary: r.get(14),
        party: parse(Some(r.get(15))).unwrap_or(super::Party {
            kind: "person".into(),
            name: String::new(),
            id_number: None,
            address: None,
            phone: None,
            representative: None,
        }),
        party_key: r.get(16),
        act_date: r.get(17),
        act_end_date: r.get(18),
        safety_harmed: r.get::<i64, _>(19) != 0,
        discovered_at: r.get(20),
        distinct_act: r.get(21),
        item_code: r.get(22),
        facts: parse(r.get(23)),
        proposal: parse(r.get(24)),
        legal_review: r.get(25),
        progress: parse(Some(r.get(26))).unwrap_or_default(),
        opened_at: r.get(27),
        opened_by: r.get(28),
        due_at: r.get(29),
        due_what: r.get(30),
        reminded_for: r.get(31),
        escalated_for: r.get(32),
        closed_at: r.get(33),
        version: r.get(34),
        updated_at: r.get(35),
    }
}

/// Gives a new case its number in the register, `{prefix}立〔{year}〕{n}号` (the year of `now` in
/// Beijing time, `n` counting from 1 each year), and writes it; `k.id` and `k.number` are set.
pub async fn insert_numbered(c: &mut Conn, k: &mut CaseRow, prefix: &str, now: i64) -> Result<()> {
    let year = super::workflow::year_of(now);
    let n = next_number(c, "case", year).await?;
    k.number = format!("{prefix}立〔{year}〕{n}号");
    k.id = insert(c, k).await?;
    Ok(())
}

pub async fn insert(c: &mut Conn, k: &CaseRow) -> Result<i64> {
    let id: i64 = sqlx::query(
        "INSERT INTO cases (number, domain, plugin_version, pinned_reason, procedure, stage, source, report_id, referral, \
         operation_id, team_id, title, place, summary, party, party_key, act_date, act_end_date, safety_harmed, discovered_at, \
         legal_review, progress, opened_at, opened_by, due_at, due_what, version, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, \
         $25, $26, 0, $27) RETURNING id",
    )
    .bind(&k.number)
    .bind(&k.domain)
    .bind(&k.plugin_version)
    .bind(&k.pinned_reason)
    .bind(&k.procedure)
    .bind(&k.stage)
    .bind(&k.source)
    .bind(k.report_id)
    .bind(k.referral.as_ref().map(json))
    .bind(k.operation_id)
    .bind(k.team_id)
    .bind(&k.title)
    .bind(&k.place)
    .bind(&k.summary)
    .bind(json(&k.party))
    .bind(&k.party_key)
    .bind(&k.act_date)
    .bind(&k.act_end_date)
    .bind(i64::from(k.safety_harmed))
    .bind(k.discovered_at)
    .bind(&k.legal_review)
    .bind(json(&k.progress))
    .bind(k.opened_at)
    .bind(k.opened_by)
    .bind(k.due_at)
    .bind(&k.due_what)
    .bind(k.updated_at)
    .fetch_one(&mut *c)
    .await
    .map_err(|e| StoreError::unique(e, format!("case {}", k.number)))?
    .get(0);
    Ok(id)
}

pub async fn load(c: &mut Conn, id: i64) -> Result<Option<CaseRow>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM cases WHERE id = $1")))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    Ok(r.as_ref().map(row))
}

pub async fn by_number(c: &mut Conn, number: &str) -> Result<Option<CaseRow>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM cases WHERE number = $1")))
        .bind(number)
        .fetch_optional(&mut *c)
        .await?;
    Ok(r.as_ref().map(row))
}

/// Writes a changed case if nobody changed it since it was read (`k.version`); false when someone
/// did, and nothing is written.
pub async fn save(c: &mut Conn, k: &CaseRow) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE cases SET stage = $1, team_id = $2, title = $3, place = $4, summary = $5, party = $6, party_key = $7, \
         act_date = $8, act_end_date = $9, safety_harmed = $10, distinct_act = $11, item_code = $12, facts = $13, proposal = $14, \
         legal_review = $15, progress = $16, due_at = $17, due_what = $18, reminded_for = $19, escalated_for = $20, \
         closed_at = $21, procedure = $22, version = version + 1, updated_at = $23 WHERE id = $24 AND version = $25",
    )
    .bind(&k.stage)
    .bind(k.team_id)
    .bind(&k.title)
    .bind(&k.place)
    .bind(&k.summary)
    .bind(json(&k.party))
    .bind(&k.party_key)
    .bind(&k.act_date)
    .bind(&k.act_end_date)
    .bind(i64::from(k.safety_harmed))
    .bind(&k.distinct_act)
    .bind(&k.item_code)
    .bind(k.facts.as_ref().map(json))
    .bind(k.proposal.as_ref().map(json))
    .bind(&k.legal_review)
    .bind(json(&k.progress))
    .bind(k.due_at)
    .bind(&k.due_what)
    .bind(k.reminded_for)
    .bind(k.escalated_for)
    .bind(k.closed_at)
    .bind(&k.procedure)
    .bind(now_ms())
    .bind(k.id)
    .bind(k.version)
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// What a list of cases is filtered by.
#[derive(Debug, Default)]
pub struct Filter {
    /// None: every team.
    pub teams: Option<Vec<i64>>,
    /// Cases these officers work on, whatever their team.
    pub officer: Option<i64>,
    pub stage: Option<String>,
    pub domain: Option<String>,
    pub operation: Option<i64>,
    pub overdue_at: Option<i64>,
    pub limit: i64,
}

pub async fn list(c: &mut Conn, f: &Filter) -> Result<Vec<CaseRow>> {
    let teams = f.teams.as_ref().map(|t| t.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","));
    // Team ids are numbers we formatted ourselves: safe to place in the text.
    let scope = match (&teams, f.officer) {
        (None, _) => "1 = 1".to_string(),
        (Some(t), Some(o)) if !t.is_empty() => {
            format!("(team_id IN ({t}) OR id IN (SELECT case_id FROM case_officers WHERE user_id = {o}))")
        }
        (Some(_), Some(o)) => format!("id IN (SELECT case_id FROM case_officers WHERE user_id = {o})"),
        (Some(t), None) if !t.is_empty() => format!("team_id IN ({t})"),
        (Some(_), None) => "1 = 0".to_string(),
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM cases WHERE {scope} AND ($1 IS NULL OR stage = $1) AND ($2 IS NULL OR domain = $2) \
         AND ($3 IS NULL OR operation_id = $3) AND ($4 IS NULL OR (due_at IS NOT NULL AND due_at < $4)) ORDER BY id DESC LIMIT $5"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&f.stage)
        .bind(&f.domain)
        .bind(f.operation)
        .bind(f.overdue_at)
        .bind(f.limit)
        .fetch_all(&mut *c)
        .await?;
    Ok(rows.iter().map(row).collect())
}

/// Other cases of the same party, for one act, one fine (APL art. 29).
pub async fn same_party(c: &mut Conn, party_key: &str, except: i64) -> Result<Vec<CaseRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM cases WHERE party_key = $1 AND id <> $2 ORDER BY id"
    )))
    .bind(party_key)
    .bind(except)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.iter().map(row).collect())
}

/// Cases to remind (deadline before `before`, not yet reminded of it) or to escalate (deadline
/// passed at `now`, not yet escalated), leaving out those whose clock stands still.
pub async fn due(c: &mut Conn, now: i64, before: i64) -> Result<Vec<CaseRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM cases WHERE due_at IS NOT NULL \
         AND ((due_at < $1 AND (escalated_for IS NULL OR escalated_for <> due_at)) \
           OR (due_at >= $1 AND due_at < $2 AND (reminded_for IS NULL OR reminded_for <> due_at))) \
         AND id NOT IN (SELECT case_id FROM case_pauses WHERE measure_id IS NULL AND ended_at IS NULL) ORDER BY id"
    )))
    .bind(now)
    .bind(before)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.iter().map(row).collect())
}

/// An officer on a case, with whether they hold a valid certificate for its domain today. Read
/// from `users` joined with `certifications`, whose columns keep their own names.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Officer {
    #[sqlx(rename = "id")]
    pub user_id: i64,
    pub login: String,
    pub display_name: String,
    #[sqlx(rename = "number")]
    pub certificate: Option<String>,
    #[sqlx(rename = "valid_until")]
    pub certified_until: Option<String>,
}

pub async fn officers(c: &mut Conn, case: i64, domain: &str) -> Result<Vec<Officer>> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.login, u.display_name, cert.number, cert.valid_until FROM case_officers o JOIN users u ON u.id = o.user_id \
         LEFT JOIN certifications cert ON cert.user_id = u.id AND cert.domain = $2 WHERE o.case_id = $1 ORDER BY o.added_at, u.id",
    )
    .bind(case)
    .bind(domain)
    .fetch_all(&mut *c)
    .await?)
}

pub async fn add_officer(c: &mut Conn, case: i64, user: i64) -> Result<bool> {
    let n = sqlx::query(
        "INSERT INTO case_officers (case_id, user_id, added_at) VALUES ($1, $2, $3) ON CONFLICT (case_id, user_id) DO NOTHING",
    )
    .bind(case)
    .bind(user)
    .bind(now_ms())
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn is_officer_of(c: &mut Conn, case: i64, user: i64) -> Result<bool> {
    Ok(sqlx::query("SELECT 1 FROM case_officers WHERE case_id = $1 AND user_id = $2")
        .bind(case)
        .bind(user)
        .fetch_optional(&mut *c)
        .await?
        .is_some())
}

/// A stored assessment.
#[derive(Debug, Clone, Serialize)]
pub struct AssessmentRow {
    pub id: i64,
    pub purpose: String,
    pub domain: String,
    pub item: String,
    pub facts: Value,
    pub assessed: Assessed,
    pub at: i64,
    pub actor: String,
}

#[allow(clippy::too_many_arguments)] // one row's columns, each from the call that made it
pub async fn add_assessment(
    c: &mut Conn,
    case: i64,
    purpose: &str,
    domain: &str,
    item: &str,
    facts: &[crate::plugins::bindings::FieldValue],
    a: &Assessed,
    actor: &str,
) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO case_assessments (case_id, purpose, domain, version, sha256, item, facts, reference_at, result, at, actor) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(case)
    .bind(purpose)
    .bind(domain)
    .bind(&a.version)
    .bind(&a.sha256)
    .bind(item)
    .bind(json(&facts))
    .bind(a.reference_at)
    .bind(json(&a.outcome))
    .bind(now_ms())
    .bind(actor)
    .fetch_one(&mut *c)
    .await?
    .get(0))
}

pub async fn assessments(c: &mut Conn, case: i64) -> Result<Vec<AssessmentRow>> {
    let rows = sqlx::query(
        "SELECT id, purpose, domain, version, sha256, item, facts, reference_at, result, at, actor FROM case_assessments \
         WHERE case_id = $1 ORDER BY id",
    )
    .bind(case)
    .fetch_all(&mut *c)
    .await?;
    // Not derived: an assessment whose stored facts or result no longer read as today's types is
    // left out of the list rather than failing it, and its columns split into the nested `Assessed`.
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(AssessmentRow {
                id: r.get(0),
                purpose: r.get(1),
                domain: r.get(2),
                item: r.get(5),
                facts: serde_json::from_str(&r.get::<String, _>(6)).ok()?,
                assessed: Assessed {
                    version: r.get(3),
                    sha256: r.get(4),
                    reference_at: r.get(7),
                    outcome: serde_json::from_str(&r.get::<String, _>(8)).ok()?,
                },
                at: r.get(9),
                actor: r.get(10),
            })
        })
        .collect())
}

/// One step of a decision's approval chain.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Step {
    pub id: i64,
    pub round: i64,
    pub step: i64,
    pub role: String,
    pub requested_at: Option<i64>,
    pub decided_at: Option<i64>,
    /// The login of who decided, from the joined `users`.
    #[sqlx(rename = "login")]
    pub decided_by: Option<String>,
    pub outcome: Option<String>,
    pub comment: Option<String>,
}

pub async fn add_steps(c: &mut Conn, case: i64, round: i64, chain: &[String], now: i64) -> Result<()> {
    for (i, role) in chain.iter().enumerate() {
        sqlx::query(
            "INSERT INTO case_approvals (case_id, round, step, role, requested_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(case)
        .bind(round)
        .bind(i as i64)
        .bind(role)
        // Only the first step is asked now; each later one when the one before approves.
        .bind(if i == 0 { Some(now) } else { None })
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

pub async fn steps(c: &mut Conn, case: i64) -> Result<Vec<Step>> {
    Ok(sqlx::query_as(
        "SELECT a.id, a.round, a.step, a.role, a.requested_at, a.decided_at, u.login, a.outcome, a.comment FROM case_approvals a \
         LEFT JOIN users u ON u.id = a.decided_by WHERE a.case_id = $1 ORDER BY a.round, a.step",
    )
    .bind(case)
    .fetch_all(&mut *c)
    .await?)
}

pub async fn decide_step(c: &mut Conn, step: i64, by: i64, outcome: &str, comment: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE case_approvals SET decided_at = $1, decided_by = $2, outcome = $3, comment = $4 WHERE id = $5")
        .bind(now)
        .bind(by)
        .bind(outcome)
        .bind(comment)
        .bind(step)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn request_step(c: &mut Conn, step: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE case_approvals SET requested_at = $1 WHERE id = $2")
        .bind(now)
        .bind(step)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// A piece of evidence (APL art. 46).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Evidence {
    pub id: i64,
    pub kind: String,
    pub description: String,
    pub object_key: Option<String>,
    pub file_name: Option<String>,
    pub media_type: Option<String>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    #[sqlx(try_from = "JsonText")]
    pub form: Option<Value>,
    /// The login of who recorded it, from the joined `users`.
    #[sqlx(rename = "login")]
    pub recorded_by: Option<String>,
    pub recorded_at: i64,
}

pub struct NewEvidence<'a> {
    pub kind: &'a str,
    pub description: &'a str,
    pub file: Option<(&'a str, &'a str, &'a str, i64, &'a str)>,
    pub form: Option<Value>,
    pub by: Option<i64>,
}

pub async fn add_evidence(c: &mut Conn, case: i64, e: &NewEvidence<'_>) -> Result<i64> {
    let (key, name, media, size, sha) = match e.file {
        Some((k, n, m, s, h)) => (Some(k), Some(n), Some(m), Some(s), Some(h)),
        None => (None, None, None, None, None),
    };
    Ok(sqlx::query(
        "INSERT INTO case_evidence (case_id, kind, description, object_key, file_name, media_type, size_bytes, sha256, form, \
         recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(case)
    .bind(e.kind)
    .bind(e.description)
    .bind(key)
    .bind(name)
    .bind(media)
    .bind(size)
    .bind(sha)
    .bind(e.form.as_ref().map(json))
    .bind(e.by)
    .bind(now_ms())
    .fetch_one(&mut *c)
    .await?
    .get(0))
}

pub async fn evidence(c: &mut Conn, case: i64) -> Result<Vec<Evidence>> {
    Ok(sqlx::query_as(
        "SELECT e.id, e.kind, e.description, e.object_key, e.file_name, e.media_type, e.size_bytes, e.sha256, e.form, u.login, \
         e.recorded_at FROM case_evidence e LEFT JOIN users u ON u.id = e.recorded_by WHERE e.case_id = $1 ORDER BY e.id",
    )
    .bind(case)
    .fetch_all(&mut *c)
    .await?)
}

/// A generated document.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Document {
    pub id: i64,
    pub kind: String,
    pub number: String,
    pub title: String,
    #[serde(skip)]
    pub html: String,
    pub sha256: String,
    pub created_at: i64,
    pub created_by: String,
}

pub async fn add_document(
    c: &mut Conn,
    case: i64,
    kind: &str,
    number: &str,
    title: &str,
    html: &str,
    by: &str,
) -> Result<i64> {
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(html.as_bytes()));
    Ok(sqlx::query(
        "INSERT INTO case_documents (case_id, kind, number, title, html, sha256, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(case)
    .bind(kind)
    .bind(number)
    .bind(title)
    .bind(html)
    .bind(sha)
    .bind(now_ms())
    .bind(by)
    .fetch_one(&mut *c)
    .await?
    .get(0))
}

pub async fn documents(c: &mut Conn, case: i64) -> Result<Vec<Document>> {
    Ok(sqlx::query_as(
        "SELECT id, kind, number, title, html, sha256, created_at, created_by FROM case_documents WHERE case_id = $1 ORDER BY id",
    )
    .bind(case)
    .fetch_all(&mut *c)
    .await?)
}

/// A seal or seizure (ACL art. 24–28).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Measure {
    pub id: i64,
    pub case_id: i64,
    pub number: String,
    pub kind: String,
    pub item_code: String,
    pub place: String,
    #[sqlx(try_from = "JsonText")]
    pub inventory: Value,
    pub reason: String,
    pub decided_at: i64,
    pub limit_days: i64,
    pub extended_at: Option<i64>,
    pub extension_reason: Option<String>,
    pub released_at: Option<i64>,
    pub release_reason: Option<String>,
    #[sqlx(try_from = "Flag")]
    pub emergency: bool,
    pub approved_by: Option<i64>,
    pub approved_at: Option<i64>,
    pub due_at: i64,
    pub reminded_for: Option<i64>,
    pub escalated_for: Option<i64>,
}

const MEASURE_COLUMNS: &str = "id, case_id, number, kind, item_code, place, inventory, reason, decided_at, limit_days, \
    extended_at, extension_reason, released_at, release_reason, emergency, approved_by, approved_at, due_at, reminded_for, \
    escalated_for";

pub async fn insert_measure(c: &mut Conn, m: &Measure, by: Option<i64>) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO coercive_measures (case_id, number, kind, item_code, place, inventory, reason, decided_at, limit_days, due_at, \
         created_by, emergency, approved_by, approved_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
    )
    .bind(m.case_id)
    .bind(&m.number)
    .bind(&m.kind)
    .bind(&m.item_code)
    .bind(&m.place)
    .bind(json(&m.inventory))
    .bind(&m.reason)
    .bind(m.decided_at)
    .bind(m.limit_days)
    .bind(m.due_at)
    .bind(by)
    .bind(i64::from(m.emergency))
    .bind(m.approved_by)
    .bind(m.approved_at)
    .fetch_one(&mut *c)
    .await?
    .get(0))
}

pub async fn measures(c: &mut Conn, case: i64) -> Result<Vec<Measure>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MEASURE_COLUMNS} FROM coercive_measures WHERE case_id = $1 ORDER BY id"
    )))
    .bind(case)
    .fetch_all(&mut *c)
    .await?)
}

/// Measures to remind of or escalate (as [`due`] does for cases); an approved measure whose clock
/// stands still for testing is left out.
pub async fn measures_due(c: &mut Conn, now: i64, before: i64) -> Result<Vec<Measure>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MEASURE_COLUMNS} FROM coercive_measures WHERE released_at IS NULL \
         AND ((due_at < $1 AND (escalated_for IS NULL OR escalated_for <> due_at)) \
           OR (due_at >= $1 AND due_at < $2 AND (reminded_for IS NULL OR reminded_for <> due_at))) \
         AND (approved_at IS NULL OR id NOT IN (SELECT measure_id FROM case_pauses WHERE measure_id IS NOT NULL AND ended_at IS NULL)) \
         ORDER BY id"
    )))
    .bind(now)
    .bind(before)
    .fetch_all(&mut *c)
    .await?)
}

pub async fn measure_by_id(c: &mut Conn, case: i64, id: i64) -> Result<Option<Measure>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MEASURE_COLUMNS} FROM coercive_measures WHERE case_id = $1 AND id = $2"
    )))
    .bind(case)
    .bind(id)
    .fetch_optional(&mut *c)
    .await?)
}

/// Writes a changed measure if it is still as `before` was read (in force, its limit and approval
/// as then); false when someone changed it meanwhile, and nothing is written.
pub async fn save_measure(c: &mut Conn, m: &Measure, before: &Measure) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE coercive_measures SET limit_days = $1, extended_at = $2, extension_reason = $3, released_at = $4, \
         release_reason = $5, due_at = $6, reminded_for = $7, escalated_for = $8, approved_by = $9, approved_at = $10 \
         WHERE id = $11 AND released_at IS NULL AND limit_days = $12 AND COALESCE(approved_at, 0) = $13",
    )
    .bind(m.limit_days)
    .bind(m.extended_at)
    .bind(&m.extension_reason)
    .bind(m.released_at)
    .bind(&m.release_reason)
    .bind(m.due_at)
    .bind(m.reminded_for)
    .bind(m.escalated_for)
    .bind(m.approved_by)
    .bind(m.approved_at)
    .bind(m.id)
    .bind(before.limit_days)
    .bind(before.approved_at.unwrap_or(0))
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A stretch of time the law does not count.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Pause {
    pub id: i64,
    pub measure_id: Option<i64>,
    pub reason: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}

pub async fn pauses(c: &mut Conn, case: i64) -> Result<Vec<Pause>> {
    Ok(sqlx::query_as(
        "SELECT id, measure_id, reason, started_at, ended_at FROM case_pauses WHERE case_id = $1 ORDER BY id",
    )
    .bind(case)
    .fetch_all(&mut *c)
    .await?)
}

pub async fn start_pause(c: &mut Conn, case: i64, measure: Option<i64>, reason: &str, at: i64) -> Result<()> {
    sqlx::query("INSERT INTO case_pauses (case_id, measure_id, reason, started_at) VALUES ($1, $2, $3, $4)")
        .bind(case)
        .bind(measure)
        .bind(reason)
        .bind(at)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn end_pause(c: &mut Conn, pause: i64, at: i64) -> Result<()> {
    sqlx::query("UPDATE case_pauses SET ended_at = $1 WHERE id = $2").bind(at).bind(pause).execute(&mut *c).await?;
    Ok(())
}

/// How long the clock of the case (measure `None`) or of a measure stood still, up to `now` for a
/// pause still running. Overlapping pauses (testing during a hearing) count once.
pub fn paused_ms(pauses: &[Pause], measure: Option<i64>, now: i64) -> i64 {
    let mut spans: Vec<(i64, i64)> = pauses
        .iter()
        .filter(|p| p.measure_id == measure)
        .map(|p| (p.started_at, p.ended_at.unwrap_or(now).max(p.started_at)))
        .collect();
    spans.sort_unstable();
    let (mut total, mut reach) = (0, i64::MIN);
    for (start, end) in spans {
        let from = start.max(reach);
        if end > from {
            total += end - from;
        }
        reach = reach.max(end);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::{Pause, paused_ms};

    #[test]
    fn overlapping_pauses_count_once_and_a_running_one_until_now() {
        let p =
            |id, start, end| Pause { id, measure_id: None, reason: "testing".into(), started_at: start, ended_at: end };
        assert_eq!(paused_ms(&[p(1, 0, Some(10)), p(2, 5, Some(20))], None, 100), 20);
        assert_eq!(paused_ms(&[p(1, 0, Some(10)), p(2, 30, None)], None, 100), 80);
        assert_eq!(paused_ms(&[p(1, 0, Some(10)), p(2, 2, Some(3))], None, 100), 10);
    }
}
