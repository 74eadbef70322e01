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
    search::register(r)?;
    prune::register(r)
}

kiln_core::submit_plugin!(register);
