//! Helpers for a domain crate's own tests: check its data and run its golden vectors natively.

use crate::bindings::exports::casegrid::domain::types::{Date, FieldValue, Value};
use crate::data::{Domain as Data, FactValue, FieldKind, SelfTest};
use crate::{Domain, entry};

/// The problems [`crate::check::domain`] finds in `D`'s data.
pub fn check_data<D: Domain>() -> Vec<String> {
    crate::check::domain(D::DATA)
}

/// The facts of a self-test as form values, typed by the case-facts form's field kinds.
pub fn facts_of(data: &Data, t: &SelfTest) -> Vec<FieldValue> {
    let form = data.form("case-facts");
    t.facts
        .iter()
        .map(|(field, v)| {
            let kind = form.and_then(|f| f.field(field)).map(|f| f.kind);
            let value = match (*v, kind) {
                (FactValue::Bool(b), _) => Value::Boolean(b),
                (FactValue::Date(d), _) => Value::Date(Date { year: d.year, month: d.month, day: d.day }),
                (FactValue::Number(n), Some(FieldKind::Money)) => Value::Money((n * 100.0).round() as i64),
                (FactValue::Number(n), Some(FieldKind::Integer)) => Value::Integer(n as i64),
                (FactValue::Number(n), _) => Value::Decimal(n),
                (FactValue::Str(s), Some(FieldKind::Choice)) => Value::Choice(s.to_string()),
                (FactValue::Str(s), _) => Value::Text(s.to_string()),
            };
            FieldValue { field: field.to_string(), value }
        })
        .collect()
}

/// Runs every self-test of `D` natively; returns one line per failure.
pub fn run_self_tests<D: Domain>() -> Vec<String> {
    let mut failures = Vec::new();
    for t in D::DATA.self_tests {
        match entry::assess::<D>(t.item, facts_of(D::DATA, t)) {
            Err(e) => failures.push(format!("{}: assessment failed: {e:?}", t.name)),
            Ok(a) => {
                if a.tier != t.tier {
                    failures.push(format!("{}: tier {} where {} was expected", t.name, a.tier, t.tier));
                }
                let got = a.fine_range.map(|r| (r.min, r.max));
                if got != t.fine {
                    failures.push(format!("{}: fine {:?} fen where {:?} was expected", t.name, got, t.fine));
                }
            }
        }
    }
    failures
}
