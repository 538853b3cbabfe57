//! The labour inspection (劳动监察) domain plugin: its rules are data (`checklist.toml`,
//! `forms.toml`, `plugin.toml`, `golden.toml`); this file exports them.

#![forbid(unsafe_code)]

use casegrid_plugin_sdk::Domain;

casegrid_plugin_sdk::include_domain!();

pub struct Labour;

// The shared checks of every domain's forms (two distinct officers, certificates shown, check digits,
// refusals recorded, no contradictory circumstances) are all this domain needs beyond its data.
impl Domain for Labour {
    const DATA: &'static casegrid_plugin_sdk::data::Domain = &DOMAIN;
}

casegrid_plugin_sdk::export_domain!(Labour);
casegrid_plugin_sdk::domain_tests!(Labour, min_penalty_items = 12);

#[cfg(test)]
mod tests {
    use super::*;
    use casegrid_plugin_sdk::entry;

    #[test]
    fn citizens_words_reach_the_right_category() {
        let best = |t: &str| entry::classify::<Labour>(t).first().map(|s| s.category.clone());
        assert_eq!(
            best("我在城南工业园一个电子厂干了三个月，老板一直拖欠工资，已经两个月没发了").as_deref(),
            Some("wage-arrears")
        );
        assert_eq!(
            best("滨江路那个小区工地上的包工头欠我们十几个农民工工资，说总包没拨钱，眼看过年回不了家").as_deref(),
            Some("migrant-wages")
        );
        assert_eq!(
            best("街口那家奶茶店招了好几个看着才十四五岁的孩子，天天在店里干活，怀疑是童工").as_deref(),
            Some("child-labour")
        );
        assert_eq!(
            best("The electronics factory on Xinhua Road makes us work 12-hour shifts with no day off for the whole month").as_deref(),
            Some("working-hours")
        );
        assert_eq!(best("公园里的路灯坏了"), None);
    }
}
