//! The work of each action on a case, grouped by the stage it belongs to. A body runs after
//! `procedure::check` passed: it reads the action's input, makes the checks that need it (or a
//! plugin call), changes the case row and returns the rest as [`Effects`], which `workflow::act`
//! writes in one transaction. No body tests a stage or who the caller is: the table did.

mod closing;
mod decision;
mod execution;
mod investigation;
mod notice;
mod opening;

use super::gates::Facts;
use super::workflow::Action;
use super::{Assessed, CaseRow};
use crate::api_error::ApiError;
use crate::auth::Principal;
use crate::auth::store::Conn;
use crate::plugins::Plugin;
use crate::plugins::bindings::FieldValue;
use crate::server::AppState;
use serde_json::Value;
use std::sync::Arc;

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// What an action's body works with.
pub struct Cx<'a> {
    pub state: &'a AppState,
    pub c: &'a mut Conn,
    pub f: &'a Facts<'a>,
    pub caller: &'a Principal,
    /// The rules the case is pinned to, and whether they may be called (a quarantined version
    /// may not: manual mode).
    pub pinned: &'a Arc<Plugin>,
    pub callable: bool,
}

/// What an action leaves besides the case row, written by `workflow::act` in its transaction.
#[derive(Default)]
pub struct Effects {
    /// Documents made besides the row's fixed ones (the last approval's decision).
    pub documents: Vec<&'static str>,
    /// The record entry's detail.
    pub record: Value,
    /// A message besides the row's (the last approval's `decided`).
    pub event: Option<&'static str>,
    pub officers: Vec<i64>,
    /// (purpose, item, facts, outcome) of each assessment made.
    pub assessments: Vec<(&'static str, String, Vec<FieldValue>, Assessed)>,
    /// An inspection record, as evidence.
    pub inspection: Option<Value>,
    /// The decision clock stops (with its reason) or restarts.
    pub pause: Option<Option<String>>,
    /// (step, outcome, comment) of an approval step decided.
    pub approval: Option<(i64, &'static str, String)>,
    /// The chain of a new approval round.
    pub new_round: Option<Vec<String>>,
    /// One act, one fine (APL art. 29) checked again inside the transaction, serialised, for
    /// this fine.
    pub recheck_in_tx: Option<Option<i64>>,
}

impl Effects {
    pub fn record(record: Value) -> Effects {
        Effects { record, ..Effects::default() }
    }
}

/// Runs the action's body.
pub async fn run(cx: &mut Cx<'_>, k: &mut CaseRow, action: Action) -> Result<Effects> {
    use Action as A;
    match action {
        A::AssignOfficers { officers } => opening::assign_officers(cx, officers).await,
        A::ConvertToGeneral { reason } => opening::convert_to_general(k, &reason),
        A::StartInvestigation => Ok(opening::start_investigation(cx)),
        A::RecordInspection { values } => investigation::record_inspection(cx, k, values).await,
        A::RecordFacts { item, facts } => investigation::record_facts(cx, k, item, facts).await,
        A::Assess => Ok(investigation::assess(cx, k).await),
        A::Propose { fine_fen, optional, reason, tier, complex } => {
            investigation::propose(cx, k, investigation::ProposeIn { fine_fen, optional, reason, tier, complex }).await
        }
        A::DeclareDistinctAct { reason } => investigation::declare_distinct_act(k, &reason),
        A::Pause { reason } => investigation::pause(&reason),
        A::Resume => Ok(Effects { pause: Some(None), ..Effects::record(serde_json::json!({})) }),
        A::IssueNotice => Ok(notice::issue_notice(cx, k)),
        A::ServeNotice { how, served_at } => notice::serve_notice(cx, k, &how, served_at.as_deref()),
        A::RecordStatement { text } => notice::record_statement(k, &text),
        A::RequestHearing { requested_at } => notice::request_hearing(cx, k, requested_at.as_deref()),
        A::WaiveHearing => Ok(notice::waive_hearing(cx, k)),
        A::ScheduleHearing { hearing_at, place } => notice::schedule_hearing(cx, k, &hearing_at, &place),
        A::HoldHearing { record } => notice::hold_hearing(cx, k, &record),
        A::Submit => decision::submit(cx, k).await,
        A::Approve { comment } => decision::approve(cx, k, comment.unwrap_or_default()).await,
        A::Reject { comment } => decision::reject(cx, k, &comment),
        A::DecideSummary { item, facts, fine_fen, reason } => {
            decision::decide_summary(cx, k, item, facts, fine_fen, reason).await
        }
        A::ServeDecision { how, served_at } => decision::serve_decision(cx, k, &how, served_at.as_deref()),
        A::RecordPayment { paid_fen, receipt, paid_on } => {
            execution::record_payment(cx, k, paid_fen, &receipt, paid_on.as_deref())
        }
        A::IssueDemand => Ok(execution::issue_demand(cx, k)),
        A::Close { note } => execution::close(cx, k, &note),
        A::CloseWithoutPenalty { reason, note } => closing::close_without_penalty(cx, k, reason, &note).await,
        A::ReferOut { agency, reason } => closing::refer_out(cx, k, &agency, &reason),
        A::ReferralAccepted { receipt } => closing::referral_accepted(cx, k, &receipt),
        A::Archive => {
            k.progress.archived_at = Some(cx.f.now);
            Ok(Effects::record(serde_json::json!({})))
        }
    }
}
