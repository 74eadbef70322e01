use kiln_core::{BuildContext, Error, FrozenTrial, PruneDecision, Pruner, Result, StudyView};
use serde::Deserialize;

/// Parameters of [`HealthPruner`]: limits on the network-health series a trial reports
/// when the trainer's probes are on (`trainer.probes = true`). Each limit is optional.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Prune when some layer's dead-unit fraction exceeds this (e.g. 0.5).
    pub max_dead_fraction: Option<f64>,
    /// Prune when some tensor's update/weight ratio exceeds this (e.g. 0.1: steps too big).
    pub max_update_ratio: Option<f64>,
    /// Prune when training accuracy exceeds validation accuracy by more than this.
    pub max_train_val_gap: Option<f64>,
    /// Epochs reported before any limit applies.
    #[serde(default = "one")]
    pub after_epochs: usize,
}

fn one() -> usize {
    1
}

/// Prunes a trial whose network is unhealthy: too many dead units, updates too large for
/// the weights, or a train/validation gap (overfitting) beyond a limit. It reads the
/// engine's per-epoch series `dead_fraction` (the worst layer), `update_ratio` (the worst
/// tensor) and `train_val_gap` from the trial's attributes; a trial without probes is never
/// pruned. Stateless.
#[derive(Debug, Clone)]
pub struct HealthPruner {
    config: HealthConfig,
}

impl HealthPruner {
    /// A pruner with validated limits.
    pub fn new(config: HealthConfig, key: &str) -> Result<Self> {
        for (name, v) in [
            ("max_dead_fraction", config.max_dead_fraction),
            ("max_update_ratio", config.max_update_ratio),
            ("max_train_val_gap", config.max_train_val_gap),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(Error::config(
                    format!("{key}.{name}"),
                    "must be a number >= 0",
                ));
            }
        }
        if config.max_dead_fraction.is_some_and(|v| v > 1.0) {
            return Err(Error::config(
                format!("{key}.max_dead_fraction"),
                "is a fraction in [0, 1]",
            ));
        }
        Ok(HealthPruner { config })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        HealthPruner::new(ctx.parse(params)?, &ctx.key)
    }
}

fn last(trial: &FrozenTrial, series: &str) -> Option<(usize, f64)> {
    let a = trial.attrs.get(series)?.as_array()?;
    Some((a.len(), a.last()?.as_f64()?))
}

impl Pruner for HealthPruner {
    fn should_prune(&self, _study: &StudyView<'_>, trial: &FrozenTrial) -> Result<PruneDecision> {
        let c = &self.config;
        for (series, limit, what) in [
            ("dead_fraction", c.max_dead_fraction, "dead-unit fraction"),
            ("update_ratio", c.max_update_ratio, "update/weight ratio"),
            (
                "train_val_gap",
                c.max_train_val_gap,
                "train/validation accuracy gap",
            ),
        ] {
            let (Some(limit), Some((epochs, v))) = (limit, last(trial, series)) else {
                continue;
            };
            if epochs >= c.after_epochs && v > limit {
                return Ok(PruneDecision::Prune(format!(
                    "unhealthy: {what} {v:.4} > {limit} at epoch {epochs}"
                )));
            }
        }
        Ok(PruneDecision::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::{Direction, TrialState};

    fn with_dead(values: &[f64]) -> FrozenTrial {
        let mut t = crate::base::curve(0, TrialState::Running, &[0.5; 3]);
        t.attrs
            .insert("dead_fraction".into(), serde_json::json!(values));
        t
    }

    fn pruner(max: f64, after: usize) -> HealthPruner {
        HealthPruner::new(
            HealthConfig {
                max_dead_fraction: Some(max),
                after_epochs: after,
                ..HealthConfig::default()
            },
            "p",
        )
        .expect("valid")
    }

    #[test]
    fn conforms() {
        kiln_core::testing::check_pruner(|| Box::new(pruner(0.5, 1)));
    }

    #[test]
    fn prunes_on_too_many_dead_units_after_the_grace_epochs() {
        let view = StudyView {
            directions: &[Direction::Maximize],
            trials: &[],
        };
        let p = pruner(0.5, 2);
        let d = |v: &[f64]| p.should_prune(&view, &with_dead(v)).expect("decides");
        assert_eq!(d(&[0.9]), PruneDecision::Continue, "grace epoch");
        assert!(matches!(d(&[0.1, 0.6]), PruneDecision::Prune(r) if r.contains("dead-unit")));
        assert_eq!(d(&[0.9, 0.4]), PruneDecision::Continue);
        let no_probes = crate::base::curve(0, TrialState::Running, &[0.5; 3]);
        assert_eq!(
            p.should_prune(&view, &no_probes).expect("decides"),
            PruneDecision::Continue
        );
    }

    #[test]
    fn bad_limits_name_the_key() {
        let c = HealthConfig {
            max_dead_fraction: Some(1.5),
            ..HealthConfig::default()
        };
        let e = HealthPruner::new(c, "stages[0].pruner")
            .expect_err("> 1")
            .to_string();
        assert!(e.contains("stages[0].pruner.max_dead_fraction"), "{e}");
    }
}
