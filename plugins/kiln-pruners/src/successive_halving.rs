//! Asynchronous successive halving (ASHA), Optuna's `SuccessiveHalvingPruner`.
//!
//! Optuna records, in each trial's system attributes, the value the trial had when it
//! reached each rung. kiln's pruners are stateless, so the rungs are recomputed from the
//! intermediate values every trial reported:
//!
//! - steps are 0-based epochs, so a trial that reported at step `s` has used `s + 1`
//!   epochs of resource;
//! - rung `k` needs `r_k = min_resource × reduction_factor^(k + min_early_stopping_rate)`
//!   epochs: a trial *reached rung k* if it reported at a step `>= r_k - 1`, and its value
//!   at rung `k` is the value of its first report at or after that step (the value Optuna
//!   would have recorded);
//! - a trial is judged at rung `k` by the report that first reaches it (previous report
//!   `< r_k - 1 <=` latest report), against the rung-`k` values of every other trial that
//!   reached it (running, complete, pruned or failed, as in Optuna). A trial that passed
//!   a rung is not judged there again, so promotions are never taken back.
//!
//! Passing a rung means being in the best `1/reduction_factor` of the trials that reached
//! it; while fewer than `reduction_factor` trials have, only the best one so far passes
//! (Optuna cannot pause trials to wait for more). NaN values of other trials count as the
//! worst values; a NaN value of the judged trial fails the rung.
use kiln_core::{
    BuildContext, Direction, Error, FrozenTrial, PruneDecision, Pruner, Result, StudyView,
    TrialState,
};
use serde::Deserialize;

/// A resource (epochs) given in config as a number or `"auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Estimated from the completed trials' reports.
    Auto,
    /// This many epochs.
    Epochs(u64),
}

/// Reads `"auto"` or an integer `>= 1`; errors name `key`.
pub(crate) fn parse_resource(value: &serde_json::Value, key: String) -> Result<Resource> {
    match value {
        serde_json::Value::String(s) if s == "auto" => Ok(Resource::Auto),
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(epochs) if epochs >= 1 => Ok(Resource::Epochs(epochs)),
            _ => Err(Error::config(
                key,
                format!("must be an integer >= 1, got {n}"),
            )),
        },
        other => Err(Error::config(
            key,
            format!("expected \"auto\" or an integer >= 1, got {other}"),
        )),
    }
}

pub(crate) fn auto() -> serde_json::Value {
    serde_json::Value::String("auto".into())
}
fn four() -> u64 {
    4
}

/// Parameters of [`SuccessiveHalvingPruner`] (Optuna's names and defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuccessiveHalvingConfig {
    /// Epochs of the first rung: an integer, or `"auto"` = 1/100 of the longest completed
    /// trial (at least 1); with `"auto"`, nothing is pruned before a trial completes.
    #[serde(default = "auto")]
    pub min_resource: serde_json::Value,
    /// Each rung keeps the best `1/reduction_factor` and needs `reduction_factor` times
    /// the epochs of the one before.
    #[serde(default = "four")]
    pub reduction_factor: u64,
    /// Shifts the first rung to `min_resource × reduction_factor^rate` epochs.
    #[serde(default)]
    pub min_early_stopping_rate: u64,
    /// Trials that must reach a rung before any passes it (earlier arrivals are pruned).
    #[serde(default)]
    pub bootstrap_count: usize,
}

/// The rung arithmetic and the promotion rule, shared with hyperband's brackets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rungs {
    pub min_resource: u64,
    pub reduction_factor: u64,
    pub min_early_stopping_rate: u64,
    pub bootstrap_count: usize,
}

impl Rungs {
    /// Epochs a trial needs to reach rung `k` (`None` past `u64`). Factories reject a
    /// factor below 2 and a resource below 1; clamping here too keeps the rung loop finite
    /// whatever a caller of `new` passes.
    fn resource(&self, k: u64) -> Option<u64> {
        let exponent = u32::try_from(k.checked_add(self.min_early_stopping_rate)?).ok()?;
        self.reduction_factor
            .max(2)
            .checked_pow(exponent)?
            .checked_mul(self.min_resource.max(1))
    }

    /// Judges `trial` at the rungs its latest report reached, against the trials for
    /// which `peer` holds. `label` ends the reason (e.g. " in bracket 2").
    pub(crate) fn decide(
        &self,
        direction: Direction,
        trials: &[FrozenTrial],
        trial: &FrozenTrial,
        peer: impl Fn(&FrozenTrial) -> bool,
        label: &str,
    ) -> PruneDecision {
        let Some((step, value)) = trial.last_intermediate() else {
            return PruneDecision::Continue;
        };
        let previous = trial
            .intermediate
            .range(..step)
            .next_back()
            .map(|(s, _)| *s);
        let worst = match direction {
            Direction::Minimize => f64::INFINITY,
            Direction::Maximize => f64::NEG_INFINITY,
        };
        for k in 0.. {
            let Some(resource) = self.resource(k) else {
                break;
            };
            let rung_step = resource - 1;
            if rung_step > step {
                break;
            }
            if previous.is_some_and(|p| p >= rung_step) {
                continue; // judged when it first reached this rung
            }
            if value.is_nan() {
                return PruneDecision::Prune(format!(
                    "step {step}: value is NaN at rung {k} ({resource} epochs){label}"
                ));
            }
            let mut values: Vec<f64> = trials
                .iter()
                .filter(|t| t.number != trial.number && t.state != TrialState::Waiting && peer(t))
                .filter_map(|t| t.intermediate.range(rung_step..).next().map(|(_, v)| *v))
                .map(|v| if v.is_nan() { worst } else { v })
                .collect();
            values.push(value);
            let n = values.len();
            if n <= self.bootstrap_count {
                return PruneDecision::Prune(format!(
                    "step {step}: only {n} trial(s) reached rung {k} ({resource} epochs){label}, \
                     not more than bootstrap_count = {}",
                    self.bootstrap_count
                ));
            }
            values.sort_by(f64::total_cmp);
            let factor = usize::try_from(self.reduction_factor.max(2)).unwrap_or(usize::MAX);
            let keep = (n / factor).max(1);
            let (limit, passes) = match direction {
                Direction::Minimize => (values[keep - 1], value <= values[keep - 1]),
                Direction::Maximize => (values[n - keep], value >= values[n - keep]),
            };
            if !passes {
                return PruneDecision::Prune(format!(
                    "step {step}: value {value:.6} at rung {k} ({resource} epochs){label} is not \
                     among the best {keep} of the {n} trials that reached it (needed {limit:.6} \
                     or better, reduction factor {})",
                    self.reduction_factor
                ));
            }
        }
        PruneDecision::Continue
    }
}

/// Asynchronous successive halving: at each rung, prunes trials outside the best
/// `1/reduction_factor` of those that reached it. See the module docs for how rungs are
/// computed from intermediate values.
#[derive(Debug, Clone)]
pub struct SuccessiveHalvingPruner {
    min_resource: Resource,
    reduction_factor: u64,
    min_early_stopping_rate: u64,
    bootstrap_count: usize,
}

impl SuccessiveHalvingPruner {
    /// A pruner with `min_early_stopping_rate = 0` and `bootstrap_count = 0` (Optuna's
    /// defaults are `Resource::Auto` and 4); a factor below 2 acts as 2.
    pub fn new(min_resource: Resource, reduction_factor: u64) -> Self {
        SuccessiveHalvingPruner {
            min_resource,
            reduction_factor,
            min_early_stopping_rate: 0,
            bootstrap_count: 0,
        }
    }

    /// Builds from config parameters, validating ranges.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: SuccessiveHalvingConfig = ctx.parse(params)?;
        let min_resource = parse_resource(&c.min_resource, format!("{}.min_resource", ctx.key))?;
        if c.reduction_factor < 2 {
            return Err(Error::config(
                format!("{}.reduction_factor", ctx.key),
                format!("must be at least 2, got {}", c.reduction_factor),
            ));
        }
        if c.bootstrap_count > 0 && min_resource == Resource::Auto {
            return Err(Error::config(
                format!("{}.bootstrap_count", ctx.key),
                "must be 0 when min_resource = \"auto\" (set min_resource to a number of epochs)",
            ));
        }
        Ok(SuccessiveHalvingPruner {
            min_resource,
            reduction_factor: c.reduction_factor,
            min_early_stopping_rate: c.min_early_stopping_rate,
            bootstrap_count: c.bootstrap_count,
        })
    }

    /// The first rung's epochs: as configured, or 1/100 of the epochs of the longest
    /// completed trial (at least 1); `None` while `"auto"` has no completed trial.
    pub fn min_resource(&self, study: &StudyView<'_>) -> Option<u64> {
        match self.min_resource {
            Resource::Epochs(e) => Some(e),
            Resource::Auto => study
                .trials
                .iter()
                .filter(|t| t.state == TrialState::Complete)
                .filter_map(|t| t.last_intermediate().map(|(s, _)| s.saturating_add(1)))
                .max()
                .map(|epochs| (epochs / 100).max(1)),
        }
    }
}

impl Pruner for SuccessiveHalvingPruner {
    fn should_prune(&self, study: &StudyView<'_>, trial: &FrozenTrial) -> Result<PruneDecision> {
        let Some(min_resource) = self.min_resource(study) else {
            return Ok(PruneDecision::Continue);
        };
        let rungs = Rungs {
            min_resource,
            reduction_factor: self.reduction_factor,
            min_early_stopping_rate: self.min_early_stopping_rate,
            bootstrap_count: self.bootstrap_count,
        };
        Ok(rungs.decide(study.direction(), study.trials, trial, |_| true, ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::curve;

    #[test]
    fn conforms() {
        kiln_core::testing::check_pruner(|| {
            Box::new(SuccessiveHalvingPruner::new(Resource::Auto, 4))
        });
        kiln_core::testing::check_pruner(|| {
            Box::new(SuccessiveHalvingPruner::new(Resource::Epochs(1), 2))
        });
    }

    #[test]
    fn prunes_below_the_top_quarter_of_a_rung() {
        // min_resource 1, factor 4: rung 0 at step 0, rung 1 at step 3 (4 epochs).
        let pruner = SuccessiveHalvingPruner::new(Resource::Epochs(1), 4);
        for (dir, sign) in [(Direction::Minimize, 1.0), (Direction::Maximize, -1.0)] {
            // Seven trials reached rung 1 with values 1..=7; with this one, 8 → keep 2.
            let mut trials: Vec<FrozenTrial> = (0..7)
                .map(|i| {
                    let v = sign * (i + 1) as f64;
                    curve(i, TrialState::Complete, &[v, v, v, v, v])
                })
                .collect();
            let mut decide = |values: &[f64]| {
                let values: Vec<f64> = values.iter().map(|v| sign * v).collect();
                let t = curve(7, TrialState::Running, &values);
                trials.push(t.clone());
                let view = StudyView {
                    directions: &[dir],
                    trials: &trials,
                };
                let d = pruner.should_prune(&view, &t).expect("decide");
                trials.pop();
                d
            };
            // Second best at rung 1: promoted.
            assert_eq!(decide(&[0.5, 9.0, 9.0, 1.5]), PruneDecision::Continue);
            // Between rungs nothing is judged, however bad.
            assert_eq!(decide(&[0.5, 9.0, 9.0]), PruneDecision::Continue);
            // Third best at rung 1: outside the top 1/4.
            let d = decide(&[0.5, 9.0, 9.0, 2.5]);
            assert!(
                matches!(&d, PruneDecision::Prune(r) if r.contains("step 3") && r.contains("rung 1")),
                "{dir:?}: {d:?}"
            );
            // Worse than the best at rung 0 with few peers there? 8 at rung 0 too → prune.
            assert!(matches!(decide(&[3.0]), PruneDecision::Prune(_)));
            assert!(matches!(decide(&[f64::NAN]), PruneDecision::Prune(_)));
        }
    }

    #[test]
    fn auto_waits_for_a_completed_trial() {
        let pruner = SuccessiveHalvingPruner::new(Resource::Auto, 4);
        let running = curve(0, TrialState::Running, &[1.0]);
        let bad = curve(1, TrialState::Running, &[9.0]);
        let trials = vec![running, bad.clone()];
        let view = StudyView {
            directions: &[Direction::Minimize],
            trials: &trials,
        };
        assert_eq!(pruner.min_resource(&view), None);
        assert_eq!(
            pruner.should_prune(&view, &bad).expect("decide"),
            PruneDecision::Continue
        );
        let trials = vec![curve(0, TrialState::Complete, &[1.0; 300]), bad.clone()];
        let view = StudyView {
            directions: &[Direction::Minimize],
            trials: &trials,
        };
        assert_eq!(pruner.min_resource(&view), Some(3));
    }

    #[test]
    fn validates_ranges() {
        let ctx = kiln_core::testing::context(0).with_key("tune.pruner");
        for (params, field) in [
            (serde_json::json!({ "min_resource": 0 }), "min_resource"),
            (
                serde_json::json!({ "min_resource": "soon" }),
                "min_resource",
            ),
            (
                serde_json::json!({ "reduction_factor": 1 }),
                "reduction_factor",
            ),
            (
                serde_json::json!({ "bootstrap_count": 2 }),
                "bootstrap_count",
            ),
        ] {
            let err = SuccessiveHalvingPruner::from_params(&params, &ctx).expect_err("invalid");
            assert!(
                err.to_string()
                    .starts_with(&format!("tune.pruner.{field}:")),
                "{err}"
            );
        }
        let ok = serde_json::json!({ "min_resource": 2, "bootstrap_count": 2 });
        assert!(SuccessiveHalvingPruner::from_params(&ok, &ctx).is_ok());
    }
}
