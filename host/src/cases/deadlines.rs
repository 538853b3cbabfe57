//! The clock on cases and on seals and seizures: a reminder to the case's officers and team lead
//! before a deadline, an escalation to the team lead and to the leaders and command centre after it.
//! Each fires once per deadline (a new stage brings a new deadline and starts afresh), whichever
//! host's worker gets there first; each is on the case's record.

use super::store;
use crate::auth::store::{Actor, Conn};
use crate::notify::{Audience, NotifySettings};
use crate::store::{StoreError, rfc3339};
use serde_json::json;
use sqlx::Row;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tick {
    pub reminded: usize,
    pub escalated: usize,
}

/// E-mail addresses of the case's officers (reminders), its team's leads, and after a deadline
/// the leaders over the team and the command centre.
async fn audience(
    c: &mut Conn,
    notify: &NotifySettings,
    case: i64,
    team: i64,
    overdue: bool,
    subject: String,
) -> Result<Audience, StoreError> {
    if notify.smtp.is_none() {
        return Ok(Audience::default());
    }
    let dept: i64 = sqlx::query("SELECT department_id FROM teams WHERE id = $1")
        .bind(team)
        .fetch_optional(&mut *c)
        .await?
        .map_or(-1, |r| r.get(0));
    let mut emails: Vec<String> = sqlx::query(
        "SELECT DISTINCT u.email FROM users u JOIN case_officers o ON o.user_id = u.id WHERE o.case_id = $1 AND u.disabled = 0 AND u.email IS NOT NULL",
    )
    .bind(case)
    .fetch_all(&mut *c)
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let rows = sqlx::query(
        "SELECT DISTINCT u.email, g.role, g.scope FROM users u JOIN role_grants g ON g.user_id = u.id \
         WHERE u.disabled = 0 AND u.email IS NOT NULL AND g.scope IN ($1, $2, 'all')",
    )
    .bind(format!("team:{team}"))
    .bind(format!("department:{dept}"))
    .fetch_all(&mut *c)
    .await?;
    for r in rows {
        let (email, role, scope): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        let wanted = (role == "team-lead" && scope != "all") || (overdue && (role == "leader" || role == "dispatcher"));
        if wanted && !emails.contains(&email) {
            emails.push(email);
        }
    }
    Ok(Audience { emails, text: subject.clone(), subject, phones: Vec::new() })
}

/// A case whose rows are not as its record holds is not reminded of (that would record the edit as
/// the reminder's state); it is logged, and `audit verify` names it.
async fn refused(
    record: &super::audit::Record,
    tx: &mut crate::auth::store::Conn,
    case: i64,
) -> Result<bool, StoreError> {
    let what = super::audit::tampered(record, tx, case).await?;
    if let Some(what) = &what {
        tracing::error!(case, problem = %what, "a case's rows are not as its record holds: no reminder");
    }
    Ok(what.is_some())
}

/// One pass of the clock as of `now`.
pub async fn tick(
    record: &super::audit::Record,
    notify: &NotifySettings,
    now: i64,
    remind_before_ms: i64,
) -> Result<Tick, StoreError> {
    let db = record.db();
    let mut t = Tick::default();
    let mut c = db.pool().acquire().await?;
    let cases = store::due(&mut c, now, now + remind_before_ms).await?;
    let measures = store::measures_due(&mut c, now, now + remind_before_ms).await?;
    drop(c);
    for k in cases {
        let Some(due) = k.due_at else { continue };
        let what = k.due_what.clone().unwrap_or_default();
        let (column, overdue) = if now > due { ("escalated_for", true) } else { ("reminded_for", false) };
        let mut tx = db.write().await?;
        // Fires once: only the worker whose update lands sends it.
        let sql = format!(
            "UPDATE cases SET {column} = $1 WHERE id = $2 AND due_at = $1 AND ({column} IS NULL OR {column} <> $1)"
        );
        if sqlx::query(sqlx::AssertSqlSafe(sql)).bind(due).bind(k.id).execute(&mut *tx).await?.rows_affected() != 1
            || refused(record, &mut tx, k.id).await?
        {
            continue;
        }
        let kind = if overdue { "overdue" } else { "due-soon" };
        let subject = if overdue {
            format!("案件已超期：{} {}（{}期限 {}）", k.number, k.title, what, crate::clock::iso_cst(due))
        } else {
            format!("案件即将到期：{} {}（{}期限 {}）", k.number, k.title, what, crate::clock::iso_cst(due))
        };
        let who = audience(&mut tx, notify, k.id, k.team_id, overdue, subject).await?;
        let body = json!({"case": k.number, "domain": k.domain, "stage": k.stage, "team_id": k.team_id, "deadline": what, "due_at": rfc3339(due)});
        crate::notify::enqueue(&mut tx, notify, &format!("case.{kind}"), &body, &who).await?;
        let action = if overdue { "escalated" } else { "reminded" };
        super::audit::append(
            record,
            &mut tx,
            k.id,
            &Actor::system(),
            action,
            &json!({"deadline": what, "due_at": rfc3339(due)}),
        )
        .await?;
        tx.commit().await?;
        if overdue { t.escalated += 1 } else { t.reminded += 1 }
    }
    for m in measures {
        let (column, overdue) = if now > m.due_at { ("escalated_for", true) } else { ("reminded_for", false) };
        let mut tx = db.write().await?;
        let sql = format!(
            "UPDATE coercive_measures SET {column} = $1 WHERE id = $2 AND due_at = $1 AND released_at IS NULL AND ({column} IS NULL OR {column} <> $1)"
        );
        if sqlx::query(sqlx::AssertSqlSafe(sql)).bind(m.due_at).bind(m.id).execute(&mut *tx).await?.rows_affected() != 1
        {
            continue;
        }
        let Some(k) = store::load(&mut tx, m.case_id).await? else { continue };
        if refused(record, &mut tx, k.id).await? {
            continue;
        }
        let what = if m.kind == "seal" { "查封" } else { "扣押" };
        let subject = match (m.approved_at.is_some(), overdue) {
            (false, false) => format!(
                "紧急{what}待负责人批准：{}（案件 {}），须于{}前补办批准手续（行政强制法第十九条）",
                m.number,
                k.number,
                crate::clock::iso_cst(m.due_at)
            ),
            (false, true) => format!(
                "紧急{what}超过二十四小时未获批准：{}（案件 {}），应当立即解除（行政强制法第十九条）",
                m.number, k.number
            ),
            (true, false) => format!(
                "{what}期限即将届满：{}（案件 {}），期限 {}",
                m.number,
                k.number,
                crate::clock::iso_cst(m.due_at)
            ),
            (true, true) => {
                format!("{what}期限已届满未解除：{}（案件 {}）（行政强制法第二十五条）", m.number, k.number)
            }
        };
        let who = audience(&mut tx, notify, k.id, k.team_id, overdue, subject).await?;
        let kind = if overdue { "measure.overdue" } else { "measure.due-soon" };
        let body = json!({"case": k.number, "measure": m.number, "kind": m.kind, "due_at": rfc3339(m.due_at)});
        crate::notify::enqueue(&mut tx, notify, kind, &body, &who).await?;
        super::audit::append(
            record,
            &mut tx,
            k.id,
            &Actor::system(),
            if overdue { "escalated" } else { "reminded" },
            &body,
        )
        .await?;
        tx.commit().await?;
        if overdue { t.escalated += 1 } else { t.reminded += 1 }
    }
    Ok(t)
}
