//! kiln's built-in learning-rate schedulers.
//!
//! | scheduler | kind | parameters | notes |
//! |---|---|---|---|
//! | constant | `constant` | — | the optimiser's base rate throughout |
//! | step decay | `step` | `gamma` (0.1), `step_size` (iterations) or `step_epochs` | Burn's `StepLrScheduler` |

mod constant;
mod step;

pub use constant::ConstantSchedule;
pub use step::{StepConfig, StepDecay};

use kiln_core::{Registrar, Result};

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
    Ok(())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConstantParams {}

kiln_core::submit_plugin!(register);
