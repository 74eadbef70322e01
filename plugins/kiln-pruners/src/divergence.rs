//! kiln's divergence pruner: stops a trial whose loss blows up (a NaN/inf loss, or a
//! sudden surge in cost), which no comparison with other trials is needed to see.
use kiln_core::{
    BuildContext, Direction, Error, Family, FrozenTrial, PruneDecision, Pruner, Result, StudyView,
};
use serde::Deserialize;

/// Which per-epoch series the divergence pruner watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// `trial.attrs["train_loss"]`: a JSON array of training losses, index = epoch.
    TrainLoss,
    /// `trial.attrs["val_loss"]`: a JSON array of validation losses, index = epoch.
    ValLoss,
    /// The reported intermediate values (when the objective is itself a loss; when the
    /// study maximises, a surge is a fall).
    Objective,
}

impl Series {
    /// Its name in config and in reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            Series::TrainLoss => "train_loss",
            Series::ValLoss => "val_loss",
            Series::Objective => "objective",
        }
    }
}

fn three() -> f64 {
    3.0
}
fn train_loss() -> String {
    "train_loss".into()
}

/// Parameters of [`DivergencePruner`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DivergenceConfig {
    /// Prune when the latest loss exceeds `factor` × the running minimum (more than 1).
    #[serde(default = "three")]
    pub factor: f64,
    /// No surge check before this epoch (NaN/inf prunes at any epoch).
    #[serde(default)]
    pub n_warmup_steps: u64,
    /// `"train_loss"`, `"val_loss"` or `"objective"`.
    #[serde(default = "train_loss")]
    pub series: String,
}

/// Prunes a trial whose loss turns NaN or ±inf, or, from epoch `n_warmup_steps` on, whose
/// latest loss exceeds `factor` × the minimum of its earlier losses.
///
/// For a running minimum `m >= 0` the limit is `factor × m`; for a negative one (losses
/// such as a negative log-likelihood can be) it is `m + (factor - 1) × |m|`, the same
/// "grew by factor - 1 times its size" rule. The train and validation losses are
/// minimised whatever the study's direction; the `objective` series follows the
/// direction (a maximised objective is negated, so a surge is a fall).
///
/// A missing series means the engine does not record it: the pruner never prunes then.
/// The engine stores NaN and ±inf in the JSON arrays as `null`, which counts as non-finite.
#[derive(Debug, Clone)]
pub struct DivergencePruner {
    factor: f64,
    n_warmup_steps: u64,
    series: Series,
}

impl DivergencePruner {
    /// A pruner watching `series` (`factor` is assumed to be finite and above 1).
    pub fn new(series: Series, factor: f64, n_warmup_steps: u64) -> Self {
        DivergencePruner {
            factor,
            n_warmup_steps,
            series,
        }
    }

    /// Builds from config parameters, validating ranges.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: DivergenceConfig = ctx.parse(params)?;
        if !(c.factor.is_finite() && c.factor > 1.0) {
            return Err(Error::config(
                format!("{}.factor", ctx.key),
                format!("must be a number above 1, got {}", c.factor),
            ));
        }
        let series = match c.series.as_str() {
            "train_loss" => Series::TrainLoss,
            "val_loss" => Series::ValLoss,
            "objective" => Series::Objective,
            other => {
                return Err(Error::config(
                    format!("{}.series", ctx.key),
                    format!(
                        "expected \"train_loss\", \"val_loss\" or \"objective\", got \"{other}\""
                    ),
                ));
            }
        };
        Ok(DivergencePruner::new(series, c.factor, c.n_warmup_steps))
    }

    /// The watched series as (epoch, value), or `None` when the trial does not record it.
    fn series(&self, trial: &FrozenTrial) -> Result<Option<Vec<(u64, f64)>>> {
        let key = match self.series {
            Series::Objective => {
                return Ok(Some(
                    trial.intermediate.iter().map(|(s, v)| (*s, *v)).collect(),
                ));
            }
            Series::TrainLoss | Series::ValLoss => self.series.as_str(),
        };
        let Some(value) = trial.attrs.get(key) else {
            return Ok(None);
        };
        let malformed = |what: String| Error::Plugin {
            family: Family::Pruner,
            name: "divergence".into(),
            message: format!(
                "trial {}: attribute `{key}` {what}; expected an array of numbers (null for NaN)",
                trial.number
            ),
        };
        let items = value
            .as_array()
            .ok_or_else(|| malformed(format!("is {value}")))?;
        items
            .iter()
            .enumerate()
            .map(|(epoch, item)| match item {
                serde_json::Value::Null => Ok((epoch as u64, f64::NAN)),
                serde_json::Value::Number(n) => Ok((epoch as u64, n.as_f64().unwrap_or(f64::NAN))),
                other => Err(malformed(format!("holds {other} at index {epoch}"))),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}

impl Pruner for DivergencePruner {
    fn should_prune(&self, study: &StudyView<'_>, trial: &FrozenTrial) -> Result<PruneDecision> {
        if trial.intermediate.is_empty() {
            return Ok(PruneDecision::Continue);
        }
        let Some(series) = self.series(trial)? else {
            return Ok(PruneDecision::Continue);
        };
        let name = self.series.as_str();
        if let Some((epoch, v)) = series.iter().find(|(_, v)| !v.is_finite()) {
            return Ok(PruneDecision::Prune(format!(
                "step {epoch}: {name} is {v}, training diverged"
            )));
        }
        let Some((&(step, latest), earlier)) = series.split_last() else {
            return Ok(PruneDecision::Continue);
        };
        if step < self.n_warmup_steps || earlier.is_empty() {
            return Ok(PruneDecision::Continue);
        }
        // Work on a loss (lower is better); a maximised objective is negated.
        let sign = match (self.series, study.direction()) {
            (Series::Objective, Direction::Maximize) => -1.0,
            _ => 1.0,
        };
        let loss = sign * latest;
        let best = earlier
            .iter()
            .map(|(_, v)| sign * v)
            .fold(f64::INFINITY, f64::min);
        let limit = best + (self.factor - 1.0) * best.abs();
        if loss <= limit {
            return Ok(PruneDecision::Continue);
        }
        let factor = self.factor;
        Ok(PruneDecision::Prune(if sign > 0.0 {
            format!(
                "step {step}: {name} {latest:.6} exceeds factor {factor} × its running minimum \
                 {best:.6} over earlier epochs (limit {limit:.6})"
            )
        } else {
            format!(
                "step {step}: {name} {latest:.6} fell below its running maximum {:.6} over \
                 earlier epochs by more than factor {factor} allows (limit {:.6})",
                -best, -limit
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial_with(series: Series, values: &[f64]) -> FrozenTrial {
        let mut t = FrozenTrial::running(0, Default::default());
        t.intermediate = values
            .iter()
            .enumerate()
            .map(|(s, v)| (s as u64, *v))
            .collect();
        if series != Series::Objective {
            t.attrs
                .insert(series.as_str().into(), serde_json::json!(values));
        }
        t
    }

    fn decide(pruner: &DivergencePruner, dir: Direction, t: &FrozenTrial) -> PruneDecision {
        let trials = [t.clone()];
        let view = StudyView {
            directions: &[dir],
            trials: &trials,
        };
        pruner.should_prune(&view, t).expect("decide")
    }

    #[test]
    fn conforms() {
        for series in [Series::TrainLoss, Series::ValLoss, Series::Objective] {
            kiln_core::testing::check_pruner(|| Box::new(DivergencePruner::new(series, 3.0, 0)));
        }
    }

    #[test]
    fn prunes_a_surge_and_keeps_a_wobble() {
        for series in [Series::TrainLoss, Series::ValLoss, Series::Objective] {
            let pruner = DivergencePruner::new(series, 3.0, 0);
            let surge = trial_with(series, &[2.0, 1.0, 0.9, 5.0]);
            let d = decide(&pruner, Direction::Minimize, &surge);
            let PruneDecision::Prune(reason) = d else {
                panic!("{series:?}: surge kept");
            };
            for needle in ["step 3", "5.000000", "0.900000", "factor 3", "2.700000"] {
                assert!(reason.contains(needle), "{reason}");
            }
            let wobble = trial_with(series, &[2.0, 1.0, 0.9, 1.5]);
            assert_eq!(
                decide(&pruner, Direction::Minimize, &wobble),
                PruneDecision::Continue
            );
            // Losses stay losses when the study maximises an accuracy.
            if series != Series::Objective {
                assert!(matches!(
                    decide(&pruner, Direction::Maximize, &surge),
                    PruneDecision::Prune(_)
                ));
            }
        }
    }

    #[test]
    fn prunes_non_finite_values() {
        let pruner = DivergencePruner::new(Series::TrainLoss, 3.0, 10);
        // serde_json writes NaN as null.
        let nan = trial_with(Series::TrainLoss, &[2.0, f64::NAN]);
        assert_eq!(nan.attrs["train_loss"], serde_json::json!([2.0, null]));
        assert!(
            matches!(decide(&pruner, Direction::Minimize, &nan), PruneDecision::Prune(r) if r.contains("step 1"))
        );
        let pruner = DivergencePruner::new(Series::Objective, 3.0, 10);
        let inf = trial_with(Series::Objective, &[f64::INFINITY]);
        assert!(matches!(
            decide(&pruner, Direction::Minimize, &inf),
            PruneDecision::Prune(_)
        ));
    }

    #[test]
    fn warmup_missing_series_and_direction() {
        let late = DivergencePruner::new(Series::TrainLoss, 3.0, 4);
        let surge = trial_with(Series::TrainLoss, &[2.0, 1.0, 0.9, 5.0]);
        assert_eq!(
            decide(&late, Direction::Minimize, &surge),
            PruneDecision::Continue
        );
        let val = DivergencePruner::new(Series::ValLoss, 3.0, 0);
        assert_eq!(
            decide(&val, Direction::Minimize, &surge),
            PruneDecision::Continue
        );
        // A maximised objective: falling from 0.9 to -5 is a surge of its negation.
        let objective = DivergencePruner::new(Series::Objective, 3.0, 0);
        let fall = trial_with(Series::Objective, &[0.5, 0.9, -5.0]);
        assert!(matches!(
            decide(&objective, Direction::Maximize, &fall),
            PruneDecision::Prune(_)
        ));
        let rise = trial_with(Series::Objective, &[0.5, 0.9, 0.95]);
        assert_eq!(
            decide(&objective, Direction::Maximize, &rise),
            PruneDecision::Continue
        );
    }

    #[test]
    fn malformed_series_is_an_error_and_config_is_validated() {
        let pruner = DivergencePruner::new(Series::TrainLoss, 3.0, 0);
        let mut t = trial_with(Series::Objective, &[1.0]);
        t.attrs
            .insert("train_loss".into(), serde_json::json!({ "0": 1.0 }));
        let trials = [t.clone()];
        let view = StudyView {
            directions: &[Direction::Minimize],
            trials: &trials,
        };
        assert!(pruner.should_prune(&view, &t).is_err());
        let ctx = kiln_core::testing::context(0).with_key("tune.pruner");
        for (params, field) in [
            (serde_json::json!({ "factor": 1.0 }), "factor"),
            (serde_json::json!({ "series": "loss" }), "series"),
        ] {
            let err = DivergencePruner::from_params(&params, &ctx).expect_err("invalid");
            assert!(
                err.to_string()
                    .starts_with(&format!("tune.pruner.{field}:")),
                "{err}"
            );
        }
    }
}
