//! kiln's built-in pruners.
//!
//! A pruner reads the per-epoch values a trial reported (and, for `divergence` and
//! `health`, the series the engine records beside them) and decides whether the trial goes
//! on. The [`Pruner`] trait and its contract are in `kiln-core`; this crate holds the
//! implementations, one file each, and registers them like any third-party plugin.
//!
//! | pruner | kind | parameters (defaults) | notes |
//! |---|---|---|---|
//! | median | `median` | n_startup_trials 5, n_warmup_steps 0, interval_steps 1, n_min_trials 1 | below the median of earlier trials at the same step |
//! | percentile | `percentile` | percentile (required), as median | Optuna's PercentilePruner |
//! | successive halving | `successive_halving` | min_resource "auto", reduction_factor 4, min_early_stopping_rate 0, bootstrap_count 0 | ASHA: keeps the top 1/rf at each rung |
//! | Hyperband | `hyperband` | min_resource 1, max_resource "auto", reduction_factor 3, bootstrap_count 0 | successive halving in brackets chosen by trial number |
//! | threshold | `threshold` | lower and/or upper, n_warmup_steps 0, interval_steps 1 | prunes NaN and values outside the bounds |
//! | divergence | `divergence` | factor 3.0, n_warmup_steps 0, series `train_loss` | NaN/inf, or a loss above factor × its running minimum (the "sudden surge in cost") |
//! | patience | `patience` | patience 3, min_delta 0, wrapped | prunes after `patience` steps without improvement (and if the wrapped pruner agrees) |
//! | health | `health` | max_dead_fraction, max_update_ratio, max_train_val_gap (each optional), after_epochs 1 | dead units, oversized updates or overfitting beyond a limit (needs `trainer.probes`) |
//!
//! # Design
//!
//! - **Stateless.** Every pruner decides from the study it is shown and the trial's own
//!   reports: workers share one object, several processes on one study agree, and a
//!   resumed study needs nothing saved. Where Optuna keeps state (ASHA's rung values in
//!   system attributes), it is recomputed from the intermediate values
//!   (`successive_halving.rs` says how).
//! - **Optuna's names, defaults and rules**, so a study tuned with Optuna's pruners
//!   behaves the same here; where kiln differs (a default for `patience`, Hyperband's
//!   bracket hash), the pruner's docs say so.
//! - **A separate crate from the strategies.** Pruners and search strategies are
//!   independent families (any strategy runs with any pruner, or none); each crate holds
//!   one family, so either can change without rebuilding or retesting the other.
//! - **One list.** [`register`] lists every pruner once. `patience` wraps another pruner
//!   named by kind, and a factory cannot reach the registry it is registered in, so
//!   [`build`] registers the same list into a registry of its own and builds from it:
//!   there is no second table of kinds to keep in sync.
//! - **Shared helpers** (Optuna's interval rule, the best value of a series) are in
//!   `base.rs`; the rung arithmetic that successive halving and Hyperband share is in
//!   `successive_halving.rs`, as Hyperband is successive halving in brackets.
//!
//! Parameters are validated in each factory, and errors name the key (`tune.pruner.factor`).
//! Every pruner passes `kiln_core::testing::check_pruner`.

mod base;
mod divergence;
mod health;
mod hyperband;
mod median;
mod patience;
mod percentile;
mod successive_halving;
mod threshold;

pub use divergence::{DivergenceConfig, DivergencePruner, Series};
pub use health::{HealthConfig, HealthPruner};
pub use hyperband::{HyperbandConfig, HyperbandPruner};
pub use median::{MedianConfig, MedianPruner};
pub use patience::{PatienceConfig, PatiencePruner};
pub use percentile::{PercentileConfig, PercentilePruner};
pub use successive_halving::{SuccessiveHalvingConfig, SuccessiveHalvingPruner};
pub use threshold::{ThresholdConfig, ThresholdPruner};

use kiln_core::{BuildContext, PluginSpec, Pruner, Registrar, Registry, Result};

/// Registers this crate's plugins.
pub fn register(r: &mut Registrar<'_>) -> Result<()> {
    r.pruner(
        "median",
        "prune a trial whose value is worse than the median of earlier trials at the same step",
        |params, ctx| Ok(Box::new(MedianPruner::from_params(params, ctx)?)),
    )?;
    r.pruner(
        "percentile",
        "prune a trial whose best value is outside the top `percentile` of completed trials at the same step",
        |params, ctx| Ok(Box::new(PercentilePruner::from_params(params, ctx)?)),
    )?;
    r.pruner(
        "successive_halving",
        "asynchronous successive halving (ASHA): keep the top 1/reduction_factor of each rung",
        |params, ctx| Ok(Box::new(SuccessiveHalvingPruner::from_params(params, ctx)?)),
    )?;
    r.pruner(
        "hyperband",
        "hyperband: successive halving in brackets of different aggressiveness",
        |params, ctx| Ok(Box::new(HyperbandPruner::from_params(params, ctx)?)),
    )?;
    r.pruner(
        "threshold",
        "prune a trial whose latest value is NaN or outside fixed lower/upper bounds",
        |params, ctx| Ok(Box::new(ThresholdPruner::from_params(params, ctx)?)),
    )?;
    r.pruner(
        "divergence",
        "prune a trial whose loss turns NaN/inf or surges above factor x its running minimum",
        |params, ctx| Ok(Box::new(DivergencePruner::from_params(params, ctx)?)),
    )?;
    r.pruner(
        "patience",
        "prune a trial that has not improved for `patience` steps (and the wrapped pruner agrees)",
        |params, ctx| Ok(Box::new(PatiencePruner::from_params(params, ctx)?)),
    )?;
    r.pruner(
        "health",
        "prune an unhealthy network: dead units, oversized updates or overfitting beyond limits",
        |params, ctx| Ok(Box::new(HealthPruner::from_params(params, ctx)?)),
    )?;
    Ok(())
}

kiln_core::submit_plugin!(register);

/// Builds this crate's pruner of `kind` without the caller's registry (what `patience`
/// needs for its wrapped pruner): [`register`]'s list is registered into a registry of its
/// own, so the kinds are the registered ones. An unknown kind is an error naming
/// `{ctx.key}.kind`, with the known kinds and the closest.
pub fn build(
    kind: &str,
    params: &serde_json::Value,
    ctx: &BuildContext,
) -> Result<Box<dyn Pruner>> {
    let own = Registry::of(concat!("crate ", env!("CARGO_PKG_NAME")), register)?;
    let spec = PluginSpec {
        kind: kind.to_string(),
        params: params.clone(),
    };
    own.build_pruner(&spec, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::Family;

    #[test]
    fn every_pruner_registers_and_builds_with_defaults() {
        let registry = kiln_core::testing::registry_of(register);
        let ctx = kiln_core::testing::context(0);
        let kinds = registry.names(Family::Pruner);
        assert_eq!(kinds.len(), 8, "{kinds:?}");
        for kind in kinds {
            let params = match kind.as_str() {
                "percentile" => serde_json::json!({ "percentile": 25.0 }),
                "threshold" => serde_json::json!({ "upper": 1.0 }),
                _ => serde_json::json!({}),
            };
            let spec = PluginSpec {
                kind: kind.clone(),
                params: params.clone(),
            };
            registry
                .build_pruner(&spec, &ctx)
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
            build(&kind, &params, &ctx).unwrap_or_else(|e| panic!("build {kind}: {e}"));
        }
    }

    #[test]
    fn the_static_registration_is_the_list() {
        let linked = Registry::with_static_plugins().expect("register");
        let own = kiln_core::testing::registry_of(register);
        assert_eq!(
            linked.names(Family::Pruner),
            own.names(Family::Pruner),
            "submit_plugin! registers `register`"
        );
    }

    #[test]
    fn unknown_kind_names_the_key() {
        let ctx = kiln_core::testing::context(0).with_key("tune.pruner");
        let err = build("medain", &serde_json::json!({}), &ctx)
            .err()
            .expect("unknown kind");
        let text = err.to_string();
        assert!(text.starts_with("tune.pruner.kind:"), "{text}");
        assert!(text.contains("`median`"), "{text}");
    }
}
