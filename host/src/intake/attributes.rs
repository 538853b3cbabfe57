//! A report's `attributes`: the domain's own report-form fields, bounded while they are read.
//! An anonymous caller sends them, so no more is ever built in memory than a report form can
//! hold: at most [`MAX_ATTRIBUTES`] names of at most [`MAX_NAME_BYTES`], each value nested at most
//! [`MAX_DEPTH`] deep and at most [`MAX_VALUE_BYTES`], all of them at most [`MAX_TOTAL_BYTES`].
//! What goes past a bound is skipped unread (no value is built of it) and remembered, so that
//! [`Attributes::check`] refuses the report with an error naming the field.

use crate::api_error::ApiError;
use axum::http::StatusCode;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::collections::BTreeMap;

pub const MAX_ATTRIBUTES: usize = 64;
pub const MAX_NAME_BYTES: usize = 64;
/// An attribute's value, and one level below it (a multi-choice's list), and one more.
pub const MAX_DEPTH: usize = 3;
/// Text bytes of a value, and 8 for each number, flag, list or object in it.
pub const MAX_VALUE_BYTES: usize = 16 << 10;
pub const MAX_TOTAL_BYTES: usize = 64 << 10;

/// What went past a bound first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Over {
    Count,
    Name,
    Depth(String),
    Value(String),
    Total,
}

/// The attributes by field id, as far as they were within bounds.
#[derive(Clone, Debug, Default)]
pub struct Attributes {
    map: BTreeMap<String, Value>,
    over: Option<Over>,
}

impl Attributes {
    /// 413 or 400 naming the field when the attributes went past a bound.
    pub fn check(&self) -> Result<(), ApiError> {
        let Some(over) = &self.over else { return Ok(()) };
        let large = StatusCode::PAYLOAD_TOO_LARGE;
        Err(match over {
            Over::Count => ApiError::new(large, "too-many-attributes", format!("at most {MAX_ATTRIBUTES} attributes"))
                .field("attributes"),
            Over::Name => ApiError::new(
                StatusCode::BAD_REQUEST,
                "attribute-name-too-long",
                format!("an attribute's name is at most {MAX_NAME_BYTES} bytes"),
            )
            .field("attributes"),
            Over::Depth(name) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "attribute-too-deep",
                format!("an attribute's value is nested at most {MAX_DEPTH} deep"),
            )
            .field(format!("attributes.{name}")),
            Over::Value(name) => ApiError::new(
                large,
                "attribute-too-large",
                format!("an attribute's value is at most {} KiB", MAX_VALUE_BYTES >> 10),
            )
            .field(format!("attributes.{name}")),
            Over::Total => ApiError::new(
                large,
                "attributes-too-large",
                format!("the attributes are at most {} KiB in all", MAX_TOTAL_BYTES >> 10),
            )
            .field("attributes"),
        })
    }

    pub fn map(&self) -> &BTreeMap<String, Value> {
        &self.map
    }
}

impl std::ops::Deref for Attributes {
    type Target = BTreeMap<String, Value>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

/// Attributes collected by the server itself (Open311's form fields): measured by the same bounds.
impl From<BTreeMap<String, Value>> for Attributes {
    fn from(map: BTreeMap<String, Value>) -> Self {
        let object = Value::Object(map.into_iter().collect());
        serde::Deserialize::deserialize(object)
            .unwrap_or_else(|_| Attributes { map: BTreeMap::new(), over: Some(Over::Total) })
    }
}

impl serde::Serialize for Attributes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(Top)
    }
}

struct Top;

impl<'de> Visitor<'de> for Top {
    type Value = Attributes;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object of attributes by field id")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Attributes, A::Error> {
        let mut out = Attributes::default();
        let mut total = 0;
        while let Some(name) = m.next_key_seed(Name(MAX_NAME_BYTES))? {
            if out.over.is_some() {
                m.next_value::<IgnoredAny>()?;
                continue;
            }
            let Some(name) = name else {
                out.over = Some(Over::Name);
                m.next_value::<IgnoredAny>()?;
                continue;
            };
            if out.map.len() >= MAX_ATTRIBUTES {
                out.over = Some(Over::Count);
                m.next_value::<IgnoredAny>()?;
                continue;
            }
            let budget = MAX_VALUE_BYTES.min(MAX_TOTAL_BYTES.saturating_sub(total + name.len()));
            let mut meter = Meter { left: budget, over: None };
            let v = m.next_value_seed(Bounded { depth: 1, meter: &mut meter })?;
            out.over = match meter.over {
                None => None,
                Some(Past::Depth) => Some(Over::Depth(name.clone())),
                Some(Past::Size) if budget < MAX_VALUE_BYTES => Some(Over::Total),
                Some(Past::Size) => Some(Over::Value(name.clone())),
            };
            total += name.len() + budget - meter.left;
            out.map.insert(name, v);
        }
        Ok(out)
    }
}

/// A key of at most so many bytes (none when longer: it is never copied).
struct Name(usize);

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Option<String>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a name")
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok((s.len() <= self.0).then(|| s.to_string()))
    }
}

#[derive(Clone, Copy)]
enum Past {
    Depth,
    Size,
}

/// What a value may still cost, and the first bound it went past.
struct Meter {
    left: usize,
    over: Option<Past>,
}

impl Meter {
    /// Charges `n`; false (and remembered) when that is more than is left.
    fn charge(&mut self, n: usize) -> bool {
        if self.over.is_some() {
            return false;
        }
        match self.left.checked_sub(n) {
            Some(l) => {
                self.left = l;
                true
            }
            None => {
                self.over = Some(Past::Size);
                false
            }
        }
    }
}

/// One JSON value at `depth`, built only while it is within its meter.
struct Bounded<'m> {
    depth: usize,
    meter: &'m mut Meter,
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

const NODE: usize = 8;

impl Bounded<'_> {
    fn scalar(self, v: impl FnOnce() -> Value, cost: usize) -> Value {
        if self.meter.charge(cost) { v() } else { Value::Null }
    }

    /// Whether a list or an object may be opened here.
    fn open(&mut self) -> bool {
        if self.depth > MAX_DEPTH {
            if self.meter.over.is_none() {
                self.meter.over = Some(Past::Depth);
            }
            return false;
        }
        self.meter.charge(NODE)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(self.scalar(|| Value::Bool(b), NODE))
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Value, E> {
        Ok(self.scalar(|| Value::from(n), NODE))
    }
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Value, E> {
        Ok(self.scalar(|| Value::from(n), NODE))
    }
    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Value, E> {
        Ok(self.scalar(|| Value::from(n), NODE))
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(self.scalar(|| Value::String(s.to_string()), NODE + s.len()))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(self.scalar(|| Value::Null, NODE))
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut s: A) -> Result<Value, A::Error> {
        let mut list = Vec::new();
        if self.open() {
            while self.meter.over.is_none() {
                match s.next_element_seed(Bounded { depth: self.depth + 1, meter: &mut *self.meter })? {
                    Some(v) => list.push(v),
                    None => return Ok(Value::Array(list)),
                }
            }
        }
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut m: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        if self.open() {
            while self.meter.over.is_none() {
                let Some(key) = m.next_key_seed(Name(self.meter.left))? else { return Ok(Value::Object(object)) };
                let Some(key) = key.filter(|k| self.meter.charge(k.len())) else {
                    self.meter.over = Some(Past::Size);
                    m.next_value::<IgnoredAny>()?;
                    break;
                };
                let v = m.next_value_seed(Bounded { depth: self.depth + 1, meter: &mut *self.meter })?;
                object.insert(key, v);
            }
        }
        while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Attributes {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn attributes_within_bounds_are_read_whole() {
        let a = read(r#"{"storeys": 3, "uses": ["shop", "home"], "note": "楼顶", "fine": 1.5, "ok": true, "x": null}"#);
        assert!(a.check().is_ok());
        assert_eq!(a["uses"], serde_json::json!(["shop", "home"]));
        assert_eq!(a.len(), 6);
        assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(a.map()).unwrap());
    }

    #[test]
    fn each_bound_is_refused_by_its_field_and_nothing_past_it_is_built() {
        let code = |a: &Attributes| {
            let e = a.check().unwrap_err();
            (e.status.as_u16(), e.code, e.field.unwrap_or_default())
        };
        let many: String = (0..MAX_ATTRIBUTES + 1).map(|i| format!("\"k{i}\":1")).collect::<Vec<_>>().join(",");
        let a = read(&format!("{{{many}}}"));
        assert_eq!(code(&a), (413, "too-many-attributes", "attributes".into()));
        assert_eq!(a.len(), MAX_ATTRIBUTES);
        let a = read(&format!("{{\"{}\":1}}", "n".repeat(MAX_NAME_BYTES + 1)));
        assert_eq!(code(&a), (400, "attribute-name-too-long", "attributes".into()));
        assert!(a.is_empty());
        let a = read(r#"{"deep": [[[[1]]]]}"#);
        assert_eq!(code(&a), (400, "attribute-too-deep", "attributes.deep".into()));
        assert!(read(r#"{"deep": [[[1]]]}"#).check().is_ok());
        let a = read(&format!("{{\"big\":\"{}\"}}", "x".repeat(MAX_VALUE_BYTES)));
        assert_eq!(code(&a), (413, "attribute-too-large", "attributes.big".into()));
        assert_eq!(a["big"], Value::Null, "the long text is not kept");
        let a = read(&format!("{{\"big\":[{}0]}}", "0,".repeat(MAX_VALUE_BYTES)));
        assert_eq!(code(&a), (413, "attribute-too-large", "attributes.big".into()));
        let a = read(&format!("{{\"o\":{{\"{}\":1}}}}", "k".repeat(MAX_VALUE_BYTES)));
        assert_eq!(code(&a), (413, "attribute-too-large", "attributes.o".into()));
        let half = "x".repeat(MAX_VALUE_BYTES - 100);
        let five: String = (0..5).map(|i| format!("\"t{i}\":\"{half}\"")).collect::<Vec<_>>().join(",");
        let a = read(&format!("{{{five}}}"));
        assert_eq!(code(&a), (413, "attributes-too-large", "attributes".into()));
    }

    #[test]
    fn a_map_the_server_collected_is_measured_the_same_way() {
        let mut m = BTreeMap::new();
        m.insert("note".to_string(), Value::String("x".repeat(MAX_VALUE_BYTES)));
        assert_eq!(Attributes::from(m).check().unwrap_err().code, "attribute-too-large");
        let mut m = BTreeMap::new();
        m.insert("storeys".to_string(), Value::from(3));
        let a = Attributes::from(m);
        assert!(a.check().is_ok());
        assert_eq!(a["storeys"], 3);
    }
}
