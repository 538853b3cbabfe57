//! The housing & construction (住房建设) domain plugin: its rules are data (`checklist.toml`,
//! `forms.toml`, `plugin.toml`, `golden.toml`); this file exports them.

#![forbid(unsafe_code)]

use casegrid_plugin_sdk::Domain;

casegrid_plugin_sdk::include_domain!();

pub struct Housing;

// The shared checks of every domain's forms (two distinct officers, certificates shown, check digits,
// refusals recorded, no contradictory circumstances) are all this domain needs beyond its data.
impl Domain for Housing {
    const DATA: &'static casegrid_plugin_sdk::data::Domain = &DOMAIN;
}

casegrid_plugin_sdk::export_domain!(Housing);
casegrid_plugin_sdk::domain_tests!(Housing, min_penalty_items = 10);

#[cfg(test)]
mod tests {
    use super::*;
    use casegrid_plugin_sdk::bindings::exports::casegrid::domain::types::{Attachment, Datetime};
    use casegrid_plugin_sdk::{FieldError, FieldValue, Value, entry, time};

    fn v(field: &str, value: Value) -> FieldValue {
        FieldValue { field: field.into(), value }
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
