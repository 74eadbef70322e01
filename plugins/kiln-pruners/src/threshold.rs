use crate::base::first_in_interval;
use kiln_core::{BuildContext, Error, FrozenTrial, PruneDecision, Pruner, Result, StudyView};
use serde::Deserialize;

fn one() -> u64 {
    1
}

/// Parameters of [`ThresholdPruner`] (Optuna's names and defaults); at least one of
/// `lower` and `upper` is required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdConfig {
    /// Prune when the latest value is below this.
    #[serde(default)]
    pub lower: Option<f64>,
    /// Prune when the latest value is above this.
    #[serde(default)]
    pub upper: Option<f64>,
    /// Never prune a trial before this step.
    #[serde(default)]
    pub n_warmup_steps: u64,
    /// Only consider pruning at the first report of every `interval_steps` steps.
    #[serde(default = "one")]
    pub interval_steps: u64,
}

/// Prunes a trial whose latest value is NaN or outside `[lower, upper]` (Optuna's
/// `ThresholdPruner`). The bounds are absolute values, the same whichever the direction:
/// `upper` catches a loss that blew up, `lower` an accuracy stuck at chance.
#[derive(Debug, Clone)]
pub struct ThresholdPruner {
    config: ThresholdConfig,
}

impl ThresholdPruner {
    /// A pruner with `config` (assumed valid; see [`ThresholdPruner::from_params`]).
    pub fn new(config: ThresholdConfig) -> Self {
        ThresholdPruner { config }
    }

    /// Builds from config parameters, validating ranges.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: ThresholdConfig = ctx.parse(params)?;
        match (c.lower, c.upper) {
            (None, None) => {
                return Err(Error::config(
                    ctx.key.clone(),
                    "needs `lower`, `upper` or both: the bounds outside which to prune",
                ));
            }
            (Some(lower), Some(upper)) if lower > upper => {
                return Err(Error::config(
                    format!("{}.lower", ctx.key),
                    format!("must not exceed upper = {upper}, got {lower}"),
                ));
            }
            _ => {}
        }
        for (field, bound) in [("lower", c.lower), ("upper", c.upper)] {
            if bound.is_some_and(f64::is_nan) {
                return Err(Error::config(
                    format!("{}.{field}", ctx.key),
                    "must be a number",
                ));
            }
        }
        if c.interval_steps == 0 {
            return Err(Error::config(
                format!("{}.interval_steps", ctx.key),
                "must be at least 1",
            ));
        }
        Ok(ThresholdPruner::new(c))
    }
}

impl Pruner for ThresholdPruner {
    fn should_prune(&self, _: &StudyView<'_>, trial: &FrozenTrial) -> Result<PruneDecision> {
        let c = &self.config;
        let Some((step, value)) = trial.last_intermediate() else {
            return Ok(PruneDecision::Continue);
        };
        if step < c.n_warmup_steps
            || !first_in_interval(trial, step, c.n_warmup_steps, c.interval_steps)
        {
            return Ok(PruneDecision::Continue);
        }
        if value.is_nan() {
            return Ok(PruneDecision::Prune(format!("step {step}: value is NaN")));
        }
        if let Some(lower) = c.lower
            && value < lower
        {
            return Ok(PruneDecision::Prune(format!(
                "step {step}: value {value:.6} is below the lower threshold {lower}"
            )));
        }
        if let Some(upper) = c.upper
            && value > upper
        {
            return Ok(PruneDecision::Prune(format!(
                "step {step}: value {value:.6} is above the upper threshold {upper}"
            )));
        }
        Ok(PruneDecision::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::Direction;

    fn config(lower: Option<f64>, upper: Option<f64>) -> ThresholdConfig {
        ThresholdConfig {
            lower,
            upper,
            n_warmup_steps: 0,
            interval_steps: 1,
        }
    }

    fn decide(pruner: &ThresholdPruner, values: &[f64]) -> PruneDecision {
        let mut t = FrozenTrial::running(0, Default::default());
        t.intermediate = values
            .iter()
            .enumerate()
            .map(|(s, v)| (s as u64, *v))
            .collect();
        let trials = [t.clone()];
        let view = StudyView {
            directions: &[Direction::Minimize],
            trials: &trials,
        };
        pruner.should_prune(&view, &t).expect("decide")
    }

    #[test]
    fn conforms() {
        kiln_core::testing::check_pruner(|| {
            Box::new(ThresholdPruner::new(config(Some(-50.0), Some(50.0))))
        });
    }

    #[test]
    fn prunes_outside_bounds_and_nan() {
        let pruner = ThresholdPruner::new(config(Some(0.1), Some(2.0)));
        assert_eq!(decide(&pruner, &[1.0, 1.5]), PruneDecision::Continue);
        let d = decide(&pruner, &[1.0, 2.5]);
        assert!(matches!(&d, PruneDecision::Prune(r) if r.contains("step 1") && r.contains("2.5")));
        assert!(matches!(decide(&pruner, &[0.05]), PruneDecision::Prune(_)));
        assert!(matches!(
            decide(&pruner, &[f64::NAN]),
            PruneDecision::Prune(_)
        ));
        assert_eq!(decide(&pruner, &[]), PruneDecision::Continue);
    }

    #[test]
    fn respects_warmup_and_interval() {
        let mut c = config(None, Some(1.0));
        c.n_warmup_steps = 2;
        c.interval_steps = 2;
        let pruner = ThresholdPruner::new(c);
        assert_eq!(decide(&pruner, &[9.0, 9.0]), PruneDecision::Continue);
        assert!(matches!(
            decide(&pruner, &[9.0, 9.0, 9.0]),
            PruneDecision::Prune(_)
        ));
        assert_eq!(
            decide(&pruner, &[9.0, 9.0, 9.0, 9.0]),
            PruneDecision::Continue
        );
    }

    #[test]
    fn validates_ranges() {
        let ctx = kiln_core::testing::context(0).with_key("tune.pruner");
        let err = ThresholdPruner::from_params(&serde_json::json!({}), &ctx).expect_err("no bound");
        assert!(err.to_string().starts_with("tune.pruner:"), "{err}");
        let err =
            ThresholdPruner::from_params(&serde_json::json!({ "lower": 2.0, "upper": 1.0 }), &ctx)
                .expect_err("inverted");
        assert!(err.to_string().starts_with("tune.pruner.lower:"), "{err}");
        let err = ThresholdPruner::from_params(
            &serde_json::json!({ "upper": 1.0, "interval_steps": 0 }),
            &ctx,
        )
        .expect_err("interval");
        assert!(
            err.to_string().starts_with("tune.pruner.interval_steps:"),
            "{err}"
        );
    }
}
