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

/// Registers every strategy of this crate (the crate's `register`).
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
    r.search(
        "tpe",
        "Tree-structured Parzen Estimator (Optuna-style; multivariate, constant liar, MOTPE)",
        |params, ctx| Ok(Box::new(tpe::TpeSearch::from_params(params, ctx)?)),
    )?;
    r.search(
        "cmaes",
        "CMA-ES over the numeric parameters (IPOP restarts optional); state saved exactly",
        |params, ctx| Ok(Box::new(cmaes::CmaEs::from_params(params, ctx)?)),
    )?;
    r.search(
        "qmc",
        "scrambled Sobol' or Halton points, trial n = point n; stateless, resumes exactly",
        |params, ctx| Ok(Box::new(qmc::QmcSearch::from_params(params, ctx)?)),
    )?;
    r.search(
        "nsga2",
        "NSGA-II genetic algorithm (Pareto rank and crowding; one or several objectives)",
        |params, ctx| Ok(Box::new(Nsga2Search::from_params(params, ctx)?)),
    )?;
    r.search(
        "gp",
        "Gaussian-process Bayesian optimisation (Matérn 5/2, expected improvement)",
        |params, ctx| Ok(Box::new(GpSearch::from_params(params, ctx)?)),
    )?;
    Ok(())
}
