use kiln_core::{
    BuildContext, Direction, FrozenTrial, PruneDecision, Pruner, Result, StudyView, TrialState,
};
use serde::Deserialize;

/// Parameters of [`MedianPruner`] (Optuna's names and defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MedianConfig {
    /// Never prune until this many trials have completed.
    pub n_startup_trials: usize,
    /// Never prune a trial before this step.
    pub n_warmup_steps: u64,
    /// Only consider pruning every this many steps.
    pub interval_steps: u64,
    /// Earlier trials need at least this many reports to count.
    pub n_min_trials: usize,
}

impl Default for MedianConfig {
    fn default() -> Self {
        MedianConfig {
            n_startup_trials: 5,
            n_warmup_steps: 0,
            interval_steps: 1,
            n_min_trials: 1,
        }
    }
}

/// Prunes a trial whose best value so far is worse than the median of the other finished
/// trials' values at the same step.
#[derive(Debug, Clone)]
pub struct MedianPruner {
    config: MedianConfig,
}

impl MedianPruner {
    /// A pruner with `config`.
    pub fn new(config: MedianConfig) -> Self {
        MedianPruner { config }
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: MedianConfig = ctx.parse(params)?;
        if c.interval_steps == 0 {
            return Err(kiln_core::Error::config(
                format!("{}.interval_steps", ctx.key),
                "must be at least 1",
            ));
        }
        Ok(MedianPruner::new(c))
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

impl Pruner for MedianPruner {
    fn should_prune(&self, study: &StudyView<'_>, trial: &FrozenTrial) -> Result<PruneDecision> {
        let Some((step, _)) = trial.last_intermediate() else {
            return Ok(PruneDecision::Continue);
        };
        let c = &self.config;
        if step < c.n_warmup_steps || !(step - c.n_warmup_steps).is_multiple_of(c.interval_steps) {
            return Ok(PruneDecision::Continue);
        }
        let completed = study
            .trials
            .iter()
            .filter(|t| t.state == TrialState::Complete && t.number != trial.number)
            .count();
        if completed < c.n_startup_trials {
            return Ok(PruneDecision::Continue);
        }
        let dir = study.direction();
        let best_so_far = trial
            .intermediate
            .values()
            .copied()
            .filter(|v| !v.is_nan())
            .reduce(|a, b| if dir.better(b, a) { b } else { a });
        let Some(best) = best_so_far else {
            return Ok(PruneDecision::Prune(format!(
                "step {step}: every reported value is NaN"
            )));
        };
        let others: Vec<f64> = study
            .trials
            .iter()
            .filter(|t| {
                t.number != trial.number
                    && matches!(t.state, TrialState::Complete | TrialState::Pruned)
                    && t.intermediate.len() >= c.n_min_trials.min(1)
            })
            .filter_map(|t| t.intermediate.get(&step).copied())
            .filter(|v| !v.is_nan())
            .collect();
        if others.len() < c.n_min_trials {
            return Ok(PruneDecision::Continue);
        }
        let Some(m) = median(others) else {
            return Ok(PruneDecision::Continue);
        };
        let worse = match dir {
            Direction::Minimize => best > m,
            Direction::Maximize => best < m,
        };
        Ok(if worse {
            PruneDecision::Prune(format!(
                "step {step}: best value {best:.6} is worse than the median {m:.6} of earlier trials"
            ))
        } else {
            PruneDecision::Continue
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conforms() {
        kiln_core::testing::check_pruner(|| Box::new(MedianPruner::new(MedianConfig::default())));
    }

    #[test]
    fn prunes_a_clearly_worse_trial() {
        let mut trials = Vec::new();
        for i in 0..6 {
            let mut t = FrozenTrial::running(i, Default::default());
            t.state = TrialState::Complete;
            t.intermediate.insert(0, 1.0 + i as f64 * 0.01);
            t.values = Some(vec![1.0]);
            trials.push(t);
        }
        let mut bad = FrozenTrial::running(6, Default::default());
        bad.intermediate.insert(0, 5.0);
        trials.push(bad.clone());
        let view = StudyView {
            directions: &[Direction::Minimize],
            trials: &trials,
        };
        let d = MedianPruner::new(MedianConfig::default())
            .should_prune(&view, &bad)
            .expect("decide");
        assert!(matches!(d, PruneDecision::Prune(_)), "{d:?}");
    }
}
