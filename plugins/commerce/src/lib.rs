//! The commerce (商务) domain plugin: its rules are data (`checklist.toml`, `forms.toml`,
//! `plugin.toml`, `golden.toml`); this file exports them.

#![forbid(unsafe_code)]

use casegrid_plugin_sdk::Domain;

casegrid_plugin_sdk::include_domain!();

pub struct Commerce;

// The shared checks of every domain's forms (two distinct officers, certificates shown, check digits,
// refusals recorded, no contradictory circumstances) are all this domain needs beyond its data.
impl Domain for Commerce {
    const DATA: &'static casegrid_plugin_sdk::data::Domain = &DOMAIN;
}

casegrid_plugin_sdk::export_domain!(Commerce);
casegrid_plugin_sdk::domain_tests!(Commerce, min_penalty_items = 12);

#[cfg(test)]
mod tests {
    use super::*;
    use casegrid_plugin_sdk::entry;

    #[test]
    fn citizens_words_reach_the_right_category() {
        let best = |t: &str| entry::classify::<Commerce>(t).first().map(|s| s.category.clone());
        assert_eq!(
            best("城东工业园后面那个废品站天天收报废车，晚上在院子里拆发动机、车架，拆下来的零件直接拉走卖，听说根本没有拆解资质").as_deref(),
            Some("scrapped-vehicle")
        );
        assert_eq!(
            best("上周六在金海湾酒店的拍卖会上，我看中的一幅字画一直被两个人轮流举牌抬价，后来发现其中一个是拍卖公司的员工").as_deref(),
            Some("auction")
        );
        assert_eq!(
            best("去年花了8万块加盟一个奶茶品牌，签合同前什么资料都没给我看，后来才知道总部一家直营店都没有，现在要退加盟费也不退").as_deref(),
            Some("franchise")
        );
        assert_eq!(
            best("My neighbour keeps trying to recruit me into what is obviously a pyramid scheme: pay 3,000 yuan to join and earn from your downline").as_deref(),
            Some("pyramid-selling")
        );
        assert_eq!(best("公园里的路灯坏了"), None);
    }
}
