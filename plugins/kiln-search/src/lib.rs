//! kiln's built-in search strategies and pruners.
//!
//! | strategy | kind | state | notes |
//! |---|---|---|---|
//! | random | `random` | none (per-trial streams) | uniform / log-uniform, seeded |
//! | grid | `grid` | none (reads the study) | `points` per numeric axis or explicit `values` |
//!
//! | pruner | kind | notes |
//! |---|---|---|
//! | median | `median` | prunes below the median of earlier trials at the same step |

pub mod prune;
pub mod search;

use kiln_core::{Registrar, Result};

/// Registers this crate's plugins.
pub fn register(r: &mut Registrar<'_>) -> Result<()> {
    r.search(
        "random",
        "independent uniform (log-uniform) draws, one seeded stream per trial",
        |params, ctx| Ok(Box::new(search::RandomSearch::from_params(params, ctx)?)),
    )?;
    r.search(
        "grid",
        "every combination of a grid, in order or shuffled; resumes from the study",
        |params, ctx| Ok(Box::new(search::GridSearch::from_params(params, ctx)?)),
    )?;
    r.pruner(
        "median",
        "prune a trial whose value is worse than the median of earlier trials at the same step",
        |params, ctx| Ok(Box::new(prune::MedianPruner::from_params(params, ctx)?)),
    )?;
    Ok(())
}

kiln_core::submit_plugin!(register);
