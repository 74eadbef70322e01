//! Hyperband, Optuna's `HyperbandPruner`: successive halving run in several brackets of
//! different aggressiveness.
//!
//! - `n_brackets = floor(log_rf(max_resource / min_resource)) + 1` (computed in integers:
//!   the largest `s` with `min_resource × rf^s <= max_resource`, plus one).
//! - Bracket `b` is successive halving with `min_early_stopping_rate = b`: bracket 0 judges
//!   first at `min_resource` epochs, the last bracket at `min_resource × rf^(n_brackets-1)`.
//! - A trial's bracket is drawn from its number alone: a fixed 64-bit hash of the number
//!   (Optuna hashes the study name and number with CRC32) modulo the total budget, where
//!   bracket `b` has budget `ceil(n_brackets × rf^s / (s + 1))`, `s = n_brackets - 1 - b`,
//!   the share of trials Hyperband gives each bracket. The same number always lands in the
//!   same bracket (for a given `max_resource`).
//! - A trial is compared only with the trials of its own bracket.
//!
//! With `max_resource = "auto"`, the maximum is the epochs of the longest completed trial
//! and nothing is pruned before a trial completes; as the maximum can still change while
//! trials complete (and with it the brackets), give it explicitly when the epochs are known.
use crate::successive_halving::{Resource, Rungs, auto, parse_resource};
use kiln_core::{
    BuildContext, Error, FrozenTrial, PruneDecision, Pruner, Result, StudyView, TrialState,
};
use serde::Deserialize;

fn one() -> u64 {
    1
}
fn three() -> u64 {
    3
}

/// Parameters of [`HyperbandPruner`] (Optuna's names and defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HyperbandConfig {
    /// Epochs of the first rung of the most aggressive bracket.
    #[serde(default = "one")]
    pub min_resource: u64,
    /// Epochs of a full trial, or `"auto"`: those of the longest completed trial.
    #[serde(default = "auto")]
    pub max_resource: serde_json::Value,
    /// Each rung keeps the best `1/reduction_factor`.
    #[serde(default = "three")]
    pub reduction_factor: u64,
    /// Trials that must reach a rung before any passes it (earlier arrivals are pruned).
    #[serde(default)]
    pub bootstrap_count: usize,
}

/// Hyperband over successive halving brackets; see the module docs.
#[derive(Debug, Clone)]
pub struct HyperbandPruner {
    min_resource: u64,
    max_resource: Resource,
    reduction_factor: u64,
    bootstrap_count: usize,
}

/// The brackets' trial budgets for one `max_resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Brackets {
    budgets: Vec<u128>,
    total: u128,
}

/// SplitMix64's finaliser: a fixed, well-mixed hash of a trial number.
fn mix(number: u64) -> u64 {
    let mut z = number.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl HyperbandPruner {
    /// A pruner (`bootstrap_count = 0`); `min_resource` below 1 acts as 1 and a factor
    /// below 2 as 2.
    pub fn new(min_resource: u64, max_resource: Resource, reduction_factor: u64) -> Self {
        HyperbandPruner {
            min_resource: min_resource.max(1),
            max_resource,
            reduction_factor: reduction_factor.max(2),
            bootstrap_count: 0,
        }
    }

    /// Builds from config parameters, validating ranges.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: HyperbandConfig = ctx.parse(params)?;
        if c.min_resource == 0 {
            return Err(Error::config(
                format!("{}.min_resource", ctx.key),
                "must be at least 1",
            ));
        }
        let max_resource = parse_resource(&c.max_resource, format!("{}.max_resource", ctx.key))?;
        if let Resource::Epochs(max) = max_resource
            && max < c.min_resource
        {
            return Err(Error::config(
                format!("{}.max_resource", ctx.key),
                format!(
                    "must be at least min_resource = {}, got {max}",
                    c.min_resource
                ),
            ));
        }
        if c.reduction_factor < 2 {
            return Err(Error::config(
                format!("{}.reduction_factor", ctx.key),
                format!("must be at least 2, got {}", c.reduction_factor),
            ));
        }
        Ok(HyperbandPruner {
            min_resource: c.min_resource,
            max_resource,
            reduction_factor: c.reduction_factor,
            bootstrap_count: c.bootstrap_count,
        })
    }

    /// The epochs of a full trial: as configured, or those of the longest completed trial.
    pub fn max_resource(&self, study: &StudyView<'_>) -> Option<u64> {
        match self.max_resource {
            Resource::Epochs(e) => Some(e),
            Resource::Auto => study
                .trials
                .iter()
                .filter(|t| t.state == TrialState::Complete)
                .filter_map(|t| t.last_intermediate().map(|(s, _)| s.saturating_add(1)))
                .max(),
        }
    }

    /// How many brackets there are (`None` while `"auto"` has no completed trial).
    pub fn n_brackets(&self, study: &StudyView<'_>) -> Option<usize> {
        self.max_resource(study)
            .map(|max| self.brackets(max).budgets.len())
    }

    /// The bracket of trial `number` (`None` while `"auto"` has no completed trial).
    pub fn bracket(&self, study: &StudyView<'_>, number: u64) -> Option<usize> {
        self.max_resource(study)
            .map(|max| self.bracket_in(&self.brackets(max), number))
    }

    fn brackets(&self, max_resource: u64) -> Brackets {
        let rf = u128::from(self.reduction_factor.max(2));
        let (min, max) = (
            u128::from(self.min_resource.max(1)),
            u128::from(max_resource),
        );
        let mut n = 1u32;
        while min * rf.pow(n) <= max {
            n += 1;
        }
        let budgets: Vec<u128> = (0..n)
            .map(|b| {
                let s = n - 1 - b;
                (u128::from(n) * rf.pow(s)).div_ceil(u128::from(s) + 1)
            })
            .collect();
        let total = budgets.iter().sum();
        Brackets { budgets, total }
    }

    fn bracket_in(&self, brackets: &Brackets, number: u64) -> usize {
        let mut n = u128::from(mix(number)) % brackets.total;
        for (b, budget) in brackets.budgets.iter().enumerate() {
            if n < *budget {
                return b;
            }
            n -= budget;
        }
        brackets.budgets.len() - 1
    }
}

impl Pruner for HyperbandPruner {
    fn should_prune(&self, study: &StudyView<'_>, trial: &FrozenTrial) -> Result<PruneDecision> {
        if trial.intermediate.is_empty() {
            return Ok(PruneDecision::Continue);
        }
        let Some(max) = self.max_resource(study) else {
            return Ok(PruneDecision::Continue);
        };
        let brackets = self.brackets(max);
        let bracket = self.bracket_in(&brackets, trial.number);
        let rungs = Rungs {
            min_resource: self.min_resource,
            reduction_factor: self.reduction_factor,
            min_early_stopping_rate: bracket as u64,
            bootstrap_count: self.bootstrap_count,
        };
        let peer = |t: &FrozenTrial| self.bracket_in(&brackets, t.number) == bracket;
        let label = format!(" in bracket {bracket} of {}", brackets.budgets.len());
        Ok(rungs.decide(study.direction(), study.trials, trial, peer, &label))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::curve;
    use kiln_core::Direction;

    const EMPTY: StudyView<'static> = StudyView {
        directions: &[Direction::Minimize],
        trials: &[],
    };

    #[test]
    fn conforms() {
        kiln_core::testing::check_pruner(|| Box::new(HyperbandPruner::new(1, Resource::Auto, 3)));
        kiln_core::testing::check_pruner(|| {
            Box::new(HyperbandPruner::new(1, Resource::Epochs(6), 2))
        });
    }

    #[test]
    fn brackets_follow_optuna_budgets() {
        // max 81, min 1, rf 3: 5 brackets with budgets 81, 34, 15, 8, 5.
        let pruner = HyperbandPruner::new(1, Resource::Epochs(81), 3);
        assert_eq!(pruner.brackets(81).budgets, vec![81, 34, 15, 8, 5]);
        assert_eq!(pruner.brackets(80).budgets.len(), 4);
        assert_eq!(pruner.brackets(1).budgets, vec![1]);
        assert_eq!(pruner.n_brackets(&EMPTY), Some(5));
    }

    #[test]
    fn brackets_are_stable_and_weighted() {
        let pruner = HyperbandPruner::new(1, Resource::Epochs(81), 3);
        let other = HyperbandPruner::new(1, Resource::Epochs(81), 3);
        let mut counts = [0usize; 5];
        for number in 0..14_300 {
            let b = pruner.bracket(&EMPTY, number).expect("bracket");
            assert_eq!(Some(b), other.bracket(&EMPTY, number));
            counts[b] += 1;
        }
        // Expected shares 81:34:15:8:5 of 143, i.e. 8100, 3400, 1500, 800, 500.
        for (count, expected) in counts.iter().zip([8100.0, 3400.0, 1500.0, 800.0, 500.0]) {
            assert!(
                (*count as f64 - expected).abs() < expected * 0.15,
                "{counts:?}"
            );
        }
    }

    #[test]
    fn compares_only_within_a_bracket() {
        let pruner = &HyperbandPruner::new(1, Resource::Epochs(9), 3);
        let in_bracket =
            move |b: usize| (0u64..).filter(move |n| pruner.bracket(&EMPTY, *n) == Some(b));
        let mut numbers = in_bracket(0);
        let judged = numbers.next().expect("a bracket-0 trial");
        // Bracket 0 judges at step 0 (1 epoch). Three bracket-0 peers at 1.0, 2.0, 3.0 and
        // many far better trials in other brackets.
        let mut trials: Vec<FrozenTrial> = numbers
            .take(3)
            .zip([1.0, 2.0, 3.0])
            .map(|(n, v)| curve(n, TrialState::Complete, &[v]))
            .collect();
        for n in in_bracket(1).take(5).chain(in_bracket(2).take(5)) {
            trials.push(curve(n, TrialState::Complete, &[0.01]));
        }
        let decide = |trials: &[FrozenTrial], v: f64| {
            let t = curve(judged, TrialState::Running, &[v]);
            let mut all = trials.to_vec();
            all.push(t.clone());
            let view = StudyView {
                directions: &[Direction::Minimize],
                trials: &all,
            };
            pruner.should_prune(&view, &t).expect("decide")
        };
        // 4 in the rung, keep 4/3 = 1: only a new best passes; the others do not count.
        assert_eq!(decide(&trials, 0.5), PruneDecision::Continue);
        let d = decide(&trials, 1.5);
        assert!(
            matches!(&d, PruneDecision::Prune(r) if r.contains("bracket 0 of 3") && r.contains("step 0")),
            "{d:?}"
        );
    }

    #[test]
    fn validates_ranges() {
        let ctx = kiln_core::testing::context(0).with_key("tune.pruner");
        for (params, field) in [
            (serde_json::json!({ "min_resource": 0 }), "min_resource"),
            (
                serde_json::json!({ "min_resource": 4, "max_resource": 3 }),
                "max_resource",
            ),
            (serde_json::json!({ "max_resource": "all" }), "max_resource"),
            (
                serde_json::json!({ "reduction_factor": 1 }),
                "reduction_factor",
            ),
        ] {
            let err = HyperbandPruner::from_params(&params, &ctx).expect_err("invalid");
            assert!(
                err.to_string()
                    .starts_with(&format!("tune.pruner.{field}:")),
                "{err}"
            );
        }
    }
}
