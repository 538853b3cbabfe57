//! The standard classification of a citizen's free text: keyword evidence per report category.
//!
//! Each matched keyword is independent evidence; a longer keyword is more specific and so stronger.
//! Scores combine as 1 − Π(1 − wᵢ), so they stay in 0..1 and grow with agreeing evidence, and the
//! matched keywords are returned so a dispatcher can see why a report was routed.

use crate::CategoryScore;
use crate::data::Category;

/// Scores `text` against every category; categories with no evidence are left out; best first.
pub fn keywords(categories: &[Category], text: &str) -> Vec<CategoryScore> {
    let lower = text.to_lowercase();
    let mut scores: Vec<CategoryScore> = categories
        .iter()
        .filter_map(|c| {
            let mut miss = 1.0f32;
            let mut matched = Vec::new();
            for k in c.keywords_zh {
                if all_parts(k, |part| text.contains(part)) {
                    miss *= 1.0 - weight(k.chars().filter(|c| *c != '+').count(), 0.10);
                    matched.push(k.to_string());
                }
            }
            for k in c.keywords_en {
                if all_parts(k, |part| contains_word(&lower, part)) {
                    miss *= 1.0 - weight(k.chars().filter(|c| *c != '+').count(), 0.04);
                    matched.push(k.to_string());
                }
            }
            (!matched.is_empty()).then(|| CategoryScore { category: c.code.to_string(), score: 1.0 - miss, matched })
        })
        .collect();
    scores.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.category.cmp(&b.category)));
    scores
}

/// Whether every `+`-separated part of a keyword is found: "耕地+建房" matches a citizen's
/// "在耕地上打地基建房子", where no single phrase would.
fn all_parts(keyword: &str, found: impl Fn(&str) -> bool) -> bool {
    !keyword.is_empty() && keyword.split('+').all(|part| !part.is_empty() && found(part))
}

/// A keyword's weight: 0.3 plus `per_char` for each character, at most 0.8.
fn weight(chars: usize, per_char: f32) -> f32 {
    (0.3 + per_char * chars as f32).min(0.8)
}

/// Whether `needle` (lower-case) occurs in `hay` (lower-case) on word boundaries.
fn contains_word(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, m)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + m.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{I18n, TimeLimit, TimeUnit};

    const T: I18n = I18n { zh: "x", en: "x" };
    const CATS: &[Category] = &[
        Category {
            code: "a",
            name: T,
            description: T,
            keywords_zh: &["违章建筑", "搭建"],
            keywords_en: &["illegal building"],
            response: TimeLimit { amount: 1, unit: TimeUnit::WorkingDays },
        },
        Category {
            code: "b",
            name: T,
            description: T,
            keywords_zh: &["噪音"],
            keywords_en: &["noise"],
            response: TimeLimit { amount: 1, unit: TimeUnit::WorkingDays },
        },
    ];

    #[test]
    fn more_evidence_scores_higher_and_unrelated_text_scores_nothing() {
        let one = keywords(CATS, "楼顶有人搭建");
        let two = keywords(CATS, "楼顶有人搭建违章建筑");
        assert_eq!(one[0].category, "a");
        assert!(two[0].score > one[0].score);
        assert!(keywords(CATS, "今天天气很好").is_empty());
    }

    #[test]
    fn a_keyword_of_parts_needs_them_all() {
        const PARTS: &[Category] = &[Category {
            code: "land",
            name: T,
            description: T,
            keywords_zh: &["耕地+建房"],
            keywords_en: &["farmland+factory"],
            response: TimeLimit { amount: 1, unit: TimeUnit::WorkingDays },
        }];
        assert_eq!(keywords(PARTS, "村民在耕地上打地基建房子")[0].matched, vec!["耕地+建房"]);
        assert!(keywords(PARTS, "村民在耕地上种菜").is_empty());
        assert!(!keywords(PARTS, "A factory going up on farmland").is_empty());
        assert!(keywords(PARTS, "A factory").is_empty());
    }

    #[test]
    fn english_matches_whole_words_only() {
        assert_eq!(keywords(CATS, "An ILLEGAL BUILDING next door")[0].category, "a");
        assert!(keywords(CATS, "noisearch").is_empty());
    }
}
