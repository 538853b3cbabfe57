//! Routing a citizen's words to a domain and a report category when the citizen did not pick one.
//!
//! Every loaded domain plugin scores the text at once; the best category wins only when it is
//! confident and clear of every other domain's best. Otherwise the report goes to the dispatchers'
//! triage queue: a text that fits no domain, or two domains alike, is never forced into one. Every
//! decision carries its reason and the candidates it weighed, so a dispatcher can see why.

use crate::plugins::Snapshot;
use serde::{Deserialize, Serialize};

/// When a classification is confident enough to route without a person.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingRules {
    /// The best category's score must reach this (0..1).
    pub min_score: f32,
    /// …and exceed the best score of every other domain by this much.
    pub min_margin: f32,
}

impl Default for RoutingRules {
    fn default() -> Self {
        Self { min_score: 0.5, min_margin: 0.15 }
    }
}

/// A domain's best category for the text.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Candidate {
    pub domain: String,
    pub category: String,
    pub score: f32,
    pub matched: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Routed { domain: String, category: String },
    Triage,
}

/// A domain that could not score the text (its plugin failed); routing went on without it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failure {
    pub domain: String,
    pub code: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Decision {
    #[serde(flatten)]
    pub outcome: Outcome,
    pub reason: String,
    /// Each domain's best category, best first.
    pub candidates: Vec<Candidate>,
    pub failed: Vec<Failure>,
}

/// Scores `text` with every serving plugin of the snapshot, one after another in one blocking section, at
/// reference time `at`, and decides. Not as concurrent tasks: each call is a few tens of
/// microseconds of CPU and concurrent reports already keep every core busy, so tasks would add
/// handoffs and no parallelism (measured in BENCHMARKS.md). A plugin that hangs costs at most its
/// own deadline.
pub async fn route(registry: &Snapshot, text: &str, at: i64, rules: RoutingRules) -> Decision {
    let plugins: Vec<_> = registry.iter().cloned().collect();
    let owned = text.to_string();
    let calls = match crate::plugins::Plugin::each_blocking(plugins, move |p| {
        (p.domain().to_string(), p.classify_blocking(&owned, at))
    })
    .await
    {
        Ok(c) => c,
        // Shutting down: nobody can route now.
        Err(e) => registry.iter().map(|p| (p.domain().to_string(), Err(e.clone()))).collect(),
    };
    let mut candidates = Vec::new();
    let mut failed = Vec::new();
    for (domain, scores) in calls {
        match scores {
            Ok(scores) => {
                if let Some(best) = scores.into_iter().next() {
                    candidates.push(Candidate {
                        domain,
                        category: best.category,
                        score: best.score,
                        matched: best.matched,
                    });
                }
            }
            Err(e) => {
                tracing::warn!(%domain, code = e.code(), "a domain could not classify a report");
                failed.push(Failure { domain, code: e.code() });
            }
        }
    }
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.domain.cmp(&b.domain)));
    decide(candidates, failed, rules)
}

fn decide(candidates: Vec<Candidate>, failed: Vec<Failure>, rules: RoutingRules) -> Decision {
    let (outcome, reason) = match candidates.as_slice() {
        [] => (Outcome::Triage, "no domain recognises the text".to_string()),
        [best, ..] if best.score < rules.min_score => (
            Outcome::Triage,
            format!(
                "the best match, {}/{}, scores {:.2}, below {:.2}",
                best.domain, best.category, best.score, rules.min_score
            ),
        ),
        [best, second, ..] if best.score - second.score < rules.min_margin => (
            Outcome::Triage,
            format!(
                "ambiguous: {}/{} scores {:.2} and {}/{} {:.2}, closer than {:.2}",
                best.domain, best.category, best.score, second.domain, second.category, second.score, rules.min_margin
            ),
        ),
        [best, rest @ ..] => (
            Outcome::Routed { domain: best.domain.clone(), category: best.category.clone() },
            match rest.first() {
                Some(second) => format!(
                    "{}/{} scores {:.2}, ahead of {}/{} by {:.2}",
                    best.domain,
                    best.category,
                    best.score,
                    second.domain,
                    second.category,
                    best.score - second.score
                ),
                None => format!("{}/{} scores {:.2}; no other domain matches", best.domain, best.category, best.score),
            },
        ),
    };
    Decision { outcome, reason, candidates, failed }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(domain: &str, score: f32) -> Candidate {
        Candidate { domain: domain.into(), category: format!("{domain}-cat"), score, matched: vec![] }
    }

    #[test]
    fn only_a_confident_clear_winner_is_routed() {
        let rules = RoutingRules::default();
        let routed = decide(vec![c("housing", 0.9), c("ecology", 0.6)], vec![], rules);
        assert_eq!(routed.outcome, Outcome::Routed { domain: "housing".into(), category: "housing-cat".into() });
        assert_eq!(decide(vec![c("housing", 0.4)], vec![], rules).outcome, Outcome::Triage);
        assert_eq!(decide(vec![c("housing", 0.8), c("ecology", 0.7)], vec![], rules).outcome, Outcome::Triage);
        assert_eq!(decide(vec![], vec![], rules).outcome, Outcome::Triage);
        assert!(decide(vec![c("housing", 0.8), c("ecology", 0.7)], vec![], rules).reason.starts_with("ambiguous"));
    }
}
