//! The culture & tourism (文化旅游) domain plugin: its rules are data (`checklist.toml`,
//! `forms.toml`, `plugin.toml`, `golden.toml`); this file exports them.

#![forbid(unsafe_code)]

use casegrid_plugin_sdk::Domain;

casegrid_plugin_sdk::include_domain!();

pub struct CultureTourism;

// The shared checks of every domain's forms (two distinct officers, certificates shown, check digits,
// refusals recorded, no contradictory circumstances) are all this domain needs beyond its data.
impl Domain for CultureTourism {
    const DATA: &'static casegrid_plugin_sdk::data::Domain = &DOMAIN;
}

casegrid_plugin_sdk::export_domain!(CultureTourism);
casegrid_plugin_sdk::domain_tests!(CultureTourism, min_penalty_items = 12);

#[cfg(test)]
mod tests {
    use super::*;
    use casegrid_plugin_sdk::entry;

    #[test]
    fn citizens_words_reach_the_right_category() {
        let best = |t: &str| entry::classify::<CultureTourism>(t).first().map(|s| s.category.clone());
        assert_eq!(
            best("人民路那家星空网咖天天有穿校服的学生进去，昨晚十一点多还看见几个小孩在里面打游戏，老板也不查身份证")
                .as_deref(),
            Some("internet-cafe")
        );
        assert_eq!(
            best("报了个199元的云南六日游，导游天天带我们进店买玉，谁不买就甩脸色，说不买不让走").as_deref(),
            Some("tour-shopping")
        );
        assert_eq!(
            best("老街上那座清代祠堂是县级文物保护单位，这两天有人在旁边挖地基，祠堂的墙都裂了").as_deref(),
            Some("cultural-relics")
        );
        assert_eq!(
            best(
                "Every evening a street stall outside Exit B of the metro station sells pirated books and study guides"
            )
            .as_deref(),
            Some("publications")
        );
    }
}
