//! Coercive measures (查封、扣押, ACL art. 9, 18–28): a seal or seizure decided with its inventory,
//! an emergency measure approved afterwards, extended once, its testing time not counted, released.

use super::gates::{invalid, refused};
use super::store::{self, Measure};
use super::workflow::{heads, load_pinned, text, view, visible, works, year_of};
use super::{procedure, stage};
use crate::api_error::ApiError;
use crate::auth::Principal;
use crate::auth::store::Actor;
use crate::clock::{now_ms, rfc3339};
use crate::plugins::bindings::ItemKind;
use crate::server::AppState;
use crate::store::StoreError;
use serde::Deserialize;
use serde_json::{Value, json};

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// A new seal or seizure (ACL art. 24): the decision with its inventory.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasureIn {
    /// `seal` (查封) or `seize` (扣押).
    pub kind: String,
    /// The coercive-measure item of the domain's checklist that grants it.
    pub item: String,
    pub place: String,
    pub reason: String,
    pub inventory: Vec<InventoryLine>,
    /// Taken on the spot in an emergency, before the head's approval (ACL art. 19): the head
    /// approves within 24 hours or it is lifted.
    #[serde(default)]
    pub emergency: bool,
}

#[derive(Clone, Debug, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryLine {
    pub name: String,
    pub quantity: f64,
    pub unit: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// An action on a measure.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum MeasureAction {
    /// The head approves an emergency measure (ACL art. 19).
    Approve,
    /// The head does not: it is lifted at once (ACL art. 19).
    Reject {
        reason: String,
    },
    /// ACL art. 25: once, by as many days again, on the head's approval.
    Extend {
        reason: String,
    },
    /// ACL art. 25: testing, inspection, quarantine or appraisal time is not counted.
    StartTesting,
    EndTesting,
    /// ACL art. 28.
    Release {
        reason: String,
    },
}

/// ACL art. 19: an emergency measure's approval is due within 24 hours.
const EMERGENCY_APPROVAL_MS: i64 = 24 * 3_600_000;

/// A measure's next deadline: its approval while an emergency measure waits for it, else its end,
/// the testing time not counted.
fn measure_due(m: &Measure, pauses: &[store::Pause], now: i64) -> i64 {
    if m.approved_at.is_none() {
        return m.decided_at + EMERGENCY_APPROVAL_MS;
    }
    super::clock::end_of_days(m.decided_at, u32::try_from(m.limit_days).unwrap_or(0))
        + store::paused_ms(pauses, Some(m.id), now)
}

pub async fn add_measure(state: &AppState, caller: &Principal, actor: &Actor, id: i64, m: MeasureIn) -> Result<Value> {
    let (k, org) = visible(state, caller, id).await?;
    let pinned = load_pinned(state, &k).await?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    // The head decides a measure (ACL art. 18), whether or not they work the case.
    if !heads(caller, &org, &k) && !works(&mut c, caller, &org, &k).await? {
        return Err(ApiError::forbidden("only the case's officers and its team act on it"));
    }
    procedure::need_stage(
        &k,
        &[stage::OPENED, stage::INVESTIGATING, stage::NOTICE, stage::HEARING, stage::APPROVAL],
        "a coercive measure",
    )?;
    if !matches!(m.kind.as_str(), "seal" | "seize") {
        return Err(invalid("kind", "invalid-choice", "seal or seize"));
    }
    let item = pinned.data().checklist.iter().find(|i| i.code == m.item).ok_or_else(|| {
        invalid("item", "unknown-item", format!("no item {} in {} {}", m.item, k.domain, k.plugin_version))
    })?;
    if item.kind != ItemKind::CoerciveMeasure {
        return Err(invalid(
            "item",
            "not-a-measure",
            format!("{} is not a coercive measure of the checklist: no law grants it here", m.item),
        ));
    }
    if m.inventory.is_empty() {
        return Err(invalid("inventory", "required", "ACL art. 24: the inventory of what is sealed or seized"));
    }
    for (i, l) in m.inventory.iter().enumerate() {
        text(&l.name, &format!("inventory[{i}].name"), 1, 200)?;
        if !(l.quantity > 0.0 && l.quantity.is_finite()) {
            return Err(invalid(&format!("inventory[{i}].quantity"), "out-of-range", "a positive quantity"));
        }
    }
    let place = text(&m.place, "place", 2, 200)?;
    let reason = text(&m.reason, "reason", 5, 2000)?;
    // ACL art. 18(2): carried out by two or more officers.
    let today = crate::store::today_cst();
    let certified = store::officers(&mut c, k.id, &k.domain)
        .await?
        .iter()
        .filter(|o| o.certified_until.as_deref().is_some_and(|u| u >= today.as_str()))
        .count();
    if certified < 2 {
        return Err(refused(
            "two-certified-officers",
            format!(
                "a coercive measure is taken by two or more certified officers (ACL art. 18); the case has {certified}"
            ),
        ));
    }
    // ACL art. 18(1): approved by the head before it is taken; art. 19: in an emergency, after.
    let head = heads(caller, &org, &k);
    if !head && !m.emergency {
        return Err(ApiError::forbidden(
            "a coercive measure needs the head's approval before it is taken (ACL art. 18): the team lead or a leader takes it, or record it as an emergency (ACL art. 19)",
        ));
    }
    let now = now_ms();
    let s = &state.cases;
    let mut tx = state.db.write_on(&mut c).await?;
    super::audit::unchanged(&state.record, &mut tx, k.id).await?;
    let n = store::next_number(&mut tx, "measure", year_of(now)).await?;
    let mut row = Measure {
        id: 0,
        case_id: k.id,
        number: format!("{}强〔{}〕{}号", s.document_prefix, year_of(now), n),
        kind: m.kind.clone(),
        item_code: m.item.clone(),
        place,
        inventory: serde_json::to_value(&m.inventory).unwrap_or_default(),
        reason,
        decided_at: now,
        limit_days: i64::from(s.measure_days),
        extended_at: None,
        extension_reason: None,
        released_at: None,
        release_reason: None,
        emergency: !head,
        approved_by: head.then_some(caller.user_id),
        approved_at: head.then_some(now),
        due_at: 0,
        reminded_for: None,
        escalated_for: None,
    };
    row.due_at = measure_due(&row, &[], now);
    row.id = store::insert_measure(&mut tx, &row, Some(caller.user_id)).await?;
    let officers = store::officers(&mut tx, k.id, &k.domain).await?;
    let (number, title, html) = super::documents::measure(state, &k, &officers, &row, item)?;
    store::add_document(&mut tx, k.id, &format!("{}-decision", row.kind), &number, &title, &html, &actor.label).await?;
    super::audit::append(
        &state.record,
        &mut tx,
        k.id,
        actor,
        "measure",
        &json!({"measure": row.number, "kind": row.kind, "item": row.item_code, "inventory": row.inventory, "emergency": row.emergency,
                "approved": row.approved_at.is_some(), "due_at": rfc3339(row.due_at)}),
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    drop(c);
    view(state, caller, k.id).await
}

pub async fn act_on_measure(
    state: &AppState,
    caller: &Principal,
    actor: &Actor,
    id: i64,
    measure: i64,
    a: MeasureAction,
) -> Result<Value> {
    let (k, org) = visible(state, caller, id).await?;
    let mut c = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let head = heads(caller, &org, &k);
    let for_head = matches!(a, MeasureAction::Approve | MeasureAction::Reject { .. } | MeasureAction::Extend { .. });
    if for_head && !head {
        return Err(ApiError::forbidden("this is the head's decision (ACL art. 19, 25): the team lead or a leader"));
    }
    if !for_head && !head && !works(&mut c, caller, &org, &k).await? {
        return Err(ApiError::forbidden("only the case's officers and its team act on it"));
    }
    let before = store::measure_by_id(&mut c, k.id, measure)
        .await?
        .ok_or_else(|| ApiError::not_found("measure", &measure.to_string()))?;
    if before.released_at.is_some() {
        return Err(refused("released", "the measure was released"));
    }
    let mut m = before.clone();
    let now = now_ms();
    let s = &state.cases;
    let pauses = store::pauses(&mut c, k.id).await?;
    let open_testing = pauses.iter().find(|p| p.measure_id == Some(m.id) && p.ended_at.is_none()).map(|p| p.id);
    let mut pause: Option<Option<i64>> = None;
    let mut document: Option<&'static str> = None;
    let record;
    match a {
        MeasureAction::Approve => {
            if m.approved_at.is_some() {
                return Err(refused("approved", "the measure is approved already"));
            }
            m.approved_by = Some(caller.user_id);
            m.approved_at = Some(now);
            record =
                json!({"measure": m.number, "action": "approve", "late": now > m.decided_at + EMERGENCY_APPROVAL_MS});
        }
        MeasureAction::Reject { reason } => {
            let reason = text(&reason, "reason", 5, 2000)?;
            if m.approved_at.is_some() {
                return Err(refused("approved", "the measure is approved: release it instead"));
            }
            if let Some(p) = open_testing {
                pause = Some(Some(p));
            }
            m.released_at = Some(now);
            m.release_reason = Some(format!("负责人不予批准：{reason}"));
            document = Some("release");
            record = json!({"measure": m.number, "action": "reject", "reason": reason});
        }
        MeasureAction::Extend { reason } => {
            // ACL art. 25: extended by the authority's head, once, by no more than 30 days.
            if m.approved_at.is_none() {
                return Err(refused("not-approved", "approve the emergency measure first"));
            }
            if m.extended_at.is_some() {
                return Err(refused("extended-once", "a seal or seizure is extended once only (ACL art. 25)"));
            }
            if now > m.due_at {
                return Err(refused("expired", "the measure's time ran out: release it"));
            }
            let reason = text(&reason, "reason", 5, 2000)?;
            m.extended_at = Some(now);
            m.extension_reason = Some(reason.clone());
            m.limit_days += i64::from(s.measure_days);
            document = Some("extension");
            record = json!({"measure": m.number, "action": "extend", "reason": reason});
        }
        MeasureAction::StartTesting => {
            if open_testing.is_some() {
                return Err(refused("testing", "testing is under way already"));
            }
            pause = Some(None);
            record = json!({"measure": m.number, "action": "start-testing"});
        }
        MeasureAction::EndTesting => {
            let p = open_testing.ok_or_else(|| refused("not-testing", "no testing is under way"))?;
            pause = Some(Some(p));
            record = json!({"measure": m.number, "action": "end-testing"});
        }
        MeasureAction::Release { reason } => {
            let reason = text(&reason, "reason", 5, 2000)?;
            if let Some(p) = open_testing {
                pause = Some(Some(p));
            }
            m.released_at = Some(now);
            m.release_reason = Some(reason.clone());
            document = Some("release");
            record = json!({"measure": m.number, "action": "release", "reason": reason});
        }
    }
    let mut tx = state.db.write_on(&mut c).await?;
    super::audit::unchanged(&state.record, &mut tx, k.id).await?;
    match pause {
        Some(None) => store::start_pause(&mut tx, k.id, Some(m.id), "testing", now).await?,
        Some(Some(p)) => store::end_pause(&mut tx, p, now).await?,
        None => {}
    }
    let pauses = store::pauses(&mut tx, k.id).await?;
    let due = measure_due(&m, &pauses, now);
    if due != m.due_at {
        (m.reminded_for, m.escalated_for) = (None, None);
    }
    m.due_at = due;
    if !store::save_measure(&mut tx, &m, &before).await? {
        return Err(refused("changed-meanwhile", "the measure changed since it was read: look again and retry"));
    }
    if let Some(kind) = document {
        let officers = store::officers(&mut tx, k.id, &k.domain).await?;
        let (number, title, html) = match kind {
            "extension" => super::documents::extension(state, &k, &officers, &m)?,
            _ => super::documents::release(state, &k, &officers, &m)?,
        };
        store::add_document(&mut tx, k.id, kind, &number, &title, &html, &actor.label).await?;
    }
    let mut record = record;
    record["due_at"] = json!(rfc3339(m.due_at));
    super::audit::append(&state.record, &mut tx, k.id, actor, "measure", &record).await?;
    tx.commit().await.map_err(StoreError::from)?;
    drop(c);
    view(state, caller, k.id).await
}
