//! The natural resources (自然资源) domain plugin: its rules are data (`checklist.toml`,
//! `forms.toml`, `plugin.toml`, `golden.toml`); this file exports them.

#![forbid(unsafe_code)]

use casegrid_plugin_sdk::Domain;

casegrid_plugin_sdk::include_domain!();

pub struct NaturalResources;

// The shared checks of every domain's forms (two distinct officers, certificates shown, check digits,
// refusals recorded, no contradictory circumstances) are all this domain needs beyond its data.
impl Domain for NaturalResources {
    const DATA: &'static casegrid_plugin_sdk::data::Domain = &DOMAIN;
}

casegrid_plugin_sdk::export_domain!(NaturalResources);
casegrid_plugin_sdk::domain_tests!(NaturalResources, min_penalty_items = 12);

#[cfg(test)]
mod tests {
    use super::*;
    use casegrid_plugin_sdk::entry;

    #[test]
    fn citizens_words_reach_the_right_category() {
        let best = |t: &str| entry::classify::<NaturalResources>(t).first().map(|s| s.category.clone());
        assert_eq!(
            best("我们村东头有人在基本农田上盖了三间砖房，村委会也不管，地都被占了").as_deref(),
            Some("land-occupation")
        );
        assert_eq!(best("河边这半个月天天晚上有人开着挖机偷偷挖沙，一车一车往外拉").as_deref(), Some("illegal-mining"));
        assert_eq!(best("后山那片松树林被人砍光了，听说是要毁林开荒种果树").as_deref(), Some("forest-damage"));
        assert_eq!(
            best("Someone smashed the survey marker on the hill behind our village last week").as_deref(),
            Some("surveying")
        );
        assert_eq!(best("小区门口的路灯坏了好几天"), None);
    }
}
