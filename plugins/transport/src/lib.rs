//! The transport (交通运输) domain plugin: its rules are data (`checklist.toml`, `forms.toml`,
//! `plugin.toml`, `golden.toml`); this file exports them.

#![forbid(unsafe_code)]

use casegrid_plugin_sdk::Domain;

casegrid_plugin_sdk::include_domain!();

pub struct Transport;

// The shared checks of every domain's forms (two distinct officers, certificates shown, check digits,
// refusals recorded, no contradictory circumstances) are all this domain needs beyond its data.
impl Domain for Transport {
    const DATA: &'static casegrid_plugin_sdk::data::Domain = &DOMAIN;
}

casegrid_plugin_sdk::export_domain!(Transport);
casegrid_plugin_sdk::domain_tests!(Transport, min_penalty_items = 12);

#[cfg(test)]
mod tests {
    use super::*;
    use casegrid_plugin_sdk::entry;

    #[test]
    fn citizens_words_reach_the_right_category() {
        let best = |t: &str| entry::classify::<Transport>(t).first().map(|s| s.category.clone());
        assert_eq!(
            best("火车站出站口天天有私家车拉客，去县城每人收50块，都是没有营运证的黑车").as_deref(),
            Some("illegal-passenger-transport")
        );
        assert_eq!(
            best("国道320线那边有大货车超载，装得比车还高，路面都压坏了").as_deref(),
            Some("overloaded-vehicles")
        );
        assert_eq!(
            best("小区门口那家汽修厂给我换的是假配件，还说是原厂的").as_deref(),
            Some("repair-and-driving-school")
        );
        assert_eq!(
            best("The taxi driver refused to use the meter and took a long detour from the airport").as_deref(),
            Some("taxi-ride-hailing")
        );
        assert_eq!(best("公园里的路灯坏了"), None);
    }
}
