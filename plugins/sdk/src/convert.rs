//! Static data to the contract's types, for the export glue.

use crate::bindings::exports::casegrid::domain::{assessment, checklist as cl, forms as fm, plugin, types as ty};
use crate::data::*;

pub const CONTRACT_VERSION: &str = "1.0.0";

pub fn text(t: &I18n) -> ty::Text {
    ty::Text { zh: t.zh.to_string(), en: t.en.to_string() }
}

fn date(d: Ymd) -> ty::Date {
    ty::Date { year: d.year, month: d.month, day: d.day }
}

fn range(r: &InForce) -> ty::DateRange {
    ty::DateRange { from: date(r.from), until: r.until.map(date) }
}

fn limit(l: &TimeLimit) -> ty::TimeLimit {
    let unit = match l.unit {
        TimeUnit::Hours => ty::TimeUnit::Hours,
        TimeUnit::WorkingDays => ty::TimeUnit::WorkingDays,
        TimeUnit::CalendarDays => ty::TimeUnit::CalendarDays,
    };
    ty::TimeLimit { amount: l.amount, unit }
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

pub fn manifest(m: &Manifest) -> plugin::Manifest {
    plugin::Manifest {
        domain: m.domain.to_string(),
        name: text(&m.name),
        version: m.version.to_string(),
        publisher: m.publisher.to_string(),
        contract: CONTRACT_VERSION.to_string(),
        in_force: range(&m.in_force),
        limits: plugin::LimitsRequest {
            memory_bytes: m.memory_bytes,
            call_millis: m.call_millis,
            component_bytes: m.component_bytes,
        },
    }
}

pub fn category(c: &Category) -> plugin::Category {
    plugin::Category {
        code: c.code.to_string(),
        name: text(&c.name),
        description: text(&c.description),
        keywords_zh: strings(c.keywords_zh),
        keywords_en: strings(c.keywords_en),
        response: limit(&c.response),
    }
}

pub fn form(f: &Form) -> fm::Form {
    fm::Form { id: f.id.to_string(), title: text(&f.title), fields: f.fields.iter().map(field).collect() }
}

fn field(f: &Field) -> fm::Field {
    let kind = match f.kind {
        FieldKind::Text => fm::FieldKind::Text,
        FieldKind::LongText => fm::FieldKind::LongText,
        FieldKind::Integer => fm::FieldKind::Integer,
        FieldKind::Decimal => fm::FieldKind::Decimal,
        FieldKind::Money => fm::FieldKind::Money,
        FieldKind::Date => fm::FieldKind::Date,
        FieldKind::Datetime => fm::FieldKind::Datetime,
        FieldKind::Choice => fm::FieldKind::Choice,
        FieldKind::MultiChoice => fm::FieldKind::MultiChoice,
        FieldKind::Boolean => fm::FieldKind::Boolean,
        FieldKind::GeoPoint => fm::FieldKind::GeoPoint,
        FieldKind::Attachment => fm::FieldKind::Attachment,
    };
    fm::Field {
        id: f.id.to_string(),
        label: text(&f.label),
        help: text(&f.help),
        kind,
        required: f.required,
        constraints: f.constraints.iter().map(constraint).collect(),
    }
}

fn constraint(c: &Constraint) -> fm::Constraint {
    match *c {
        Constraint::Range { min, max } => fm::Constraint::Range(fm::NumberRange { min, max }),
        Constraint::Length { min, max } => fm::Constraint::Length(fm::LengthRange { min, max }),
        Constraint::Pattern(p) => fm::Constraint::Pattern(p.to_string()),
        Constraint::Options(o) => fm::Constraint::Options(
            o.iter().map(|o| fm::ChoiceOption { value: o.value.to_string(), label: text(&o.label) }).collect(),
        ),
        Constraint::NotFuture => fm::Constraint::NotFuture,
        Constraint::MaxCount(n) => fm::Constraint::MaxCount(n),
        Constraint::MediaTypes(m) => fm::Constraint::MediaTypes(strings(m)),
    }
}

pub fn citation(c: &Citation) -> cl::LegalRef {
    cl::LegalRef {
        statute: text(&c.statute.title),
        statute_version: c.statute.version.to_string(),
        article: c.article,
        clause: c.clause,
        item: c.item,
        excerpt: c.excerpt.to_string(),
    }
}

fn fine(r: &FineRule) -> cl::FineRule {
    match *r {
        FineRule::Fixed { min_fen, max_fen } => cl::FineRule::Fixed(cl::FenRange { min: min_fen, max: max_fen }),
        FineRule::PercentOf { fact, min_bp, max_bp } => {
            cl::FineRule::PercentOf(cl::ProportionalFine { fact: fact.to_string(), min_bp, max_bp })
        }
        FineRule::MultipleOf { fact, min_bp, max_bp } => {
            cl::FineRule::MultipleOf(cl::ProportionalFine { fact: fact.to_string(), min_bp, max_bp })
        }
        FineRule::PerUnit { fact, min_fen, max_fen } => {
            cl::FineRule::PerUnit(cl::PerUnitFine { fact: fact.to_string(), min_each: min_fen, max_each: max_fen })
        }
    }
}

pub fn penalty(p: &Penalty) -> cl::Penalty {
    let kind = match &p.kind {
        PenaltyKind::Warning => cl::PenaltyKind::Warning,
        PenaltyKind::PublicCriticism => cl::PenaltyKind::PublicCriticism,
        PenaltyKind::Fine(r) => cl::PenaltyKind::Fine(fine(r)),
        PenaltyKind::ConfiscateGains => cl::PenaltyKind::ConfiscateGains,
        PenaltyKind::ConfiscateProperty(t) => cl::PenaltyKind::ConfiscateProperty(text(t)),
        PenaltyKind::SuspendLicence(t) => cl::PenaltyKind::SuspendLicence(text(t)),
        PenaltyKind::LowerQualification(t) => cl::PenaltyKind::LowerQualification(text(t)),
        PenaltyKind::RevokeLicence(t) => cl::PenaltyKind::RevokeLicence(text(t)),
        PenaltyKind::RestrictBusiness(t) => cl::PenaltyKind::RestrictBusiness(text(t)),
        PenaltyKind::SuspendBusiness(t) => cl::PenaltyKind::SuspendBusiness(text(t)),
        PenaltyKind::Close(t) => cl::PenaltyKind::Close(text(t)),
        PenaltyKind::RestrictPractice(t) => cl::PenaltyKind::RestrictPractice(text(t)),
    };
    cl::Penalty { kind, optional: p.optional }
}

fn tier(t: &Tier) -> cl::Tier {
    cl::Tier {
        code: t.code.to_string(),
        circumstances: text(&t.circumstances),
        conditions: t
            .conditions
            .iter()
            .map(|c| cl::Condition { fact: c.fact.to_string(), any_of: strings(c.any_of) })
            .collect(),
        penalties: t.penalties.iter().map(penalty).collect(),
        orders: t.orders.iter().map(text).collect(),
        basis: t.basis.iter().map(citation).collect(),
    }
}

pub fn item(i: &Item) -> cl::Item {
    cl::Item {
        code: i.code.to_string(),
        kind: match i.kind {
            ItemKind::Penalty => cl::ItemKind::Penalty,
            ItemKind::CoerciveMeasure => cl::ItemKind::CoerciveMeasure,
        },
        title: text(&i.title),
        keywords: strings(i.keywords),
        violation_basis: i.violation.iter().map(citation).collect(),
        penalty_basis: i.penalty_basis.iter().map(citation).collect(),
        tiers: i.tiers.iter().map(tier).collect(),
        compliance: i.compliance.as_ref().map(limit),
        hearing_available: i.hearing,
        in_force: range(&i.in_force),
        notes: i.notes.iter().map(text).collect(),
    }
}

pub fn self_test(d: &Domain, t: &SelfTest) -> assessment::SelfTest {
    assessment::SelfTest {
        name: t.name.to_string(),
        item: t.item.to_string(),
        facts: crate::testing::facts_of(d, t),
        expect_tier: t.tier.to_string(),
        expect_fine: t.fine.map(|(min, max)| cl::FenRange { min, max }),
    }
}
