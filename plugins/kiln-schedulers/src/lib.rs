//! kiln's built-in learning-rate schedulers.
//!
//! Every scheduler gives the rate of each optimiser step (`t` counts optimiser steps from 0);
//! parameters in epochs are converted with the run's steps per epoch when training starts.
//! Each one's `state` captures everything it needs (iteration, best metric, ...) so that a
//! resumed run continues exactly. Rates that would underflow to 0 are held at the smallest
//! positive `f64`.
//!
//! | scheduler | kind | parameters (defaults) | rate |
//! |---|---|---|---|
//! | constant | `constant` | — | the optimiser's base rate throughout |
//! | step decay | `step` | `gamma` (0.1); `step_size` (iterations) or `step_epochs` | ×`gamma` every `step_size` iterations (e.g. ×0.95 every N): Burn's `StepLrScheduler`'s rates, in closed form |
//! | multi-step decay | `multi_step` | `gamma` (0.1); `milestones` (iterations, strictly increasing) or `milestone_epochs` | ×`gamma` at each milestone (PyTorch's `MultiStepLR`) |
//! | exponential decay | `exponential` | `gamma` in (0, 1] (required) | `base · gammaᵗ`, per step |
//! | cosine annealing | `cosine` | `min_lr` (0); `period` (iterations) or `period_epochs` (default: the whole run); `restarts` (false); `t_mult` (1, integer, with `restarts`) | `min + (base − min)(1 + cos(π·τ/T))/2`; with `restarts` SGDR warm restarts, period `i` = `period · t_multⁱ`; without, `min_lr` after the period; never rises within a period |
//! | linear warm-up | `warmup` | `steps` or `epochs`; `start_factor` (0.01); `then` (`{ kind = "constant" }`, any scheduler of this crate) | from `start_factor · base` linearly towards `base` over the warm-up, then `then` (started on the rest of the run, its iterations and epochs counted from the warm-up's end) |
//! | one-cycle | `one_cycle` | `max_lr` (base rate); `pct_start` (0.3); `div_factor` (25); `final_div_factor` (1e4); `total_steps` (the whole run) | PyTorch's `OneCycleLR` with cosine annealing: `max_lr/div_factor` up to `max_lr` at step `pct_start·total − 1`, down to `max_lr/(div_factor·final_div_factor)` at `total − 1`, then held |
//! | reduce on plateau | `reduce_on_plateau` | `monitor` (`"val_loss"`, min; or `"val_accuracy"`, max); `factor` (0.1); `patience` (10 epochs); `threshold` (1e-4, relative); `cooldown` (0 epochs); `min_lr` (0) | PyTorch's `ReduceLROnPlateau`: `lr ← max(lr · factor, min_lr)` once more than `patience` epochs in a row fail to improve on the best by the relative `threshold` |

mod constant;
mod cosine;
mod exponential;
mod multi_step;
mod one_cycle;
mod reduce_on_plateau;
mod step;
mod util;
mod warmup;

pub use constant::ConstantSchedule;
pub use cosine::{Cosine, CosineConfig};
pub use exponential::{Exponential, ExponentialConfig};
pub use multi_step::{MultiStep, MultiStepConfig};
pub use one_cycle::{OneCycle, OneCycleConfig};
pub use reduce_on_plateau::{Monitor, ReduceOnPlateau, ReduceOnPlateauConfig};
pub use step::{StepConfig, StepDecay};
pub use warmup::{Warmup, WarmupConfig};

use kiln_core::{BuildContext, PluginSpec, Registrar, Registry, Result, Scheduler};

/// Registers this crate's plugins.
pub fn register(r: &mut Registrar<'_>) -> Result<()> {
    r.scheduler(
        "constant",
        "the base learning rate throughout",
        |params, ctx| {
            ctx.parse::<ConstantParams>(params)?;
            Ok(Box::new(ConstantSchedule::default()))
        },
    )?;
    r.scheduler(
        "step",
        "multiply the rate by `gamma` every `step_size` iterations (or `step_epochs` epochs)",
        |params, ctx| Ok(Box::new(StepDecay::from_params(params, ctx)?)),
    )?;
    r.scheduler(
        "multi_step",
        "multiply the rate by `gamma` at each of `milestones` (iterations) or `milestone_epochs`",
        |params, ctx| Ok(Box::new(MultiStep::from_params(params, ctx)?)),
    )?;
    r.scheduler(
        "exponential",
        "multiply the rate by `gamma` every iteration: base · gamma^t",
        |params, ctx| Ok(Box::new(Exponential::from_params(params, ctx)?)),
    )?;
    r.scheduler(
        "cosine",
        "cosine annealing from the base rate to `min_lr` over `period` (or `period_epochs`, \
         default the whole run), with optional warm restarts (`restarts`, `t_mult`)",
        |params, ctx| Ok(Box::new(Cosine::from_params(params, ctx)?)),
    )?;
    r.scheduler(
        "warmup",
        "linear warm-up over `steps` (or `epochs`) from `start_factor` · base, then the \
         scheduler `then`",
        |params, ctx| Ok(Box::new(Warmup::from_params(params, ctx)?)),
    )?;
    r.scheduler(
        "one_cycle",
        "Smith's one-cycle policy (PyTorch's OneCycleLR, cosine): up to `max_lr`, then down",
        |params, ctx| Ok(Box::new(OneCycle::from_params(params, ctx)?)),
    )?;
    r.scheduler(
        "reduce_on_plateau",
        "multiply the rate by `factor` when `monitor` has not improved for `patience` epochs",
        |params, ctx| Ok(Box::new(ReduceOnPlateau::from_params(params, ctx)?)),
    )?;
    Ok(())
}

/// Builds this crate's scheduler `kind` from its parameters (`ctx.key` names the table).
/// `warmup` builds its inner schedule through here, since a factory cannot reach the
/// registry: [`register`]'s list is registered into a registry of its own, so there is no
/// second list of kinds. An unknown kind is an error naming `{ctx.key}.kind`.
fn build(kind: &str, params: &serde_json::Value, ctx: &BuildContext) -> Result<Box<dyn Scheduler>> {
    let own = Registry::of(concat!("crate ", env!("CARGO_PKG_NAME")), register)?;
    let spec = PluginSpec {
        kind: kind.to_string(),
        params: params.clone(),
    };
    own.build_scheduler(&spec, ctx)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConstantParams {}

kiln_core::submit_plugin!(register);

#[cfg(test)]
mod tests {
    use kiln_core::{BuildContext, PluginSpec, Registry};
    use serde_json::json;

    #[test]
    fn every_kind_is_registered_and_builds() {
        let registry = Registry::with_static_plugins().expect("register");
        let ctx = BuildContext::new(0).with_key("scheduler");
        let specs = [
            json!({ "kind": "constant" }),
            json!({ "kind": "step", "step_size": 3 }),
            json!({ "kind": "multi_step", "milestones": [3] }),
            json!({ "kind": "exponential", "gamma": 0.9 }),
            json!({ "kind": "cosine" }),
            json!({ "kind": "warmup", "steps": 3, "then": { "kind": "cosine" } }),
            json!({ "kind": "one_cycle" }),
            json!({ "kind": "reduce_on_plateau" }),
        ];
        assert_eq!(
            specs.len(),
            registry.names(kiln_core::Family::Scheduler).len()
        );
        for spec in specs {
            let spec = PluginSpec::from_value(&spec, "scheduler").expect("spec");
            registry.build_scheduler(&spec, &ctx).expect("builds");
            // The registered (guarded) object keeps the contract too.
            kiln_core::testing::check_scheduler(|| {
                registry.build_scheduler(&spec, &ctx).expect("builds")
            });
        }
    }

    /// Found by fuzzing the checkpoint sidecar (`fuzz/`, target `checkpoint`): a saved
    /// iteration count of `u64::MAX` overflowed on the next step (a panic), and a huge
    /// `steps` of the step decay was replayed one step at a time (minutes).
    #[test]
    fn saved_states_at_the_largest_count_restore_at_once_and_step() {
        let max = u64::MAX;
        let c = crate::util::test_support::ctx(0.1, 3, 4);
        for (kind, params, state) in [
            ("cosine", json!({}), json!({ "iteration": max })),
            (
                "exponential",
                json!({ "gamma": 0.9 }),
                json!({ "iteration": max }),
            ),
            (
                "multi_step",
                json!({ "milestones": [2] }),
                json!({ "iteration": max }),
            ),
            ("one_cycle", json!({}), json!({ "iteration": max })),
            (
                "warmup",
                json!({ "steps": 2, "then": { "kind": "cosine" } }),
                json!({ "iteration": max, "inner_epochs": 0, "inner": { "iteration": max } }),
            ),
            ("step", json!({ "step_size": 3 }), json!({ "steps": max })),
        ] {
            let mut s = crate::util::test_support::started(kind, params, &c);
            let start = std::time::Instant::now();
            s.load_state(&state).expect("a valid state");
            for _ in 0..3 {
                let lr = s.step();
                assert!(lr.is_finite() && lr >= 0.0, "{kind}: {lr}");
            }
            assert!(
                start.elapsed().as_secs() < 5,
                "{kind} took {:?}",
                start.elapsed()
            );
        }
    }
}
