use kiln_core::{
    BuildContext, Direction, Error, FrozenTrial, PluginSpec, PruneDecision, Pruner, Result,
    StudyView,
};
use serde::Deserialize;

fn three() -> usize {
    3
}

/// Parameters of [`PatiencePruner`] (Optuna's `PatientPruner`; Optuna has no default for
/// `patience`, kiln uses 3).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatienceConfig {
    /// Steps without improvement to tolerate.
    #[serde(default = "three")]
    pub patience: usize,
    /// Tolerance: the recent best must be worse than the earlier best by more than this.
    #[serde(default)]
    pub min_delta: f64,
    /// Another of this crate's pruners, `{ kind = "median", ... }`, that must also agree.
    #[serde(default)]
    pub wrapped: Option<serde_json::Value>,
}

/// Prunes a trial that stopped improving, optionally only when a wrapped pruner agrees
/// (Optuna's `PatientPruner`).
///
/// With the reports sorted by step, the last `patience + 1` are "recent" and the others
/// "earlier" (so at least `patience + 2` reports are needed). A minimised trial stalls
/// when `min(earlier) + min_delta < min(recent)`, a maximised one when
/// `max(earlier) - min_delta > max(recent)`, NaN ignored. A stalled trial is pruned if
/// there is no `wrapped` pruner or if it says prune.
pub struct PatiencePruner {
    patience: usize,
    min_delta: f64,
    wrapped: Option<(String, Box<dyn Pruner>)>,
}

impl std::fmt::Debug for PatiencePruner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatiencePruner")
            .field("patience", &self.patience)
            .field("min_delta", &self.min_delta)
            .field("wrapped", &self.wrapped.as_ref().map(|(kind, _)| kind))
            .finish()
    }
}

impl PatiencePruner {
    /// A pruner; `wrapped` (its kind for display, and the pruner) must also agree.
    pub fn new(
        patience: usize,
        min_delta: f64,
        wrapped: Option<(String, Box<dyn Pruner>)>,
    ) -> Self {
        PatiencePruner {
            patience,
            min_delta,
            wrapped,
        }
    }

    /// Builds from config parameters, validating ranges; the wrapped pruner is built by
    /// kind from this crate's pruners, with errors under `{ctx.key}.wrapped`.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: PatienceConfig = ctx.parse(params)?;
        if !(c.min_delta.is_finite() && c.min_delta >= 0.0) {
            return Err(Error::config(
                format!("{}.min_delta", ctx.key),
                format!("must be a number >= 0, got {}", c.min_delta),
            ));
        }
        let wrapped = match &c.wrapped {
            None => None,
            Some(value) => {
                let key = format!("{}.wrapped", ctx.key);
                let spec = PluginSpec::from_value(value, &key)?;
                let pruner = crate::build(&spec.kind, &spec.params, &ctx.with_key(key))?;
                Some((spec.kind, pruner))
            }
        };
        Ok(PatiencePruner::new(c.patience, c.min_delta, wrapped))
    }
}

impl Pruner for PatiencePruner {
    fn should_prune(&self, study: &StudyView<'_>, trial: &FrozenTrial) -> Result<PruneDecision> {
        let Some((step, _)) = trial.last_intermediate() else {
            return Ok(PruneDecision::Continue);
        };
        let n = trial.intermediate.len();
        if n <= self.patience + 1 {
            return Ok(PruneDecision::Continue);
        }
        // BTreeMap values are in step order.
        let values: Vec<f64> = trial.intermediate.values().copied().collect();
        let (earlier, recent) = values.split_at(n - self.patience - 1);
        let dir = study.direction();
        let (Some(before), Some(after)) = (
            crate::base::best_of(earlier.iter().copied(), dir),
            crate::base::best_of(recent.iter().copied(), dir),
        ) else {
            return Ok(PruneDecision::Continue);
        };
        let stalled = match dir {
            Direction::Minimize => before + self.min_delta < after,
            Direction::Maximize => before - self.min_delta > after,
        };
        if !stalled {
            return Ok(PruneDecision::Continue);
        }
        let reason = format!(
            "step {step}: no improvement in the last {} reports: their best {after:.6} is worse \
             than the earlier best {before:.6} by more than min_delta {}",
            self.patience + 1,
            self.min_delta
        );
        match &self.wrapped {
            None => Ok(PruneDecision::Prune(reason)),
            Some((kind, pruner)) => Ok(match pruner.should_prune(study, trial)? {
                PruneDecision::Prune(why) => {
                    PruneDecision::Prune(format!("{reason}; and {kind}: {why}"))
                }
                PruneDecision::Continue => PruneDecision::Continue,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::curve as trial;
    use kiln_core::TrialState;

    fn decide(pruner: &PatiencePruner, dir: Direction, trials: &[FrozenTrial]) -> PruneDecision {
        let view = StudyView {
            directions: &[dir],
            trials,
        };
        let t = trials.last().expect("a trial");
        pruner.should_prune(&view, t).expect("decide")
    }

    #[test]
    fn conforms() {
        kiln_core::testing::check_pruner(|| Box::new(PatiencePruner::new(3, 0.0, None)));
        kiln_core::testing::check_pruner(|| {
            let ctx = kiln_core::testing::context(0);
            let params = serde_json::json!({ "patience": 1, "wrapped": { "kind": "median" } });
            Box::new(PatiencePruner::from_params(&params, &ctx).expect("valid"))
        });
    }

    #[test]
    fn prunes_after_patience_steps_without_improvement() {
        let pruner = PatiencePruner::new(2, 0.0, None);
        for (dir, sign) in [(Direction::Minimize, 1.0), (Direction::Maximize, -1.0)] {
            let curve = |v: &[f64]| {
                vec![trial(
                    0,
                    TrialState::Running,
                    &v.iter().map(|x| sign * x).collect::<Vec<_>>(),
                )]
            };
            // Best 1.0 at step 1, then three reports all worse: prune at step 4.
            let d = decide(&pruner, dir, &curve(&[2.0, 1.0, 1.2, 1.1, 1.3]));
            assert!(
                matches!(&d, PruneDecision::Prune(r) if r.contains("step 4")),
                "{dir:?}: {d:?}"
            );
            // Too few reports, or an improvement among the recent ones: continue.
            assert_eq!(
                decide(&pruner, dir, &curve(&[2.0, 1.0, 1.2, 1.1])),
                PruneDecision::Continue
            );
            assert_eq!(
                decide(&pruner, dir, &curve(&[2.0, 1.0, 1.2, 0.9, 1.3])),
                PruneDecision::Continue
            );
        }
        // min_delta tolerates a recent best within 0.2 of the earlier best.
        let tolerant = PatiencePruner::new(2, 0.2, None);
        let t = vec![trial(0, TrialState::Running, &[2.0, 1.0, 1.2, 1.1, 1.3])];
        assert_eq!(
            decide(&tolerant, Direction::Minimize, &t),
            PruneDecision::Continue
        );
    }

    #[test]
    fn wrapped_pruner_must_agree() {
        let ctx = kiln_core::testing::context(0);
        let params = serde_json::json!({
            "patience": 1,
            "wrapped": { "kind": "threshold", "upper": 5.0 },
        });
        let pruner = PatiencePruner::from_params(&params, &ctx).expect("valid");
        let stalled_low = vec![trial(0, TrialState::Running, &[1.0, 2.0, 3.0])];
        assert_eq!(
            decide(&pruner, Direction::Minimize, &stalled_low),
            PruneDecision::Continue
        );
        let stalled_high = vec![trial(0, TrialState::Running, &[1.0, 2.0, 6.0])];
        let d = decide(&pruner, Direction::Minimize, &stalled_high);
        assert!(
            matches!(&d, PruneDecision::Prune(r) if r.contains("threshold")),
            "{d:?}"
        );
    }

    #[test]
    fn validates_ranges_and_the_wrapped_kind() {
        let ctx = kiln_core::testing::context(0).with_key("tune.pruner");
        for (params, key) in [
            (
                serde_json::json!({ "min_delta": -1.0 }),
                "tune.pruner.min_delta:",
            ),
            (
                serde_json::json!({ "wrapped": { "kind": "medain" } }),
                "tune.pruner.wrapped.kind:",
            ),
            (
                serde_json::json!({ "wrapped": { "n_startup_trials": 1 } }),
                "tune.pruner.wrapped.kind:",
            ),
            (
                serde_json::json!({ "wrapped": { "kind": "median", "interval_steps": 0 } }),
                "tune.pruner.wrapped.interval_steps:",
            ),
        ] {
            let err = PatiencePruner::from_params(&params, &ctx).expect_err("invalid");
            assert!(err.to_string().starts_with(key), "{err}");
        }
    }
}
