//! Pruners.
//!
//! | pruner | kind | notes |
//! |---|---|---|
//! | median | `median` | below the median of earlier trials at the same step |
//! | percentile | `percentile` | below a percentile of completed trials at the same step |
//! | successive halving | `successive_halving` | ASHA: keeps the top 1/`reduction_factor` at each rung |
//! | hyperband | `hyperband` | successive halving in brackets; a trial's bracket comes from its number |
//! | threshold | `threshold` | outside fixed `lower`/`upper` bounds, or NaN |
//! | divergence | `divergence` | NaN/inf loss, or a surge above `factor` × the running minimum |
//! | patience | `patience` | no improvement for `patience` steps (and the `wrapped` pruner agrees) |
//! | health | `health` | network-health limits: `max_dead_fraction`, `max_update_ratio`, `max_train_val_gap` (needs `trainer.probes`) |
//!
//! Every pruner here is stateless: it decides from the study it is shown, so workers can
//! share one and a resumed study needs nothing saved.
mod divergence;
mod health;
mod hyperband;
mod median;
mod patience;
mod percentile;
mod successive_halving;
mod threshold;

/// A trial in `state` that reported `values` at steps 0, 1, ... (for the pruners' tests).
#[cfg(test)]
fn curve(number: u64, state: kiln_core::TrialState, values: &[f64]) -> kiln_core::FrozenTrial {
    let mut t = kiln_core::FrozenTrial::running(number, Default::default());
    t.state = state;
    t.intermediate = values
        .iter()
        .enumerate()
        .map(|(s, v)| (s as u64, *v))
        .collect();
    t
}

pub use divergence::{DivergenceConfig, DivergencePruner, Series};
pub use health::{HealthConfig, HealthPruner};
pub use hyperband::{HyperbandConfig, HyperbandPruner};
pub use median::{MedianConfig, MedianPruner};
pub use patience::{PatienceConfig, PatiencePruner};
pub use percentile::{PercentileConfig, PercentilePruner};
pub use successive_halving::{SuccessiveHalvingConfig, SuccessiveHalvingPruner};
pub use threshold::{ThresholdConfig, ThresholdPruner};

use kiln_core::{BuildContext, Error, FrozenTrial, Pruner, Registrar, Result};

/// A pruner factory: parameters and context in, the pruner out.
type Build = fn(&serde_json::Value, &BuildContext) -> Result<Box<dyn Pruner>>;

/// Every pruner of this crate, as (kind, summary, factory). One table serves both the
/// registry and [`build`], which `patience` uses for its wrapped pruner (a factory cannot
/// reach the registry it is registered in).
const PRUNERS: &[(&str, &str, Build)] = &[
    (
        "median",
        "prune a trial whose value is worse than the median of earlier trials at the same step",
        |p, c| Ok(Box::new(MedianPruner::from_params(p, c)?)),
    ),
    (
        "percentile",
        "prune a trial whose best value is outside the top `percentile` of completed trials at the same step",
        |p, c| Ok(Box::new(PercentilePruner::from_params(p, c)?)),
    ),
    (
        "successive_halving",
        "asynchronous successive halving (ASHA): keep the top 1/reduction_factor of each rung",
        |p, c| Ok(Box::new(SuccessiveHalvingPruner::from_params(p, c)?)),
    ),
    (
        "hyperband",
        "hyperband: successive halving in brackets of different aggressiveness",
        |p, c| Ok(Box::new(HyperbandPruner::from_params(p, c)?)),
    ),
    (
        "threshold",
        "prune a trial whose latest value is NaN or outside fixed lower/upper bounds",
        |p, c| Ok(Box::new(ThresholdPruner::from_params(p, c)?)),
    ),
    (
        "divergence",
        "prune a trial whose loss turns NaN/inf or surges above factor x its running minimum",
        |p, c| Ok(Box::new(DivergencePruner::from_params(p, c)?)),
    ),
    (
        "patience",
        "prune a trial that has not improved for `patience` steps (and the wrapped pruner agrees)",
        |p, c| Ok(Box::new(PatiencePruner::from_params(p, c)?)),
    ),
    (
        "health",
        "prune an unhealthy network: dead units, oversized updates or overfitting beyond limits",
        |p, c| Ok(Box::new(HealthPruner::from_params(p, c)?)),
    ),
];

/// Registers the pruners.
pub fn register(r: &mut Registrar<'_>) -> Result<()> {
    for &(name, summary, build) in PRUNERS {
        r.pruner(name, summary, build)?;
    }
    Ok(())
}

/// The kinds of this crate's pruners.
pub fn kinds() -> Vec<&'static str> {
    PRUNERS.iter().map(|(name, _, _)| *name).collect()
}

/// Builds this crate's pruner of `kind`; an unknown kind is an error naming `{ctx.key}.kind`.
pub fn build(
    kind: &str,
    params: &serde_json::Value,
    ctx: &BuildContext,
) -> Result<Box<dyn Pruner>> {
    match PRUNERS.iter().find(|(name, _, _)| *name == kind) {
        Some((_, _, build)) => build(params, ctx),
        None => Err(Error::config(
            format!("{}.kind", ctx.key),
            format!("unknown pruner `{kind}`; known: {}", kinds().join(", ")),
        )),
    }
}

/// Optuna's `_is_first_in_interval_step`: whether `step` (the trial's last, `>= warmup`)
/// is the first report in its pruning interval. Checking "the previous report lies in an
/// earlier interval" instead of `step % interval == 0` keeps the check working when a
/// trial reports only every few steps.
pub(crate) fn first_in_interval(
    trial: &FrozenTrial,
    step: u64,
    warmup: u64,
    interval: u64,
) -> bool {
    let nearest_lower = (step - warmup) / interval * interval + warmup;
    trial
        .intermediate
        .range(..step)
        .next_back()
        .is_none_or(|(previous, _)| *previous < nearest_lower)
}

/// The best of `values` in `direction`, ignoring NaN (`None` when all are NaN or none).
pub(crate) fn best_of(
    values: impl IntoIterator<Item = f64>,
    direction: kiln_core::Direction,
) -> Option<f64> {
    values
        .into_iter()
        .filter(|v| !v.is_nan())
        .reduce(|a, b| if direction.better(b, a) { b } else { a })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pruner_registers_and_builds_with_defaults() {
        let registry = kiln_core::testing::registry_of(register);
        let ctx = kiln_core::testing::context(0);
        for kind in kinds() {
            let params = match kind {
                "percentile" => serde_json::json!({ "percentile": 25.0 }),
                "threshold" => serde_json::json!({ "upper": 1.0 }),
                _ => serde_json::json!({}),
            };
            let spec = kiln_core::PluginSpec {
                kind: kind.to_string(),
                params,
            };
            registry
                .build_pruner(&spec, &ctx)
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
    }

    #[test]
    fn unknown_kind_names_the_key() {
        let ctx = kiln_core::testing::context(0).with_key("tune.pruner");
        let err = build("medain", &serde_json::json!({}), &ctx)
            .err()
            .expect("unknown kind");
        assert!(err.to_string().starts_with("tune.pruner.kind:"), "{err}");
    }

    #[test]
    fn interval_uses_the_previous_report() {
        let mut t = FrozenTrial::running(0, Default::default());
        for s in [0, 3, 7] {
            t.intermediate.insert(s, 1.0);
        }
        // Interval 4 from warmup 0: step 7 shares [4, 8) with nothing earlier → first.
        assert!(first_in_interval(&t, 7, 0, 4));
        t.intermediate.insert(5, 1.0);
        assert!(!first_in_interval(&t, 7, 0, 4));
    }
}
