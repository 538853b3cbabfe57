//! The ecology & environment (生态环境) domain plugin: its rules are data (`checklist.toml`,
//! `forms.toml`, `plugin.toml`, `golden.toml`); this file exports them.

#![forbid(unsafe_code)]

use casegrid_plugin_sdk::Domain;

casegrid_plugin_sdk::include_domain!();

pub struct Ecology;

// The shared checks of every domain's forms (two distinct officers, certificates shown, check digits,
// refusals recorded, no contradictory circumstances) are all this domain needs beyond its data.
impl Domain for Ecology {
    const DATA: &'static casegrid_plugin_sdk::data::Domain = &DOMAIN;
}

casegrid_plugin_sdk::export_domain!(Ecology);
casegrid_plugin_sdk::domain_tests!(Ecology, min_penalty_items = 12);

#[cfg(test)]
mod tests {
    use super::*;
    use casegrid_plugin_sdk::entry;

    #[test]
    fn citizens_words_reach_the_right_category() {
        let best = |t: &str| entry::classify::<Ecology>(t).first().map(|s| s.category.clone());
        let cases = [
            ("小区旁边的工地天天尘土飞扬，也没盖防尘网，我家窗台上一天就落一层灰", "dust"),
            ("楼下新开的烧烤店油烟直接往我家窗户排，呛得晚上都不敢开窗", "cooking-fumes"),
            ("都晚上十二点了隔壁工地还在打桩，吵得孩子睡不着，已经连续一个星期了", "noise"),
            ("There is black smoke and a terrible smell coming from the factory chimney every night", "exhaust-odour"),
        ];
        for (text, category) in cases {
            assert_eq!(best(text).as_deref(), Some(category), "{text}");
        }
        assert_eq!(best("公园里的路灯坏了"), None);
    }
}
