//! Which of two assessments is lighter, for the rule of APL art. 37: the rule in force at the time
//! of the act applies, unless the rule in force at the decision is lighter ("从旧兼从轻"). And
//! whether a proposed fine keeps to the band of the assessment that applies.
//!
//! Lighter is decided in this order: the gravest kind of penalty imposed (APL art. 9 orders them:
//! warning and criticism, then fines and confiscation, then licences, then business and practice),
//! then the highest fine the band allows, then the lowest, then the number of penalties. A tie goes
//! to the rule of the time of the act.

use crate::plugins::bindings::{Assessment, PenaltyKind};
use serde::{Deserialize, Serialize};

/// How grave a kind of penalty is, after the groups of APL art. 9.
pub fn gravity(kind: &PenaltyKind) -> u8 {
    match kind {
        PenaltyKind::Warning | PenaltyKind::PublicCriticism => 1,
        PenaltyKind::Fine(_) | PenaltyKind::ConfiscateGains | PenaltyKind::ConfiscateProperty(_) => 2,
        PenaltyKind::SuspendLicence(_) | PenaltyKind::LowerQualification(_) => 3,
        PenaltyKind::RevokeLicence(_) | PenaltyKind::RestrictBusiness(_) | PenaltyKind::RestrictPractice(_) => 4,
        PenaltyKind::SuspendBusiness(_) => 5,
        PenaltyKind::Close(_) => 6,
    }
}

/// The measure of an assessment's weight; smaller is lighter.
pub fn weight(a: &Assessment) -> (u8, i64, i64, usize) {
    let mandatory: Vec<_> = a.penalties.iter().filter(|p| !p.optional).collect();
    let gravest = mandatory.iter().map(|p| gravity(&p.kind)).max().unwrap_or(0);
    let (lo, hi) = a.fine_range.as_ref().map_or((0, 0), |r| (r.min, r.max));
    (gravest, hi, lo, mandatory.len())
}

/// Which rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Applies {
    /// The rule in force at the time of the act.
    Pinned,
    /// The rule in force now, because it is lighter.
    Current,
}

/// APL art. 37: the old rule unless the current one is strictly lighter.
pub fn lighter(pinned: &Assessment, current: &Assessment) -> Applies {
    if weight(current) < weight(pinned) { Applies::Current } else { Applies::Pinned }
}

/// Why a proposed fine does not fit the assessment that applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BandError {
    /// The tier imposes a fine and none was proposed.
    FineRequired { min: i64, max: i64 },
    /// The tier imposes no fine.
    NoFineHere,
    /// Outside the discretion band: refused.
    Outside { fine: i64, min: i64, max: i64 },
}

/// Whether `fine` (fen) fits: Ok(true) when it departs from the recommendation inside the band
/// (a written reason and the next approval level are then needed), Ok(false) when it is the
/// recommendation.
pub fn check_fine(a: &Assessment, fine: Option<i64>) -> Result<bool, BandError> {
    match (&a.fine_range, fine) {
        (None, None) => Ok(false),
        (None, Some(_)) => Err(BandError::NoFineHere),
        (Some(r), None) => Err(BandError::FineRequired { min: r.min, max: r.max }),
        (Some(r), Some(f)) if f < r.min || f > r.max => Err(BandError::Outside { fine: f, min: r.min, max: r.max }),
        (Some(_), Some(f)) => Ok(a.recommended_fine != Some(f)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::bindings::{FenRange, FineRule, Penalty};

    fn fine(min: i64, max: i64) -> Assessment {
        Assessment {
            item: "X-1".into(),
            tier: "t".into(),
            reasons: vec![],
            penalties: vec![Penalty {
                kind: PenaltyKind::Fine(FineRule::Fixed(FenRange { min, max })),
                optional: false,
            }],
            fine_range: Some(FenRange { min, max }),
            recommended_fine: Some((min + max) / 2),
            orders: vec![],
            basis: vec![],
        }
    }

    #[test]
    fn the_old_rule_applies_unless_the_new_one_is_lighter() {
        // 2022 art. 63: 3万–10万; 2023 art. 63(1): 3000–1万.
        assert_eq!(lighter(&fine(3_000_000, 10_000_000), &fine(300_000, 1_000_000)), Applies::Current);
        // A heavier new rule never reaches back.
        assert_eq!(lighter(&fine(300_000, 1_000_000), &fine(3_000_000, 10_000_000)), Applies::Pinned);
        // Equal: the rule of the time of the act.
        assert_eq!(lighter(&fine(300_000, 1_000_000), &fine(300_000, 1_000_000)), Applies::Pinned);
        // The same top with a lower floor is lighter.
        assert_eq!(lighter(&fine(3_000_000, 10_000_000), &fine(1_000_000, 10_000_000)), Applies::Current);
    }

    #[test]
    fn a_graver_kind_outweighs_any_fine() {
        let mut revoke = fine(0, 1);
        revoke.penalties.push(Penalty {
            kind: PenaltyKind::RevokeLicence(crate::plugins::bindings::Text {
                zh: "许可证".into(),
                en: "licence".into(),
            }),
            optional: false,
        });
        assert_eq!(lighter(&revoke, &fine(5_000_000, 10_000_000)), Applies::Current);
        // An optional penalty (可以并处) does not make a rule graver.
        let mut optional = fine(300_000, 1_000_000);
        optional.penalties.push(Penalty {
            kind: PenaltyKind::RevokeLicence(crate::plugins::bindings::Text {
                zh: "许可证".into(),
                en: "licence".into(),
            }),
            optional: true,
        });
        assert_eq!(weight(&optional), weight(&fine(300_000, 1_000_000)));
    }

    #[test]
    fn a_fine_keeps_to_the_band_and_departing_from_the_recommendation_is_marked() {
        let a = fine(300_000, 1_000_000);
        assert_eq!(check_fine(&a, Some(650_000)), Ok(false));
        assert_eq!(check_fine(&a, Some(300_000)), Ok(true));
        assert_eq!(
            check_fine(&a, Some(1_000_001)),
            Err(BandError::Outside { fine: 1_000_001, min: 300_000, max: 1_000_000 })
        );
        assert_eq!(check_fine(&a, None), Err(BandError::FineRequired { min: 300_000, max: 1_000_000 }));
        let mut warning = fine(0, 0);
        warning.fine_range = None;
        assert_eq!(check_fine(&warning, Some(1)), Err(BandError::NoFineHere));
    }
}
