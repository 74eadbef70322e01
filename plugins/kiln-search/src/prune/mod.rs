//! Pruners.
mod median;

pub use median::{MedianConfig, MedianPruner};

use kiln_core::{Registrar, Result};

/// Registers the pruners.
pub fn register(r: &mut Registrar<'_>) -> Result<()> {
    r.pruner(
        "median",
        "prune a trial whose value is worse than the median of earlier trials at the same step",
        |params, ctx| Ok(Box::new(MedianPruner::from_params(params, ctx)?)),
    )?;
    Ok(())
}
