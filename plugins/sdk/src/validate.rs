//! The standard validation of a form's values against its declared fields and constraints. Each
//! problem is a [`FieldError`] with a stable code: `unknown-field`, `duplicate`, `required`,
//! `wrong-kind`, `out-of-range`, `too-short`, `too-long`, `pattern`, `not-an-option`, `in-future`,
//! `invalid-date`, `too-many`, `media-type`, `invalid-geo`.

use crate::bindings::exports::casegrid::domain::types::Value;
use crate::data::{Constraint, Field, FieldKind, Form};
use crate::{Facts, FieldError, field_error, time};

/// All problems with `values` as an entry of `form`; empty when valid.
pub fn form(form: &Form, values: &Facts) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, v) in values.all().iter().enumerate() {
        if form.field(&v.field).is_none() {
            errors.push(field_error(&v.field, "unknown-field", "表单中没有此字段", "the form has no such field"));
        } else if values.all()[..i].iter().any(|w| w.field == v.field) {
            errors.push(field_error(&v.field, "duplicate", "此字段填写了多次", "the field is given more than once"));
        }
    }
    for f in form.fields {
        match values.get(f.id) {
            None => {
                if f.required {
                    errors.push(field_error(f.id, "required", "此项必填", "this field is required"));
                }
            }
            Some(v) => value(f, v, &mut errors),
        }
    }
    errors
}

fn kind_matches(kind: FieldKind, v: &Value) -> bool {
    matches!(
        (kind, v),
        (FieldKind::Text | FieldKind::LongText, Value::Text(_))
            | (FieldKind::Integer, Value::Integer(_))
            | (FieldKind::Decimal, Value::Decimal(_) | Value::Integer(_))
            | (FieldKind::Money, Value::Money(_))
            | (FieldKind::Date, Value::Date(_))
            | (FieldKind::Datetime, Value::Datetime(_))
            | (FieldKind::Choice, Value::Choice(_))
            | (FieldKind::MultiChoice, Value::MultiChoice(_))
            | (FieldKind::Boolean, Value::Boolean(_))
            | (FieldKind::GeoPoint, Value::Geo(_))
            | (FieldKind::Attachment, Value::Attachments(_))
    )
}

fn value(f: &Field, v: &Value, errors: &mut Vec<FieldError>) {
    let id = f.id;
    if !kind_matches(f.kind, v) {
        errors.push(field_error(id, "wrong-kind", "填写的值类型不符", "the value is not of the field's kind"));
        return;
    }
    if f.required && is_empty(v) {
        errors.push(field_error(id, "required", "此项必填", "this field is required"));
        return;
    }
    match v {
        Value::Date(d) if !time::is_valid(d) => {
            errors.push(field_error(id, "invalid-date", "不是有效的日期", "not a calendar date"));
            return;
        }
        Value::Geo(g) if !(g.lat.is_finite() && g.lon.is_finite() && g.lat.abs() <= 90.0 && g.lon.abs() <= 180.0) => {
            errors.push(field_error(id, "invalid-geo", "坐标不是有效的WGS84经纬度", "not a WGS84 latitude/longitude"));
            return;
        }
        Value::Decimal(x) if !x.is_finite() => {
            errors.push(field_error(id, "out-of-range", "数值无效", "not a finite number"));
            return;
        }
        _ => {}
    }
    let before = errors.len();
    for c in f.constraints {
        // A text already refused for its length is not also run through its pattern.
        if matches!(c, Constraint::Pattern(_)) && errors.len() > before {
            continue;
        }
        constraint(id, c, v, errors);
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Text(s) | Value::Choice(s) => s.trim().is_empty(),
        Value::MultiChoice(l) => l.is_empty(),
        Value::Attachments(l) => l.is_empty(),
        _ => false,
    }
}

fn constraint(id: &str, c: &Constraint, v: &Value, errors: &mut Vec<FieldError>) {
    match (c, v) {
        (Constraint::Range { min, max }, _) => {
            let x = match v {
                Value::Integer(i) => *i as f64,
                Value::Decimal(d) => *d,
                // Money bounds are declared in yuan; values arrive in fen.
                Value::Money(f) => *f as f64 / 100.0,
                _ => return,
            };
            if min.is_some_and(|m| x < m) || max.is_some_and(|m| x > m) {
                let range = format!("{}–{}", fmt_bound(*min), fmt_bound(*max));
                errors.push(FieldError {
                    field: id.to_string(),
                    code: "out-of-range".into(),
                    message: crate::text(
                        &format!("数值应在 {range} 之间"),
                        &format!("the value must lie within {range}"),
                    ),
                });
            }
        }
        (Constraint::Length { min, max }, Value::Text(s)) => {
            let n = s.chars().count() as u32;
            if min.is_some_and(|m| n < m) {
                errors.push(field_error(
                    id,
                    "too-short",
                    "填写内容过短",
                    "the text is too short",
                ));
            }
            if max.is_some_and(|m| n > m) {
                errors.push(field_error(
                    id,
                    "too-long",
                    "填写内容过长",
                    "the text is too long",
                ));
            }
        }
        (Constraint::Pattern(p), Value::Text(s))
            // The portable subset, checked at build time; the whole text must match.
            if !crate::pattern::full_match(p, s) => {
                errors.push(field_error(
                    id,
                    "pattern",
                    "格式不正确",
                    "the text is not in the required format",
                ));
            }
        (Constraint::Options(opts), Value::Choice(s)) if !opts.iter().any(|o| o.value == s) => {
            errors.push(field_error(
                id,
                "not-an-option",
                "不是可选项之一",
                "not one of the options",
            ));
        }
        (Constraint::Options(opts), Value::MultiChoice(l))
            if l.iter().any(|s| !opts.iter().any(|o| o.value == s)) =>
        {
            errors.push(field_error(
                id,
                "not-an-option",
                "含有不在可选项中的值",
                "a value is not one of the options",
            ));
        }
        (Constraint::NotFuture, Value::Date(d)) if time::ymd(d) > time::ymd(&time::today()) => {
            errors.push(field_error(
                id,
                "in-future",
                "日期不能晚于今天",
                "the date may not be in the future",
            ));
        }
        (Constraint::NotFuture, Value::Datetime(dt)) if dt.seconds > time::reference_seconds() => {
            errors.push(field_error(
                id,
                "in-future",
                "时间不能晚于当前时间",
                "the time may not be in the future",
            ));
        }
        (Constraint::MaxCount(n), Value::MultiChoice(l)) if l.len() > *n as usize => {
            errors.push(field_error(
                id,
                "too-many",
                "选择的项目过多",
                "too many values",
            ));
        }
        (Constraint::MaxCount(n), Value::Attachments(l)) if l.len() > *n as usize => {
            errors.push(field_error(
                id,
                "too-many",
                "附件数量过多",
                "too many attachments",
            ));
        }
        (Constraint::MediaTypes(types), Value::Attachments(l))
            if l.iter().any(|a| !types.contains(&a.media_type.as_str())) =>
        {
            errors.push(field_error(
                id,
                "media-type",
                "附件类型不允许",
                "an attachment's type is not allowed",
            ));
        }
        _ => {}
    }
}

fn fmt_bound(b: Option<f64>) -> String {
    b.map(|x| x.to_string()).unwrap_or_else(|| "…".into())
}
