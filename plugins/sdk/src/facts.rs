//! Read access to the values of a form: the citizen's report, an inspection record, a case's facts.

use crate::bindings::exports::casegrid::domain::types::{Date, FieldValue, Value};

/// The values entered in a form, looked up by field id.
#[derive(Debug)]
pub struct Facts {
    values: Vec<FieldValue>,
}

impl Facts {
    pub fn new(values: Vec<FieldValue>) -> Self {
        Self { values }
    }

    pub fn all(&self) -> &[FieldValue] {
        &self.values
    }

    /// The first value given for `field`.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.values.iter().find(|v| v.field == field).map(|v| &v.value)
    }

    pub fn bool(&self, field: &str) -> Option<bool> {
        match self.get(field)? {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    pub fn text(&self, field: &str) -> Option<&str> {
        match self.get(field)? {
            Value::Text(s) | Value::Choice(s) => Some(s),
            _ => None,
        }
    }

    /// A money value, in fen.
    pub fn money(&self, field: &str) -> Option<i64> {
        match self.get(field)? {
            Value::Money(f) => Some(*f),
            _ => None,
        }
    }

    pub fn date(&self, field: &str) -> Option<Date> {
        match self.get(field)? {
            Value::Date(d) => Some(*d),
            _ => None,
        }
    }

    /// The value as a tier condition reads it: booleans as "true"/"false", choices as their value.
    pub fn condition_values(&self, field: &str) -> Vec<&str> {
        match self.get(field) {
            Some(Value::Boolean(true)) => vec!["true"],
            Some(Value::Boolean(false)) => vec!["false"],
            Some(Value::Choice(s)) | Some(Value::Text(s)) => vec![s.as_str()],
            Some(Value::MultiChoice(v)) => v.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }
}
