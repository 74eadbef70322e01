//! NSGA-II (`nsga2`), after Deb et al. (2002) and Optuna 5's `NSGAIISampler`: a genetic
//! algorithm whose selection ranks trials by Pareto front, then by crowding distance, so
//! that it serves several objectives (and one, where the fronts are simply the ranks).
//!
//! - Trial `number` belongs to generation `number / population_size`. Generation 0 is drawn
//!   uniformly; every later child has two parents, each the winner of a binary tournament
//!   in the population of its generation, which is the elite `population_size` of every
//!   complete trial of the earlier generations (see [`sort`]).
//! - With probability `crossover_prob` the child mixes its parents (`uniform`: each
//!   parameter from either parent; `sbx`: simulated binary crossover on numeric parameters
//!   in the unit interval, uniform for categoricals), else it copies the first parent. Each
//!   parameter is then redrawn uniformly with probability `mutation_prob` (default
//!   `1 / number of parameters`, Optuna's default).
//! - Conditional parameters: the child is walked parents first; a parameter that is active
//!   but missing from the parent it comes from is drawn uniformly.
//!
//! The strategy keeps no state: each ask draws from `Rng::derive(seed, [number])` and reads
//! the study, so parallel and resumed studies reproduce the sequence (`save_state` is
//! `null`). Only the last generation's elite is cached, keyed by what it was computed from.

mod sampler;
mod sort;
#[cfg(test)]
mod tests;
mod variation;

pub use sampler::Nsga2Search;

use kiln_core::{BuildContext, Error, Result};
use serde::Deserialize;

/// How two parents are combined (`"uniform"` or `"sbx"` in a config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Crossover {
    /// Each parameter from either parent (with probability `swapping_prob` the second).
    Uniform,
    /// Simulated binary crossover (Deb & Agrawal) on numeric parameters.
    Sbx,
}

impl TryFrom<String> for Crossover {
    type Error = String;

    // A message that names the field: serde's own for enums does not.
    fn try_from(name: String) -> std::result::Result<Self, String> {
        match name.as_str() {
            "uniform" => Ok(Crossover::Uniform),
            "sbx" => Ok(Crossover::Sbx),
            other => Err(format!(
                "crossover: unknown crossover `{other}` (expected `uniform` or `sbx`)"
            )),
        }
    }
}

/// Parameters of [`Nsga2Search`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Nsga2Config {
    /// Overrides the pipeline's seed.
    pub seed: Option<u64>,
    /// Trials per generation, and the size of the elite population (at least 2).
    pub population_size: usize,
    /// Chance that a child mixes its parents rather than copying the first, in [0, 1].
    pub crossover_prob: f64,
    /// How parents are mixed.
    pub crossover: Crossover,
    /// Uniform crossover: chance of taking each parameter from the second parent, in [0, 1].
    pub swapping_prob: f64,
    /// SBX distribution index (> 0): larger keeps children nearer their parents.
    pub sbx_eta: f64,
    /// Chance of redrawing each parameter, in [0, 1]; default `1 / number of parameters`.
    pub mutation_prob: Option<f64>,
}

impl Default for Nsga2Config {
    fn default() -> Self {
        Nsga2Config {
            seed: None,
            population_size: 50,
            crossover_prob: 0.9,
            crossover: Crossover::Uniform,
            swapping_prob: 0.5,
            sbx_eta: 20.0,
            mutation_prob: None,
        }
    }
}

impl Nsga2Config {
    /// Checks the ranges; errors name `key.field`.
    pub fn check(&self, key: &str) -> Result<()> {
        let err = |field: &str, msg: &str| Err(Error::config(format!("{key}.{field}"), msg));
        let unit = |p: f64| (0.0..=1.0).contains(&p);
        if self.population_size < 2 {
            return err("population_size", "must be at least 2");
        }
        if !unit(self.crossover_prob) {
            return err("crossover_prob", "must be in [0, 1]");
        }
        if !unit(self.swapping_prob) {
            return err("swapping_prob", "must be in [0, 1]");
        }
        if !(self.sbx_eta > 0.0 && self.sbx_eta.is_finite()) {
            return err("sbx_eta", "must be a finite number > 0");
        }
        if self.mutation_prob.is_some_and(|p| !unit(p)) {
            return err("mutation_prob", "must be in [0, 1]");
        }
        Ok(())
    }
}

impl Nsga2Search {
    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: Nsga2Config = ctx.parse(params)?;
        c.check(&ctx.key)?;
        let seed = c.seed.unwrap_or(ctx.seed);
        Ok(Nsga2Search::new(c, seed))
    }
}
