//! The clock on reports: a reminder to the team before a deadline, an escalation to the team lead
//! and the command centre after it. Each fires once per deadline (a reopened or transferred report
//! starts afresh), whichever host's worker sees it first.

use super::store::{self, ReportRow};
use crate::auth::store::Actor;
use crate::notify::NotifySettings;
use crate::store::{Db, StoreError, rfc3339};
use serde_json::json;
use sqlx::Row;

/// What one pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tick {
    pub reminded: usize,
    pub escalated: usize,
}

/// Looks at the clock as of `now` (Unix ms): reminds `remind_before_ms` before the handling
/// deadline; escalates once after the acknowledgement deadline (not yet acknowledged) and once
/// after the handling deadline (not yet closed). The column and status names are this module's
/// own constants, never input.
pub async fn tick(db: &Db, notify: &NotifySettings, now: i64, remind_before_ms: i64) -> Result<Tick, StoreError> {
    let mut t = Tick::default();
    // (column marked once fired, statuses it applies to, what is due as of `$1` — for the reminder,
    // before `$2`, the moment that far ahead — and what fires).
    let checks = [
        (
            "reminded_at",
            "('dispatched', 'accepted')",
            "handle_due_at IS NOT NULL AND handle_due_at > $1 AND handle_due_at <= $2",
            ("reminder", "due-soon"),
        ),
        // Two deadlines, two escalations: not acknowledged in time, and not handled in time.
        (
            "ack_escalated_at",
            "('triage', 'dispatched')",
            "acknowledged_at IS NULL AND ack_due_at IS NOT NULL AND ack_due_at <= $1",
            ("escalated", "overdue"),
        ),
        (
            "escalated_at",
            "('dispatched', 'accepted')",
            "handle_due_at IS NOT NULL AND handle_due_at <= $1",
            ("escalated", "overdue"),
        ),
    ];
    for (column, statuses, due_check, (kind, message)) in checks {
        let sql = format!("SELECT id FROM reports WHERE {column} IS NULL AND status IN {statuses} AND {due_check}");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
        if kind == "reminder" {
            query = query.bind(now + remind_before_ms);
        }
        let due: Vec<i64> = query.fetch_all(db.pool()).await?.iter().map(|r| r.get(0)).collect();
        for id in due {
            if fire(db, notify, id, column, statuses, kind, message, now).await? {
                *(if kind == "reminder" { &mut t.reminded } else { &mut t.escalated }) += 1;
            }
        }
    }
    Ok(t)
}

/// Marks and records one reminder or escalation, and announces it as `message` (`due-soon`,
/// `overdue`); false when another worker got there first or the report moved on meanwhile (its
/// status no longer one of `statuses`).
#[allow(clippy::too_many_arguments)]
async fn fire(
    db: &Db,
    notify: &NotifySettings,
    id: i64,
    column: &str,
    statuses: &str,
    kind: &str,
    message: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let mut tx = db.write().await?;
    let sql = format!("UPDATE reports SET {column} = $1 WHERE id = $2 AND {column} IS NULL AND status IN {statuses}");
    if sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(id).execute(&mut *tx).await?.rows_affected() != 1 {
        return Ok(false);
    }
    let Some(r): Option<ReportRow> = store::by_id(&mut tx, id).await? else { return Ok(false) };
    let detail = json!({"ack_due_at": r.ack_due_at.map(rfc3339), "handle_due_at": r.handle_due_at.map(rfc3339), "team_id": r.team_id});
    store::add_event(&mut tx, id, kind, &Actor::system(), false, None, detail).await?;
    super::announce(&mut tx, notify, &r, message).await?;
    tx.commit().await?;
    Ok(true)
}
