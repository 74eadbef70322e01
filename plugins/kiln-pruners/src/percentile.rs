use crate::base::{best_of, first_in_interval};
use kiln_core::{
    BuildContext, Direction, Error, FrozenTrial, PruneDecision, Pruner, Result, StudyView,
    TrialState,
};
use serde::Deserialize;

/// Parameters of [`PercentilePruner`] (Optuna's names and defaults; `percentile` has no
/// default, as in Optuna).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PercentileConfig {
    /// Keep trials in the top `percentile` percent (0–100): 25 keeps the best quarter.
    pub percentile: f64,
    /// Never prune until this many trials have completed.
    #[serde(default = "default_startup")]
    pub n_startup_trials: usize,
    /// Never prune a trial before this step.
    #[serde(default)]
    pub n_warmup_steps: u64,
    /// Only consider pruning at the first report of every `interval_steps` steps.
    #[serde(default = "one")]
    pub interval_steps: u64,
    /// Completed trials that reported at the step needed before comparing.
    #[serde(default = "one_usize")]
    pub n_min_trials: usize,
}

fn default_startup() -> usize {
    5
}
fn one() -> u64 {
    1
}
fn one_usize() -> usize {
    1
}

/// Prunes a trial whose best value so far is outside the best `percentile` percent of the
/// completed trials' values at the same step (Optuna's `PercentilePruner`).
///
/// As in Optuna, only COMPLETE trials are compared against (the median pruner also counts
/// pruned ones), the percentile is interpolated linearly (`numpy.nanpercentile`), NaN
/// values of other trials are ignored, and a trial whose every report is NaN is pruned.
#[derive(Debug, Clone)]
pub struct PercentilePruner {
    config: PercentileConfig,
}

impl PercentilePruner {
    /// A pruner with `config` (assumed valid; see [`PercentilePruner::from_params`]).
    pub fn new(config: PercentileConfig) -> Self {
        PercentilePruner { config }
    }

    /// Builds from config parameters, validating ranges.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: PercentileConfig = ctx.parse(params)?;
        if !(0.0..=100.0).contains(&c.percentile) {
            return Err(Error::config(
                format!("{}.percentile", ctx.key),
                format!("must be between 0 and 100, got {}", c.percentile),
            ));
        }
        if c.interval_steps == 0 {
            return Err(Error::config(
                format!("{}.interval_steps", ctx.key),
                "must be at least 1",
            ));
        }
        if c.n_min_trials == 0 {
            return Err(Error::config(
                format!("{}.n_min_trials", ctx.key),
                "must be at least 1",
            ));
        }
        Ok(PercentilePruner::new(c))
    }
}

/// `numpy.percentile` with linear interpolation of sorted, NaN-free `v` (`q` in 0–100).
pub(crate) fn percentile(mut v: Vec<f64>, q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = q / 100.0 * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    Some(v[lo] + (v[hi] - v[lo]) * (rank - lo as f64))
}

impl Pruner for PercentilePruner {
    fn should_prune(&self, study: &StudyView<'_>, trial: &FrozenTrial) -> Result<PruneDecision> {
        let c = &self.config;
        let Some((step, _)) = trial.last_intermediate() else {
            return Ok(PruneDecision::Continue);
        };
        let completed: Vec<&FrozenTrial> = study
            .trials
            .iter()
            .filter(|t| t.state == TrialState::Complete && t.number != trial.number)
            .collect();
        if completed.is_empty() || completed.len() < c.n_startup_trials {
            return Ok(PruneDecision::Continue);
        }
        if step < c.n_warmup_steps
            || !first_in_interval(trial, step, c.n_warmup_steps, c.interval_steps)
        {
            return Ok(PruneDecision::Continue);
        }
        let dir = study.direction();
        let Some(best) = best_of(trial.intermediate.values().copied(), dir) else {
            return Ok(PruneDecision::Prune(format!(
                "step {step}: every reported value is NaN"
            )));
        };
        let at_step: Vec<f64> = completed
            .iter()
            .filter_map(|t| t.intermediate.get(&step).copied())
            .collect();
        // Optuna counts NaN reports towards n_min_trials, then ignores them.
        if at_step.len() < c.n_min_trials {
            return Ok(PruneDecision::Continue);
        }
        let n = at_step.len();
        // The top p percent of a maximised value lies above its (100 - p)th percentile.
        let q = match dir {
            Direction::Minimize => c.percentile,
            Direction::Maximize => 100.0 - c.percentile,
        };
        let finite: Vec<f64> = at_step.into_iter().filter(|v| !v.is_nan()).collect();
        let Some(p) = percentile(finite, q) else {
            return Ok(PruneDecision::Continue);
        };
        Ok(if dir.better(p, best) {
            PruneDecision::Prune(format!(
                "step {step}: best value {best:.6} is worse than {p:.6}, the {q}th percentile \
                 (keeping the best {}%) of {n} completed trials at this step",
                c.percentile,
            ))
        } else {
            PruneDecision::Continue
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(percentile: f64) -> PercentileConfig {
        PercentileConfig {
            percentile,
            n_startup_trials: 5,
            n_warmup_steps: 0,
            interval_steps: 1,
            n_min_trials: 1,
        }
    }

    fn complete(number: u64, value: f64) -> FrozenTrial {
        let mut t = FrozenTrial::running(number, Default::default());
        t.state = TrialState::Complete;
        t.intermediate.insert(0, value);
        t.values = Some(vec![value]);
        t
    }

    #[test]
    fn conforms() {
        for p in [0.0, 25.0, 50.0, 100.0] {
            kiln_core::testing::check_pruner(|| Box::new(PercentilePruner::new(config(p))));
        }
    }

    #[test]
    fn interpolates_like_numpy() {
        assert_eq!(percentile(vec![4.0, 1.0, 3.0, 2.0], 50.0), Some(2.5));
        assert_eq!(percentile(vec![1.0, 2.0, 3.0, 4.0, 5.0], 25.0), Some(2.0));
        assert_eq!(percentile(vec![1.0, 2.0], 100.0), Some(2.0));
        assert_eq!(percentile(vec![], 10.0), None);
    }

    #[test]
    fn keeps_the_top_quarter_in_either_direction() {
        // Completed values 1..=9 at step 0; 25th percentile = 3, 75th = 7.
        for (dir, sign) in [(Direction::Minimize, 1.0), (Direction::Maximize, -1.0)] {
            let mut trials: Vec<FrozenTrial> =
                (0..9).map(|i| complete(i, sign * (i + 1) as f64)).collect();
            let decide = |trials: &mut Vec<FrozenTrial>, v: f64| {
                let mut t = FrozenTrial::running(9, Default::default());
                t.intermediate.insert(0, sign * v);
                trials.push(t.clone());
                let view = StudyView {
                    directions: &[dir],
                    trials,
                };
                let d = PercentilePruner::new(config(25.0))
                    .should_prune(&view, &t)
                    .expect("decide");
                trials.pop();
                d
            };
            assert_eq!(decide(&mut trials, 2.5), PruneDecision::Continue);
            assert_eq!(decide(&mut trials, 3.0), PruneDecision::Continue);
            let d = decide(&mut trials, 3.5);
            assert!(
                matches!(&d, PruneDecision::Prune(r) if r.contains("step 0")),
                "{dir:?}: {d:?}"
            );
        }
    }

    #[test]
    fn validates_ranges() {
        let ctx = kiln_core::testing::context(0).with_key("tune.pruner");
        let err = PercentilePruner::from_params(&serde_json::json!({ "percentile": 120.0 }), &ctx)
            .expect_err("out of range");
        assert!(
            err.to_string().starts_with("tune.pruner.percentile:"),
            "{err}"
        );
        assert!(PercentilePruner::from_params(&serde_json::json!({}), &ctx).is_err());
    }
}
