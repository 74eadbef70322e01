//! Gaussian-process Bayesian optimisation (`gp`), in the spirit of Optuna's `GPSampler`.
//!
//! After `n_startup_trials` uniform draws, every ask fits a Gaussian process (Matérn 5/2,
//! one length scale per parameter) to the complete trials' first objective, standardised,
//! choosing the kernel's hyperparameters by maximising the marginal likelihood (see
//! [`model`]), and proposes the point of largest expected improvement over the best value
//! so far. The process models the unconditional numeric parameters in their unit interval
//! (`to_unit`: log parameters on a log scale, ints rounded back); categorical and
//! conditional parameters are drawn uniformly, as CMA-ES does.
//!
//! Cost grows as the cube of the observations: at most `max_observations` are used (the
//! best half, then the most recent), so an ask stays in tens of milliseconds. Parallel
//! workers get different candidates from their own streams but do not see each other's
//! running trials. The strategy keeps no state: each ask uses `Rng::derive(seed,
//! [number])` and the study, and the fit starts from the same point every time, so
//! parallel and resumed studies reproduce the sequence.

mod model;
mod sampler;
#[cfg(test)]
mod tests;

pub use sampler::GpSearch;

use kiln_core::{BuildContext, Error, Result};
use serde::Deserialize;

/// Parameters of [`GpSearch`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GpConfig {
    /// Overrides the pipeline's seed.
    pub seed: Option<u64>,
    /// Uniform draws until this many trials are complete (at least 2 are needed to fit).
    pub n_startup_trials: usize,
    /// Random points scored for expected improvement per ask (at least 16).
    pub n_candidates: usize,
    /// Most observations the process is fitted to (at least 4).
    pub max_observations: usize,
}

impl Default for GpConfig {
    fn default() -> Self {
        GpConfig {
            seed: None,
            n_startup_trials: 10,
            n_candidates: 512,
            max_observations: 200,
        }
    }
}

impl GpConfig {
    /// Checks the ranges; errors name `key.field`.
    pub fn check(&self, key: &str) -> Result<()> {
        let err = |field: &str, msg: &str| Err(Error::config(format!("{key}.{field}"), msg));
        if self.n_candidates < 16 {
            return err("n_candidates", "must be at least 16");
        }
        if self.max_observations < 4 {
            return err("max_observations", "must be at least 4");
        }
        Ok(())
    }
}

impl GpSearch {
    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: GpConfig = ctx.parse(params)?;
        c.check(&ctx.key)?;
        let seed = c.seed.unwrap_or(ctx.seed);
        Ok(GpSearch::new(c, seed))
    }
}
