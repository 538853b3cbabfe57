//! The housing & construction (住房建设) domain plugin: its rules are data (`checklist.toml`,
//! `forms.toml`, `plugin.toml`, `golden.toml`); this file adds the checks the data cannot express.

#![forbid(unsafe_code)]

use casegrid_plugin_sdk::data::Form;
use casegrid_plugin_sdk::{Domain, Facts, FieldError, field_error, ids, time};

casegrid_plugin_sdk::include_domain!();

pub struct Housing;

impl Domain for Housing {
    const DATA: &'static casegrid_plugin_sdk::data::Domain = &DOMAIN;

    fn check_form(form: &'static Form, values: &Facts, errors: &mut Vec<FieldError>) {
        match form.id {
            "report"
                // A report nobody can find cannot be dispatched: a point or an address is needed.
                if values.get("location").is_none() && values.text("address").is_none_or(|a| a.trim().is_empty()) => {
                    errors.push(field_error("location", "location-required", "请在地图上选点或者填写地址", "give a map point or an address"));
                }
            "inspection" => inspection(values, errors),
            "case-facts" => {
                // Contradictory answers would let the most lenient tier win.
                if values.bool("corrected_promptly") == Some(true) && values.bool("refused_to_correct") == Some(true) {
                    errors.push(field_error(
                        "refused_to_correct",
                        "contradiction",
                        "不能同时认定“及时改正”和“拒不改正”",
                        "cannot be both corrected promptly and refused to correct",
                    ));
                }
                if let (Some(start), Some(end)) = (values.date("act_date"), values.date("act_end_date"))
                    && time::ymd(&end) < time::ymd(&start)
                {
                    errors.push(field_error("act_end_date", "before-start", "终了日期早于发生日期", "the act cannot end before it began"));
                }
            }
            _ => {}
        }
    }
}

fn inspection(values: &Facts, errors: &mut Vec<FieldError>) {
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
    if values.bool("party_signed") == Some(false) && values.text("refusal_note").is_none_or(|n| n.trim().is_empty()) {
        errors.push(field_error(
            "refusal_note",
            "required",
            "当事人未签名的，应当注明情况",
            "record why the party did not sign",
        ));
    }
}

casegrid_plugin_sdk::export_domain!(Housing);

#[cfg(test)]
mod tests {
    use super::*;
    use casegrid_plugin_sdk::bindings::exports::casegrid::domain::types::{Attachment, Datetime};
    use casegrid_plugin_sdk::{FieldValue, Value, entry, testing};

    fn v(field: &str, value: Value) -> FieldValue {
        FieldValue { field: field.into(), value }
    }

    #[test]
    fn the_data_is_sound() {
        assert_eq!(testing::check_data::<Housing>(), Vec::<String>::new());
        assert!(
            DOMAIN.checklist.iter().filter(|i| i.kind == casegrid_plugin_sdk::data::ItemKind::Penalty).count() >= 10
        );
    }

    /// Golden vectors: facts in, the statute's range out (computed by hand in golden.toml).
    #[test]
    fn golden_vectors_give_the_statutes_ranges() {
        assert!(DOMAIN.self_tests.len() >= 4);
        assert_eq!(testing::run_self_tests::<Housing>(), Vec::<String>::new());
    }

    fn codes(errors: &[FieldError]) -> Vec<(&str, &str)> {
        errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect()
    }

    #[test]
    fn an_inspection_record_needs_two_officers_shown_ids_and_a_valid_party_number() {
        let now = time::reference_seconds();
        let values = vec![
            v("inspected_at", Value::Datetime(Datetime { seconds: now - 3600, offset_minutes: 480 })),
            v("address", Value::Text("海城区北部湾中路88号".into())),
            v("officer_1", Value::Text("GX0501001".into())),
            v("officer_2", Value::Text("gx0501001".into())),
            v("ids_shown", Value::Boolean(false)),
            v("party_kind", Value::Choice("organisation".into())),
            v("party_name", Value::Text("北海某建设有限公司".into())),
            v("party_id", Value::Text("914403001922038217".into())),
            v("findings", Value::Text("现场正在施工，未能出示建设工程规划许可证".into())),
            v(
                "evidence",
                Value::Attachments(vec![Attachment {
                    id: "a1".into(),
                    media_type: "image/jpeg".into(),
                    size_bytes: 1,
                }]),
            ),
            v("party_signed", Value::Boolean(false)),
        ];
        let errors = entry::validate::<Housing>("inspection", values).unwrap();
        assert_eq!(
            codes(&errors),
            vec![
                ("officer_2", "same-officer"),
                ("ids_shown", "must-be-true"),
                ("party_id", "check-digit"),
                ("refusal_note", "required")
            ]
        );
    }

    #[test]
    fn a_report_is_checked_against_its_form() {
        let errors = entry::validate::<Housing>(
            "report",
            vec![
                v("description", Value::Text("楼顶".into())),
                v("contact_phone", Value::Text("12345".into())),
                v("color", Value::Text("red".into())),
            ],
        )
        .unwrap();
        assert_eq!(
            codes(&errors),
            vec![
                ("color", "unknown-field"),
                ("description", "too-short"),
                ("contact_phone", "pattern"),
                ("location", "location-required")
            ]
        );
        assert!(entry::validate::<Housing>("nope", vec![]).is_err());
    }

    #[test]
    fn a_future_act_date_is_refused() {
        let errors = entry::validate::<Housing>(
            "case-facts",
            vec![
                v("party_kind", Value::Choice("person".into())),
                v(
                    "act_date",
                    Value::Date(casegrid_plugin_sdk::bindings::exports::casegrid::domain::types::Date {
                        year: 2999,
                        month: 1,
                        day: 1,
                    }),
                ),
            ],
        )
        .unwrap();
        assert_eq!(codes(&errors), vec![("act_date", "in-future")]);
    }

    #[test]
    fn citizens_words_reach_the_right_category() {
        let best = |t: &str| entry::classify::<Housing>(t).first().map(|s| s.category.clone());
        assert_eq!(best("我家楼下有人在楼顶私自加盖铁皮房，已经搭了好几天了").as_deref(), Some("illegal-construction"));
        assert_eq!(best("半夜渣土车在路边偷倒建筑垃圾").as_deref(), Some("construction-waste"));
        assert_eq!(best("楼上装修把承重墙砸了，我们很担心").as_deref(), Some("renovation-structure"));
        assert_eq!(best("Someone is dumping construction waste by the river").as_deref(), Some("construction-waste"));
        assert_eq!(best("公园里的路灯坏了"), None);
    }
}
