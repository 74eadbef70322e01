//! Search strategies.
mod cmaes;
mod gp;
mod grid;
mod log_mesh;
mod nsga2;
mod pareto;
mod qmc;
mod random;
#[cfg(test)]
mod test_support;
mod tpe;

pub use gp::{GpConfig, GpSearch};
pub use grid::{GridConfig, GridSearch};
pub use log_mesh::{LogMesh, LogMeshConfig, RoundConfig};
pub use nsga2::{Crossover, Nsga2Config, Nsga2Search};
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
    r.search(
        "log_mesh",
        "log-scale mesh, jittered, extended beyond its border while the best point lies on it",
        |params, ctx| Ok(Box::new(LogMesh::from_params(params, ctx)?)),
    )?;
    r.search(
        "coarse_to_fine",
        "log-mesh rounds: factor 10 with short trials, then factor 3 around the best with long ones",
        |params, ctx| Ok(Box::new(LogMesh::coarse_to_fine(params, ctx)?)),
    )?;
    tpe::register(r)?;
    cmaes::register(r)?;
    qmc::register(r)?;
    nsga2::register(r)?;
    gp::register(r)?;
    Ok(())
}
