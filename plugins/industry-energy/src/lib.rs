//! The industry & energy (工业能源) domain plugin: its rules are data (`checklist.toml`,
//! `forms.toml`, `plugin.toml`, `golden.toml`); this file exports them.

#![forbid(unsafe_code)]

use casegrid_plugin_sdk::Domain;

casegrid_plugin_sdk::include_domain!();

pub struct IndustryEnergy;

// The shared checks of every domain's forms (two distinct officers, certificates shown, check digits,
// refusals recorded, no contradictory circumstances) are all this domain needs beyond its data.
impl Domain for IndustryEnergy {
    const DATA: &'static casegrid_plugin_sdk::data::Domain = &DOMAIN;
}

casegrid_plugin_sdk::export_domain!(IndustryEnergy);
casegrid_plugin_sdk::domain_tests!(IndustryEnergy, min_penalty_items = 12);

#[cfg(test)]
mod tests {
    use super::*;
    use casegrid_plugin_sdk::entry;

    #[test]
    fn citizens_words_reach_the_right_category() {
        let best = |t: &str| entry::classify::<IndustryEnergy>(t).first().map(|s| s.category.clone());
        assert_eq!(
            best("村口小卖部老板在电表前面私接了一根线，绕过电表偷电，已经好几个月了").as_deref(),
            Some("electricity-theft")
        );
        assert_eq!(
            best("开发区那条输油管道上方有挖掘机在挖土，管道标志桩都被推倒了").as_deref(),
            Some("oil-gas-pipeline")
        );
        assert_eq!(best("小区外面有小孩在高压线下面放风筝，风筝都挂在高压线上了").as_deref(), Some("power-facilities"));
        assert_eq!(
            best("The shop on Binhai Road sells air conditioners with no energy label at all").as_deref(),
            Some("energy-conservation")
        );
        assert_eq!(best("楼上装修把承重墙砸了，我们很担心"), None);
    }
}
