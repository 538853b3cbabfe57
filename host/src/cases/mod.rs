//! Cases and their legal procedure (APL, ACL): a case opens from a report, from patrol or from a
//! referral; officers certified for the domain investigate, pick a checklist item and record the
//! circumstances through the plugin's case-facts form; the plugin assesses, under the rules in force
//! at the time of the act and under the current ones, and the lighter applies (APL art. 37); the
//! penalty is proposed inside the band, noticed, heard if the party asks, reviewed and approved,
//! decided, served, executed, closed and archived. The machine refuses every move the law forbids,
//! each with its reason; every action is written to a hash-chained record in the same transaction.

mod actions;
pub mod audit;
pub mod clock;
pub mod deadlines;
pub mod documents;
pub mod dossier;
pub mod evidence;
pub mod gates;
pub mod lighter;
pub mod measures;
pub mod operations;
pub mod procedure;
pub mod replay;
pub mod routes;
pub mod store;
pub mod workflow;

use crate::plugins::bindings::{Assessment, FieldValue, Penalty, Text};
use serde::{Deserialize, Serialize};

/// `[cases]` in the settings. The limits are the law's; the thresholds and chains are the bureau's
/// own rules, to be set by its legal staff.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaseSettings {
    /// The issuing authority, as documents name it.
    pub authority: String,
    /// The short name in document numbers: 综执罚决〔2026〕12号.
    pub document_prefix: String,
    /// Where fines are paid, as the decision says.
    pub payment_instructions: String,
    /// APL art. 60: days from opening to decision.
    pub decide_days: u32,
    /// APL art. 64: working days after the notice in which the party may ask for a hearing.
    pub hearing_request_days: u32,
    /// APL art. 64: working days between the hearing notice and the hearing.
    pub hearing_notice_days: u32,
    /// APL art. 61: working days to serve a decision not handed over on the spot.
    pub serve_days: u32,
    /// APL art. 67: days to pay after receipt.
    pub pay_days: u32,
    /// APL art. 72: the late-payment surcharge a day, in basis points of the fine.
    pub surcharge_bp_per_day: u32,
    /// ACL art. 25: days a seal or seizure lasts; it may be extended once by as many.
    pub measure_days: u32,
    /// Working days after a referral out before it is chased if not yet accepted.
    pub referral_follow_up_days: u32,
    /// APL art. 51: the summary procedure's ceilings (yuan).
    pub summary_max_fine_person_yuan: i64,
    pub summary_max_fine_organisation_yuan: i64,
    /// Fines from which the legal review of APL art. 58 is required (yuan); the bureau's own
    /// threshold for a major case.
    pub legal_review_fine_person_yuan: i64,
    pub legal_review_fine_organisation_yuan: i64,
    /// Reminders this many hours before a case's deadline.
    pub remind_before_hours: u32,
    /// Who approves a decision: the rule with the highest `min_fine_yuan` reached (and matching
    /// domain and item, where a rule names them) gives the chain.
    pub approval: Vec<ApprovalRule>,
}

/// One rule of the approval chain.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRule {
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub items: Vec<String>,
    #[serde(default)]
    pub min_fine_yuan: i64,
    /// Roles in order: team-lead, legal-reviewer, leader.
    pub chain: Vec<String>,
}

impl Default for CaseSettings {
    fn default() -> Self {
        let rule = |min: i64, chain: &[&str]| ApprovalRule {
            domain: None,
            items: vec![],
            min_fine_yuan: min,
            chain: chain.iter().map(|r| r.to_string()).collect(),
        };
        Self {
            authority: "市综合行政执法局".into(),
            document_prefix: "综执".into(),
            payment_instructions: "到指定银行或者通过电子支付系统缴纳".into(),
            decide_days: 90,
            hearing_request_days: 5,
            hearing_notice_days: 7,
            serve_days: 7,
            pay_days: 15,
            surcharge_bp_per_day: 300,
            measure_days: 30,
            referral_follow_up_days: 10,
            summary_max_fine_person_yuan: 200,
            summary_max_fine_organisation_yuan: 3000,
            legal_review_fine_person_yuan: 10_000,
            legal_review_fine_organisation_yuan: 100_000,
            remind_before_hours: 24,
            approval: vec![
                rule(0, &["team-lead"]),
                rule(50_000, &["team-lead", "legal-reviewer"]),
                rule(200_000, &["team-lead", "legal-reviewer", "leader"]),
            ],
        }
    }
}

/// The approval levels, lowest first: departing from a recommendation adds the next one.
pub const LEVELS: [&str; 3] = ["team-lead", "legal-reviewer", "leader"];

/// The stages of a case.
pub mod stage {
    /// 立案
    pub const OPENED: &str = "opened";
    /// 调查取证
    pub const INVESTIGATING: &str = "investigating";
    /// 告知: the notice of intended penalty issued and, once served, the party's window.
    pub const NOTICE: &str = "notice";
    /// 听证
    pub const HEARING: &str = "hearing";
    /// 法制审核 and 审批: the decision's approval chain.
    pub const APPROVAL: &str = "approval";
    /// 决定: decided, to be served.
    pub const DECIDED: &str = "decided";
    /// 执行: served; the party executes (pays).
    pub const EXECUTING: &str = "executing";
    /// 移送: referred to another agency, until it accepts.
    pub const REFERRED: &str = "referred";
    /// 结案
    pub const CLOSED: &str = "closed";
    /// 归档
    pub const ARCHIVED: &str = "archived";

    pub const ALL: [&str; 10] =
        [OPENED, INVESTIGATING, NOTICE, HEARING, APPROVAL, DECIDED, EXECUTING, REFERRED, CLOSED, ARCHIVED];

    /// The stage's name in documents.
    pub fn zh(s: &str) -> &'static str {
        match s {
            OPENED => "立案",
            INVESTIGATING => "调查取证",
            NOTICE => "告知",
            HEARING => "听证",
            APPROVAL => "审核审批",
            DECIDED => "决定",
            EXECUTING => "执行",
            REFERRED => "移送",
            CLOSED => "结案",
            ARCHIVED => "归档",
            _ => "未知",
        }
    }
}

/// The party (当事人).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// `person` or `organisation`.
    pub kind: String,
    pub name: String,
    /// Resident identity card number (GB 11643) or unified social credit code (GB 32100).
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// An organisation's legal representative.
    #[serde(default)]
    pub representative: Option<String>,
}

impl Party {
    /// The key one act, one fine looks cases up by: the identity number, else kind and name.
    pub fn key(&self) -> String {
        match self.id_number.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(id) => format!("id:{}", id.to_uppercase()),
            None => format!("{}:{}", self.kind, self.name.split_whitespace().collect::<String>()),
        }
    }
}

/// One assessment as the case keeps it: which version, at what reference time, with what answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Assessed {
    pub version: String,
    pub sha256: String,
    /// Unix seconds.
    pub reference_at: i64,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Assessed(Assessment),
    /// The version gave no assessment: the item is not in force then, unknown to it, the facts
    /// are incomplete for it, or the version cannot be called (quarantined, manual mode).
    Refused {
        code: String,
        message: String,
    },
}

impl Outcome {
    pub fn assessment(&self) -> Option<&Assessment> {
        match self {
            Outcome::Assessed(a) => Some(a),
            Outcome::Refused { .. } => None,
        }
    }
}

/// The penalty an officer proposes, with what the lighter-law rule found.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Proposal {
    pub item: String,
    pub pinned: Assessed,
    pub current: Assessed,
    pub applies: lighter::Applies,
    /// Why that rule applies, in words.
    pub applies_because: String,
    pub tier: String,
    pub penalties: Vec<Penalty>,
    pub orders: Vec<Text>,
    pub basis: Vec<crate::plugins::bindings::LegalRef>,
    pub fine_band: Option<(i64, i64)>,
    pub recommended_fine_fen: Option<i64>,
    pub fine_fen: Option<i64>,
    /// Required where the fine departs from the recommendation.
    pub deviation_reason: Option<String>,
    /// Made without the plugin (manual mode): the officer chose the tier; the host checked the band.
    pub manual: bool,
    /// Why the legal review of APL art. 58 is required; empty when it is not.
    pub legal_review: Vec<String>,
    /// The approval chain this proposal needs.
    pub chain: Vec<String>,
    pub proposed_by: String,
    pub proposed_at: i64,
}

/// What happened after the proposal, stage by stage.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Progress {
    #[serde(default)]
    pub notice: Option<Notice>,
    #[serde(default)]
    pub hearing: Option<Hearing>,
    #[serde(default)]
    pub decision: Option<Decision>,
    #[serde(default)]
    pub service: Option<Service>,
    #[serde(default)]
    pub payment: Option<Payment>,
    #[serde(default)]
    pub referral_out: Option<ReferralOut>,
    #[serde(default)]
    pub closing: Option<Closing>,
    #[serde(default)]
    pub archived_at: Option<i64>,
    /// The approval round under way or last held.
    #[serde(default)]
    pub approval_round: i64,
    /// A hearing was held in this case: it stays heard whatever is proposed after (APL art. 58).
    #[serde(default)]
    pub heard: bool,
    /// The highest fine a notice told the party of: a later proposal may not exceed it, for the
    /// party's defence never worsens the penalty (APL art. 45).
    #[serde(default)]
    pub noticed_fine_fen: Option<i64>,
    /// Earlier notices and hearings, kept when a rejected proposal sends the case back.
    #[serde(default)]
    pub history: Vec<serde_json::Value>,
    /// The written demand before enforcement (ACL art. 35).
    #[serde(default)]
    pub demand: Option<Demand>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Demand {
    pub number: String,
    pub issued_at: i64,
    /// The party is to pay by then.
    pub due_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Notice {
    pub number: String,
    pub issued_at: i64,
    pub hearing_available: bool,
    pub served_at: Option<i64>,
    pub served_how: Option<String>,
    /// The end of the party's window to ask for a hearing (APL art. 64).
    pub window_ends: Option<i64>,
    pub waived_at: Option<i64>,
    /// What the party said in its statement and defence (APL art. 45).
    pub statements: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hearing {
    pub requested_at: i64,
    pub notice_number: Option<String>,
    pub notified_at: Option<i64>,
    pub hearing_at: Option<i64>,
    pub place: Option<String>,
    pub held_at: Option<i64>,
    pub record: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Decision {
    pub number: String,
    pub decided_at: i64,
    pub summary: bool,
    pub item: String,
    pub tier: String,
    pub applies: lighter::Applies,
    pub penalties: Vec<Penalty>,
    pub fine_fen: Option<i64>,
    pub orders: Vec<Text>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Service {
    pub served_at: i64,
    pub how: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Payment {
    pub paid_at: i64,
    pub fine_fen: i64,
    pub surcharge_fen: i64,
    pub receipt: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReferralOut {
    pub agency: String,
    pub reason: String,
    pub number: String,
    pub referred_at: i64,
    pub accepted_at: Option<i64>,
    pub receipt: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Closing {
    /// `executed`, or a reason not to penalise, or `referred`.
    pub reason: String,
    pub note: String,
    pub closed_at: i64,
}

/// Where a case came from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Referral {
    /// The agency (or higher authority) that referred the case or clue.
    pub agency: String,
    #[serde(default)]
    pub reference: Option<String>,
    /// When the bureau received it, `YYYY-MM-DD`.
    pub received_on: String,
}

/// A case as stored.
#[derive(Clone, Debug, Serialize)]
pub struct CaseRow {
    pub id: i64,
    pub number: String,
    pub domain: String,
    pub plugin_version: String,
    pub pinned_reason: String,
    pub procedure: String,
    pub stage: String,
    pub source: String,
    pub report_id: Option<i64>,
    pub referral: Option<Referral>,
    pub operation_id: Option<i64>,
    pub team_id: i64,
    pub title: String,
    pub place: String,
    pub summary: String,
    pub party: Party,
    pub party_key: String,
    pub act_date: String,
    pub act_end_date: Option<String>,
    pub safety_harmed: bool,
    pub discovered_at: i64,
    pub distinct_act: Option<String>,
    pub item_code: Option<String>,
    pub facts: Option<Vec<FieldValue>>,
    pub proposal: Option<Proposal>,
    pub legal_review: String,
    pub progress: Progress,
    pub opened_at: i64,
    pub opened_by: Option<i64>,
    pub due_at: Option<i64>,
    pub due_what: Option<String>,
    pub reminded_for: Option<i64>,
    pub escalated_for: Option<i64>,
    pub closed_at: Option<i64>,
    pub version: i64,
    pub updated_at: i64,
}

impl CaseRow {
    /// A case as it is opened, on the day of `act` against `party`: no number yet, nothing found,
    /// proposed or decided, no clock set. The caller fills in where it comes from.
    pub fn opened(party: Party, act: crate::clock::Day, opened_by: i64, now: i64) -> CaseRow {
        CaseRow {
            id: 0,
            number: String::new(),
            domain: String::new(),
            plugin_version: String::new(),
            pinned_reason: String::new(),
            procedure: "general".into(),
            stage: stage::OPENED.into(),
            source: String::new(),
            report_id: None,
            referral: None,
            operation_id: None,
            team_id: 0,
            title: String::new(),
            place: String::new(),
            summary: String::new(),
            party_key: party.key(),
            party,
            act_date: act.to_string(),
            act_end_date: None,
            safety_harmed: false,
            discovered_at: now,
            distinct_act: None,
            item_code: None,
            facts: None,
            proposal: None,
            legal_review: "none".into(),
            progress: Progress::default(),
            opened_at: now,
            opened_by: Some(opened_by),
            due_at: None,
            due_what: None,
            reminded_for: None,
            escalated_for: None,
            closed_at: None,
            version: 0,
            updated_at: now,
        }
    }

    /// The day the act ended (a continuing act) or happened.
    pub fn act_end(&self) -> crate::clock::Day {
        let d = self.act_end_date.as_deref().unwrap_or(&self.act_date);
        crate::clock::Day::parse(d).unwrap_or(crate::clock::Day(0))
    }
}
