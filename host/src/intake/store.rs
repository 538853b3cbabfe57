//! The SQL of reports, their timelines and attachments.

use crate::auth::store::{Actor, Conn};
use crate::store::{Result, now_ms};
use serde::Serialize;
use sqlx::Row;

#[derive(Clone, Debug, Serialize)]
pub struct ReportRow {
    pub id: i64,
    pub tracking_code: String,
    pub source: String,
    pub citizen_id: Option<i64>,
    pub domain: Option<String>,
    pub category: Option<String>,
    pub description: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: Option<String>,
    pub occurred_at: Option<i64>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub status: String,
    pub team_id: Option<i64>,
    pub cell_id: Option<i64>,
    pub ack_due_at: Option<i64>,
    pub handle_due_at: Option<i64>,
    pub acknowledged_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub result: Option<String>,
    pub duplicate_of: Option<i64>,
    pub rating: Option<i64>,
    pub rating_comment: Option<String>,
    pub reopened: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The domain report form's fields beyond the envelope, as JSON.
    pub attributes: Option<String>,
}

const COLUMNS: &str = "id, tracking_code, source, citizen_id, domain, category, description, lat, lon, address, occurred_at, \
    contact_name, contact_phone, contact_email, status, team_id, cell_id, ack_due_at, handle_due_at, acknowledged_at, closed_at, \
    result, duplicate_of, rating, rating_comment, reopened, created_at, updated_at, attributes";

fn row(r: &sqlx::any::AnyRow) -> ReportRow {
    ReportRow {
        id: r.get(0),
        tracking_code: r.get(1),
        source: r.get(2),
        citizen_id: r.get(3),
        domain: r.get(4),
        category: r.get(5),
        description: r.get(6),
        lat: r.get(7),
        lon: r.get(8),
        address: r.get(9),
        occurred_at: r.get(10),
        contact_name: r.get(11),
        contact_phone: r.get(12),
        contact_email: r.get(13),
        status: r.get(14),
        team_id: r.get(15),
        cell_id: r.get(16),
        ack_due_at: r.get(17),
        handle_due_at: r.get(18),
        acknowledged_at: r.get(19),
        closed_at: r.get(20),
        result: r.get(21),
        duplicate_of: r.get(22),
        rating: r.get(23),
        rating_comment: r.get(24),
        reopened: r.get(25),
        created_at: r.get(26),
        updated_at: r.get(27),
        attributes: r.get(28),
    }
}

pub async fn insert(c: &mut Conn, r: &ReportRow, open311_key: Option<i64>) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO reports (tracking_code, source, open311_key_id, citizen_id, domain, category, description, lat, lon, address, \
         occurred_at, contact_name, contact_phone, contact_email, status, team_id, cell_id, ack_due_at, handle_due_at, created_at, updated_at, \
         attributes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20, $21) RETURNING id",
    )
    .bind(&r.tracking_code)
    .bind(&r.source)
    .bind(open311_key)
    .bind(r.citizen_id)
    .bind(&r.domain)
    .bind(&r.category)
    .bind(&r.description)
    .bind(r.lat)
    .bind(r.lon)
    .bind(&r.address)
    .bind(r.occurred_at)
    .bind(&r.contact_name)
    .bind(&r.contact_phone)
    .bind(&r.contact_email)
    .bind(&r.status)
    .bind(r.team_id)
    .bind(r.cell_id)
    .bind(r.ack_due_at)
    .bind(r.handle_due_at)
    .bind(r.created_at)
    .bind(&r.attributes)
    .fetch_one(&mut *c)
    .await?
    .get(0))
}

pub async fn by_id(c: &mut Conn, id: i64) -> Result<Option<ReportRow>> {
    let sql = format!("SELECT {COLUMNS} FROM reports WHERE id = $1");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *c).await?.as_ref().map(row))
}

pub async fn by_code(c: &mut Conn, code: &str) -> Result<Option<ReportRow>> {
    let sql = format!("SELECT {COLUMNS} FROM reports WHERE tracking_code = $1");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(code).fetch_optional(&mut *c).await?.as_ref().map(row))
}

/// Reports for a list: of some teams (or all), optionally in one status, and/or of one citizen;
/// newest first.
pub async fn list(
    c: &mut Conn,
    teams: Option<&[i64]>,
    triage: bool,
    status: Option<&str>,
    citizen: Option<i64>,
    limit: i64,
) -> Result<Vec<ReportRow>> {
    let mut wh = vec!["($1 IS NULL OR status = $1)".to_string(), "($2 IS NULL OR citizen_id = $2)".to_string()];
    if let Some(teams) = teams {
        // Ids from the caller's own scope: numbers only.
        let ids: Vec<String> = teams.iter().map(i64::to_string).collect();
        let mut visible = Vec::new();
        if !ids.is_empty() {
            visible.push(format!("team_id IN ({})", ids.join(",")));
        }
        if triage {
            visible.push("team_id IS NULL".into());
        }
        if visible.is_empty() {
            return Ok(Vec::new());
        }
        wh.push(format!("({})", visible.join(" OR ")));
    }
    let sql = format!("SELECT {COLUMNS} FROM reports WHERE {} ORDER BY id DESC LIMIT $3", wh.join(" AND "));
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(status)
        .bind(citizen)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(row)
        .collect())
}

/// Open reports of the same domain and category in the box, since `since` (the caller keeps
/// those within the radius).
pub async fn nearby_open(
    c: &mut Conn,
    r: &ReportRow,
    bbox: (f64, f64, f64, f64),
    since: i64,
) -> Result<Vec<ReportRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM reports WHERE domain = $1 AND category = $2 AND created_at >= $3 AND id <> $4 \
         AND status IN ('triage', 'dispatched', 'accepted') AND lat BETWEEN $5 AND $6 AND lon BETWEEN $7 AND $8 ORDER BY id DESC LIMIT 50"
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&r.domain)
        .bind(&r.category)
        .bind(since)
        .bind(r.id)
        .bind(bbox.0)
        .bind(bbox.2)
        .bind(bbox.1)
        .bind(bbox.3)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(row)
        .collect())
}

/// Writes the changed state of a report (status, team, deadlines, closure, rating), if nobody
/// changed it since `r` was read: false when someone did (the caller answers 409, nothing is
/// lost). `restart_clock` clears the reminder and escalations, for a new deadline.
pub async fn update(c: &mut Conn, r: &ReportRow, restart_clock: bool) -> Result<bool> {
    let clock = if restart_clock { ", reminded_at = NULL, ack_escalated_at = NULL, escalated_at = NULL" } else { "" };
    let sql = format!(
        "UPDATE reports SET domain = $1, category = $2, status = $3, team_id = $4, ack_due_at = $5, handle_due_at = $6, \
         acknowledged_at = $7, closed_at = $8, result = $9, duplicate_of = $10, rating = $11, rating_comment = $12, reopened = $13, \
         updated_at = $14{clock} WHERE id = $15 AND updated_at = $16"
    );
    // Strictly later than what was read, so a change within the same millisecond is still seen.
    let now = now_ms().max(r.updated_at + 1);
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&r.domain)
        .bind(&r.category)
        .bind(&r.status)
        .bind(r.team_id)
        .bind(r.ack_due_at)
        .bind(r.handle_due_at)
        .bind(r.acknowledged_at)
        .bind(r.closed_at)
        .bind(&r.result)
        .bind(r.duplicate_of)
        .bind(r.rating)
        .bind(&r.rating_comment)
        .bind(r.reopened)
        .bind(now)
        .bind(r.id)
        .bind(r.updated_at)
        .execute(&mut *c)
        .await?
        .rows_affected()
        == 1)
}

#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub public: bool,
    pub note: Option<String>,
    pub detail: serde_json::Value,
}

/// A timeline entry to write.
pub struct NewEvent<'a> {
    pub kind: &'a str,
    pub actor: &'a Actor,
    pub public: bool,
    pub note: Option<&'a str>,
    pub detail: serde_json::Value,
}

/// Writes timeline entries in one statement (intake writes three per report).
pub async fn add_events(c: &mut Conn, report: i64, events: &[NewEvent<'_>]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..events.len())
        .map(|i| {
            let b = 2 + i * 7;
            format!("($1, ${}, ${}, ${}, ${}, ${}, ${}, ${})", b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6)
        })
        .collect();
    let sql = format!(
        "INSERT INTO report_events (report_id, at, kind, actor_id, actor, public, note, detail) VALUES {}",
        rows.join(", ")
    );
    let now = now_ms();
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(report);
    // Entries written together keep their order: the timeline sorts by id.
    for e in events {
        q = q
            .bind(now)
            .bind(e.kind)
            .bind(e.actor.id)
            .bind(&e.actor.label)
            .bind(i64::from(e.public))
            .bind(e.note)
            .bind(e.detail.to_string());
    }
    q.execute(&mut *c).await?;
    Ok(())
}

pub async fn add_event(
    c: &mut Conn,
    report: i64,
    kind: &str,
    actor: &Actor,
    public: bool,
    note: Option<&str>,
    detail: serde_json::Value,
) -> Result<()> {
    add_events(c, report, &[NewEvent { kind, actor, public, note, detail }]).await
}

pub async fn events(c: &mut Conn, report: i64, public_only: bool) -> Result<Vec<Event>> {
    let rows = sqlx::query("SELECT id, at, kind, actor, public, note, detail FROM report_events WHERE report_id = $1 AND (public = 1 OR $2 = 0) ORDER BY id")
        .bind(report)
        .bind(i64::from(public_only))
        .fetch_all(&mut *c)
        .await?;
    Ok(rows
        .iter()
        .map(|r| Event {
            id: r.get(0),
            at: r.get(1),
            kind: r.get(2),
            actor: r.get(3),
            public: r.get::<i64, _>(4) != 0,
            note: r.get(5),
            detail: serde_json::from_str(&r.get::<String, _>(6)).unwrap_or_default(),
        })
        .collect())
}

#[derive(Clone, Debug, Serialize)]
pub struct AttachmentRow {
    pub id: i64,
    pub object_key: String,
    pub file_name: String,
    pub media_type: String,
    pub size_bytes: i64,
    pub sha256: String,
}

/// Writes a report's attachment rows in one statement.
pub async fn add_attachments(c: &mut Conn, report: i64, files: &[AttachmentRow]) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..files.len())
        .map(|i| {
            let b = 3 + i * 5;
            format!("($1, ${}, ${}, ${}, ${}, ${}, $2)", b, b + 1, b + 2, b + 3, b + 4)
        })
        .collect();
    let sql = format!(
        "INSERT INTO attachments (report_id, object_key, file_name, media_type, size_bytes, sha256, created_at) VALUES {}",
        rows.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(report).bind(now_ms());
    for a in files {
        q = q.bind(&a.object_key).bind(&a.file_name).bind(&a.media_type).bind(a.size_bytes).bind(&a.sha256);
    }
    q.execute(&mut *c).await?;
    Ok(())
}

pub async fn attachments(c: &mut Conn, report: i64) -> Result<Vec<AttachmentRow>> {
    Ok(sqlx::query("SELECT id, object_key, file_name, media_type, size_bytes, sha256 FROM attachments WHERE report_id = $1 ORDER BY id")
        .bind(report)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| AttachmentRow { id: r.get(0), object_key: r.get(1), file_name: r.get(2), media_type: r.get(3), size_bytes: r.get(4), sha256: r.get(5) })
        .collect())
}

// ---- what Open311 reads ----

/// A report as Open311 reads it: the row, and when the case it became was closed.
pub struct Open311Row {
    pub report: ReportRow,
    pub case_closed_at: Option<i64>,
}

/// Which reports an Open311 read asks for.
pub enum Open311Pick<'a> {
    /// These public numbers (the caller caps how many).
    Ids(&'a [i64]),
    /// A page of a listing, newest first.
    Page {
        /// `created_at` within these bounds (inclusive).
        start: i64,
        end: i64,
        /// Only ids below this one: the keyset of the next page.
        before: Option<i64>,
        /// Open (`true`) or closed (`false`) in Open311's sense; `None` both.
        open: Option<bool>,
        /// Service codes (`domain.category`); empty: all.
        services: &'a [String],
        limit: i64,
    },
}

/// Who reads: `hidden` lists the domains (`labour`) and service codes (`housing.x`) not shown to
/// them, and a reader with any hidden sees no report without a service code either; `None` sees
/// every report.
pub struct Open311Reader<'a> {
    pub hidden: Option<&'a [String]>,
}

/// A report is open in Open311's sense while a team has it, and while the case it became is open.
/// (`status || ''`: an expression, so that no index on `status` is preferred to the key's order.)
const OPEN311_OPEN: &str = "((status || '') IN ('triage', 'dispatched', 'accepted') OR ((status || '') = 'case-opened' AND EXISTS \
    (SELECT 1 FROM cases WHERE cases.id = reports.case_id AND cases.closed_at IS NULL)))";

/// A bound value of an Open311 query.
pub enum Open311Arg<'a> {
    Int(i64),
    Text(&'a str),
}

/// The SQL of an Open311 read and its values. Pages walk the primary key backwards (`id < before
/// ORDER BY id DESC`): filters are expressions no index serves, so the plan stays in the
/// key's order and never sorts.
pub fn open311_sql<'a>(pick: &Open311Pick<'a>, reader: &Open311Reader<'a>) -> (String, Vec<Open311Arg<'a>>) {
    let mut args: Vec<Open311Arg<'a>> = Vec::new();
    let place = |a: Open311Arg<'a>, args: &mut Vec<Open311Arg<'a>>| {
        args.push(a);
        format!("${}", args.len())
    };
    let mut wh: Vec<String> = Vec::new();
    let code = "COALESCE(domain, '') || '.' || COALESCE(category, '')";
    let mut limit = None;
    match pick {
        Open311Pick::Ids(ids) => {
            let list: Vec<String> = ids.iter().map(|i| place(Open311Arg::Int(*i), &mut args)).collect();
            wh.push(if list.is_empty() { "1 = 0".into() } else { format!("id IN ({})", list.join(", ")) });
        }
        Open311Pick::Page { start, end, before, open, services, limit: n } => {
            wh.push(format!("created_at >= {}", place(Open311Arg::Int(*start), &mut args)));
            wh.push(format!("created_at <= {}", place(Open311Arg::Int(*end), &mut args)));
            if let Some(b) = before {
                wh.push(format!("id < {}", place(Open311Arg::Int(*b), &mut args)));
            }
            match open {
                Some(true) => wh.push(OPEN311_OPEN.into()),
                Some(false) => wh.push(format!("NOT {OPEN311_OPEN}")),
                None => {}
            }
            if !services.is_empty() {
                let list: Vec<String> = services.iter().map(|s| place(Open311Arg::Text(s), &mut args)).collect();
                wh.push(format!("{code} IN ({})", list.join(", ")));
            }
            limit = Some(*n);
        }
    }
    if let Some(hidden) = reader.hidden {
        wh.push("COALESCE(domain, '') <> '' AND COALESCE(category, '') <> ''".into());
        for h in hidden {
            let p = place(Open311Arg::Text(h), &mut args);
            wh.push(if h.contains('.') { format!("{code} <> {p}") } else { format!("COALESCE(domain, '') <> {p}") });
        }
    }
    let mut sql = format!(
        "SELECT {COLUMNS}, (SELECT closed_at FROM cases WHERE cases.id = reports.case_id) FROM reports WHERE {} ORDER BY id DESC",
        wh.join(" AND ")
    );
    if let Some(n) = limit {
        sql.push_str(&format!(" LIMIT {}", place(Open311Arg::Int(n), &mut args)));
    }
    (sql, args)
}

/// The reports of an Open311 read, newest first, in one query.
pub async fn open311_reports(
    c: &mut Conn,
    pick: &Open311Pick<'_>,
    reader: &Open311Reader<'_>,
) -> Result<Vec<Open311Row>> {
    let (sql, args) = open311_sql(pick, reader);
    let q = bind_open311(sqlx::query(sqlx::AssertSqlSafe(sql)), args);
    Ok(q.fetch_all(&mut *c).await?.iter().map(|r| Open311Row { report: row(r), case_closed_at: r.get(29) }).collect())
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

fn bind_open311<'q>(mut q: AnyQuery<'q>, args: Vec<Open311Arg<'q>>) -> AnyQuery<'q> {
    for a in args {
        q = match a {
            Open311Arg::Int(i) => q.bind(i),
            Open311Arg::Text(t) => q.bind(t),
        };
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every page of a listing walks the primary key in its order: no temporary B-tree sorts it,
    /// whatever the filters.
    #[tokio::test]
    async fn open311_pages_read_in_key_order_without_sorting() {
        let dir = std::env::temp_dir().join(format!("casegrid-open311-plan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = crate::store::Db::open(None, &dir).await.unwrap();
        let hidden = vec!["labour".to_string(), "housing.unsafe-building".to_string()];
        let services = vec!["housing.illegal-construction".to_string(), "transport.x".to_string()];
        let picks = [
            (None, &[][..], None),
            (Some(true), &services[..], Some(&hidden[..])),
            (Some(false), &[][..], Some(&hidden[..])),
        ];
        for (open, services, hidden) in picks {
            let pick = Open311Pick::Page { start: 0, end: i64::MAX, before: Some(1000), open, services, limit: 51 };
            let (sql, args) = open311_sql(&pick, &Open311Reader { hidden });
            let q = bind_open311(sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}"))), args);
            let plan: Vec<String> =
                q.fetch_all(db.pool()).await.unwrap().iter().map(|r| r.get::<String, _>(3)).collect();
            assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{plan:?}");
            assert!(
                plan.first().is_some_and(|p| p.starts_with("SEARCH reports USING INTEGER PRIMARY KEY")),
                "{plan:?}"
            );
        }
        db.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
