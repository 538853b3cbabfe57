//! The checks every domain's forms share, keyed by the conventional field ids of the report, the
//! inspection record and the case facts. [`crate::Domain::check_form`] runs them by default; a
//! domain that adds its own checks calls [`standard`] first.

use crate::data::Form;
use crate::{Facts, FieldError, field_error, ids, time};

/// The shared checks, applied to whichever of their fields `form` has.
pub fn standard(form: &Form, values: &Facts, errors: &mut Vec<FieldError>) {
    let has = |id: &str| form.field(id).is_some();
    // A report nobody can find cannot be dispatched: a point or an address is needed.
    if form.id == "report"
        && has("location")
        && values.get("location").is_none()
        && values.text("address").is_none_or(|a| a.trim().is_empty())
    {
        errors.push(field_error(
            "location",
            "location-required",
            "请在地图上选点或者填写地址",
            "give a map point or an address",
        ));
    }
    // APL art. 42: at least two officers, so the same certificate twice is one officer.
    if let (Some(a), Some(b)) = (values.text("officer_1"), values.text("officer_2"))
        && a.eq_ignore_ascii_case(b)
    {
        errors.push(field_error(
            "officer_2",
            "same-officer",
            "两名执法人员不能是同一人",
            "the two officers must be different people",
        ));
    }
    // APL art. 55: officers show their certificates; evidence taken without it is open to challenge.
    if values.bool("ids_shown") == Some(false) {
        errors.push(field_error(
            "ids_shown",
            "must-be-true",
            "调查检查时应当主动出示执法证件",
            "officers must show their certificates",
        ));
    }
    // A mistyped number must be caught here, not on a decision served to the wrong party.
    if let Some(id) = values.text("party_id") {
        let ok = match values.text("party_kind") {
            Some("person") => ids::resident_id_valid(id),
            Some("organisation") => ids::credit_code_valid(id),
            _ => true,
        };
        if !ok {
            errors.push(field_error(
                "party_id",
                "check-digit",
                "证件号码校验位不正确",
                "the number's check digit is wrong",
            ));
        }
    }
    if has("refusal_note")
        && values.bool("party_signed") == Some(false)
        && values.text("refusal_note").is_none_or(|n| n.trim().is_empty())
    {
        errors.push(field_error(
            "refusal_note",
            "required",
            "当事人未签名的，应当注明情况",
            "record why the party did not sign",
        ));
    }
    // Contradictory answers would let the most lenient tier win.
    if values.bool("corrected_promptly") == Some(true) && values.bool("refused_to_correct") == Some(true) {
        errors.push(field_error(
            "refused_to_correct",
            "contradiction",
            "不能同时认定“及时改正”和“拒不改正”",
            "cannot be both corrected promptly and refused to correct",
        ));
    }
    // APL art. 36: a continuing act counts from its end, which cannot precede its start.
    if let (Some(start), Some(end)) = (values.date("act_date"), values.date("act_end_date"))
        && time::ymd(&end) < time::ymd(&start)
    {
        errors.push(field_error(
            "act_end_date",
            "before-start",
            "终了日期早于发生日期",
            "the act cannot end before it began",
        ));
    }
}
