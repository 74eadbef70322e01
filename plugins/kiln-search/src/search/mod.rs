//! Search strategies.
mod cmaes;
mod grid;
mod qmc;
mod random;
mod tpe;

pub use grid::{GridConfig, GridSearch};
pub use random::{RandomConfig, RandomSearch};

use kiln_core::{Registrar, Result};

/// Registers the strategies.
pub fn register(r: &mut Registrar<'_>) -> Result<()> {
    r.search(
        "random",
        "independent uniform (log-uniform) draws, one seeded stream per trial",
        |params, ctx| Ok(Box::new(RandomSearch::from_params(params, ctx)?)),
    )?;
    r.search(
        "grid",
        "every combination of a grid, in order or shuffled; resumes from the study",
        |params, ctx| Ok(Box::new(GridSearch::from_params(params, ctx)?)),
    )?;
    tpe::register(r)?;
    cmaes::register(r)?;
    qmc::register(r)?;
    Ok(())
}
