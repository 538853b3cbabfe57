//! The standard assessment: from a checklist item and the officer's answers on the case-facts form
//! to the tier that applies, the fine band in fen, a recommendation and the legal basis.
//!
//! "From essay questions to multiple choice": the officer answers the questions the item's tiers ask
//! (first offence? corrected? harm?), and the published discretion benchmark (APL art. 34) decides
//! the band. The officer still chooses the penalty inside it; the recommendation is the band's middle.

use crate::bindings::exports::casegrid::domain::checklist::FenRange;
use crate::bindings::exports::casegrid::domain::types::Value;
use crate::data::{Domain, FineRule, Item, PenaltyKind, Tier};
use crate::{AssessError, Assessment, Facts, FieldError, convert, field_error, time};

pub fn standard(domain: &Domain, item: &'static Item, facts: &Facts) -> Result<Assessment, AssessError> {
    let today = time::ymd(&time::today());
    if today < item.in_force.from || item.in_force.until.is_some_and(|u| today >= u) {
        return Err(AssessError::NotInForce(item.code.to_string()));
    }
    let form = domain.form("case-facts").ok_or_else(|| AssessError::UnknownItem(item.code.to_string()))?;
    let mut errors: Vec<FieldError> = Vec::new();
    // Every question the item's tiers ask must be answered: an unanswered one must not silently pick
    // a harsher or a more lenient tier.
    for t in item.tiers {
        for c in t.conditions {
            if facts.get(c.fact).is_none() && !errors.iter().any(|e| e.field == c.fact) {
                errors.push(required_for_item(c.fact));
            }
        }
    }
    if !errors.is_empty() {
        return Err(AssessError::InvalidFacts(errors));
    }
    let tier = item
        .tiers
        .iter()
        .find(|t| t.conditions.iter().all(|c| facts.condition_values(c.fact).iter().any(|v| c.any_of.contains(v))))
        .ok_or_else(|| {
            AssessError::InvalidFacts(vec![field_error(
                "item",
                "no-tier",
                "所填情节不符合本事项任何裁量档次",
                "the facts match none of the item's discretion tiers",
            )])
        })?;
    let fine_range = fine_range(tier, facts)?;
    Ok(Assessment {
        item: item.code.to_string(),
        tier: tier.code.to_string(),
        reasons: reasons(item, form, tier, facts),
        penalties: tier.penalties.iter().map(convert::penalty).collect(),
        recommended_fine: fine_range.as_ref().map(recommend),
        fine_range,
        orders: tier.orders.iter().map(convert::text).collect(),
        basis: item.violation.iter().chain(tier.basis).map(convert::citation).collect(),
    })
}

fn required_for_item(fact: &str) -> FieldError {
    field_error(fact, "required", "本违法事项的裁量需要填写此项", "this item's discretion needs this fact")
}

/// The tier's fine band once the amounts from the facts are applied. Proportional bounds round
/// toward the inside of the band (floor up, ceiling down) so the band never exceeds the statute's.
fn fine_range(tier: &Tier, facts: &Facts) -> Result<Option<FenRange>, AssessError> {
    let Some(rule) = tier.penalties.iter().find_map(|p| match p.kind {
        PenaltyKind::Fine(rule) => Some(rule),
        _ => None,
    }) else {
        return Ok(None);
    };
    let (fact, min_bp, max_bp) = match rule {
        FineRule::Fixed { min_fen, max_fen } => return Ok(Some(FenRange { min: min_fen, max: max_fen })),
        FineRule::PerUnit { fact, min_fen, max_fen } => return per_unit(fact, min_fen, max_fen, facts).map(Some),
        FineRule::PercentOf { fact, min_bp, max_bp } | FineRule::MultipleOf { fact, min_bp, max_bp } => {
            (fact, min_bp, max_bp)
        }
    };
    let amount = match facts.money(fact) {
        Some(a) if a > 0 => i128::from(a),
        Some(_) => {
            return Err(AssessError::InvalidFacts(vec![field_error(
                fact,
                "out-of-range",
                "按比例计算罚款的金额必须大于零",
                "the amount a proportional fine is computed from must be positive",
            )]));
        }
        None => return Err(AssessError::InvalidFacts(vec![required_for_item(fact)])),
    };
    let min = (amount * i128::from(min_bp) + 9_999) / 10_000;
    let max = amount * i128::from(max_bp) / 10_000;
    let refuse = |code: &str, zh: &str, en: &str| AssessError::InvalidFacts(vec![field_error(fact, code, zh, en)]);
    let (Ok(min), Ok(max)) = (i64::try_from(min), i64::try_from(max)) else {
        return Err(refuse("out-of-range", "金额过大，无法计算罚款", "the amount is too large to compute a fine from"));
    };
    // Rounded inward, a tiny amount can leave no whole fen inside the band: refuse rather than
    // widen the band beyond the statute's.
    if min > max {
        return Err(refuse(
            "amount-too-small",
            "金额过小，按法定比例计算不出罚款",
            "the amount is too small for the statutory proportion to give a fine",
        ));
    }
    Ok(Some(FenRange { min, max }))
}

/// So much for each unit of a counted or measured quantity. A measured one (square metres) is taken
/// to the thousandth and the band rounded inward, like a proportional one.
fn per_unit(fact: &str, min_each: i64, max_each: i64, facts: &Facts) -> Result<FenRange, AssessError> {
    let refuse = |code: &str, zh: &str, en: &str| AssessError::InvalidFacts(vec![field_error(fact, code, zh, en)]);
    let milli: i128 = match facts.get(fact) {
        Some(Value::Integer(n)) if *n > 0 => i128::from(*n) * 1000,
        Some(Value::Decimal(x)) if *x > 0.0 && x.is_finite() && *x < 1e15 => (x * 1000.0).round() as i128,
        Some(_) => {
            return Err(refuse(
                "out-of-range",
                "计罚的数量必须大于零",
                "the quantity a fine is counted per must be positive",
            ));
        }
        None => return Err(AssessError::InvalidFacts(vec![required_for_item(fact)])),
    };
    let min = (milli * i128::from(min_each) + 999) / 1000;
    let max = milli * i128::from(max_each) / 1000;
    match (i64::try_from(min), i64::try_from(max)) {
        (Ok(min), Ok(max)) if min <= max => Ok(FenRange { min, max }),
        (Ok(_), Ok(_)) => {
            Err(refuse("amount-too-small", "数量过小，计算不出罚款", "the quantity is too small to give a fine"))
        }
        _ => Err(refuse("out-of-range", "数量过大，无法计算罚款", "the quantity is too large to compute a fine from")),
    }
}

/// The middle of the band, rounded down to the whole yuan unless that leaves the band (a band
/// narrower than a yuan keeps its fen).
fn recommend(r: &FenRange) -> i64 {
    let mid = r.min + (r.max - r.min) / 2;
    let whole = mid - mid.rem_euclid(100);
    whole.clamp(r.min, r.max)
}

/// Why this tier: its circumstances and the answers that selected it, then, for each tier tried
/// before it, the answer that ruled that tier out.
fn reasons(item: &Item, form: &crate::data::Form, tier: &Tier, facts: &Facts) -> Vec<crate::Text> {
    let answer = |fact: &str| -> (String, String, String, String) {
        let field = form.field(fact);
        let (label_zh, label_en) =
            field.map_or((fact.to_string(), fact.to_string()), |f| (f.label.zh.into(), f.label.en.into()));
        let (zh, en): (Vec<String>, Vec<String>) = facts
            .condition_values(fact)
            .iter()
            .map(|v| {
                field
                    .and_then(|f| f.options().iter().find(|o| o.value == *v))
                    .map(|o| (o.label.zh.to_string(), o.label.en.to_string()))
                    .unwrap_or_else(|| match *v {
                        "true" => ("是".into(), "yes".into()),
                        "false" => ("否".into(), "no".into()),
                        other => (other.into(), other.into()),
                    })
            })
            .unzip();
        (label_zh, label_en, zh.join("、"), en.join(", "))
    };
    let mut out = vec![convert::text(&tier.circumstances)];
    for c in tier.conditions {
        let (lz, le, vz, ve) = answer(c.fact);
        out.push(crate::text(&format!("{lz}：{vz}"), &format!("{le}: {ve}")));
    }
    for earlier in item.tiers.iter().take_while(|t| t.code != tier.code) {
        let Some(c) =
            earlier.conditions.iter().find(|c| !facts.condition_values(c.fact).iter().any(|v| c.any_of.contains(v)))
        else {
            continue;
        };
        let (lz, le, vz, ve) = answer(c.fact);
        out.push(crate::text(
            &format!("不适用“{}”：{lz}为{vz}", earlier.circumstances.zh),
            &format!("Not “{}”: {le} is {ve}", earlier.circumstances.en),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recommendation_is_inside_the_band_and_whole_yuan() {
        assert_eq!(recommend(&FenRange { min: 5_000_000, max: 10_000_000 }), 7_500_000);
        assert_eq!(recommend(&FenRange { min: 0, max: 150 }), 0);
        assert_eq!(recommend(&FenRange { min: 101, max: 150 }), 101);
        assert_eq!(recommend(&FenRange { min: 333, max: 333 }), 333);
    }

    #[test]
    fn a_proportional_band_never_exceeds_the_statutes() {
        use crate::bindings::exports::casegrid::domain::types::{FieldValue, Value};
        use crate::data::{I18n, Penalty};
        const T: I18n = I18n { zh: "x", en: "x" };
        let tier = Tier {
            code: "t",
            circumstances: T,
            conditions: &[],
            penalties: &[Penalty {
                kind: PenaltyKind::Fine(FineRule::PercentOf { fact: "cost", min_bp: 500, max_bp: 650 }),
                optional: false,
            }],
            orders: &[],
            basis: &[],
        };
        let facts = |fen: i64| Facts::new(vec![FieldValue { field: "cost".into(), value: Value::Money(fen) }]);
        // 5%–6.5% of ¥1,000,000.01: inward rounding.
        assert_eq!(fine_range(&tier, &facts(100_000_001)).unwrap(), Some(FenRange { min: 5_000_001, max: 6_500_000 }));
        // 5%–6.5% of one fen holds no whole fen: refused, not widened to 100%.
        assert!(
            matches!(fine_range(&tier, &facts(1)), Err(AssessError::InvalidFacts(e)) if e[0].code == "amount-too-small")
        );
        assert!(
            matches!(fine_range(&tier, &facts(0)), Err(AssessError::InvalidFacts(e)) if e[0].code == "out-of-range")
        );
    }

    #[test]
    fn a_fine_per_unit_counts_or_measures() {
        use crate::bindings::exports::casegrid::domain::types::FieldValue;
        let one = |field: &str, value: Value| Facts::new(vec![FieldValue { field: field.into(), value }]);
        // 5,000 yuan per child-month, 6 child-months.
        assert_eq!(
            per_unit("n", 500_000, 500_000, &one("n", Value::Integer(6))),
            Ok(FenRange { min: 3_000_000, max: 3_000_000 })
        );
        // 100–1000 yuan per m² of 520.5 m².
        assert_eq!(
            per_unit("m2", 10_000, 100_000, &one("m2", Value::Decimal(520.5))),
            Ok(FenRange { min: 5_205_000, max: 52_050_000 })
        );
        assert!(per_unit("n", 1, 1, &one("n", Value::Integer(0))).is_err());
        assert!(per_unit("n", 1, 1, &one("other", Value::Integer(3))).is_err());
    }
}
