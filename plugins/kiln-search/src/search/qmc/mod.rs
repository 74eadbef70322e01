//! Quasi-Monte Carlo search: scrambled Sobol' or Halton points, one per trial.
//!
//! Low-discrepancy points fill the space more evenly than independent draws: 64 scrambled
//! Sobol' trials put exactly one point in each 1/64 of every axis, and pairs of axes are
//! stratified nearly as well. The strategy is a pure function of the seed and the trial
//! number (trial `n` is point `n`), so it needs no state, parallel workers never repeat a
//! point, and a resumed study continues the exact sequence.
mod halton;
mod joe_kuo;
mod sobol;

pub use halton::Halton;
pub use sobol::Sobol;

use kiln_core::{
    BuildContext, Params, Result, Rng, SearchSpace, SearchStrategy, StudyView, Suggestion,
};
use serde::Deserialize;

/// Which low-discrepancy sequence [`QmcSearch`] follows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sequence {
    /// Sobol' in base 2 with Joe–Kuo direction numbers (128 dimensions).
    #[default]
    Sobol,
    /// Halton in prime bases (any number of dimensions).
    Halton,
}

/// Parameters of [`QmcSearch`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QmcConfig {
    /// Overrides the pipeline's seed (for the scramble).
    pub seed: Option<u64>,
    /// `sobol` (default) or `halton`.
    pub sequence: Sequence,
    /// Randomise the sequence (Sobol': linear matrix scramble and digital shift; Halton:
    /// digit permutations). Unscrambled points start at the origin, which is skipped.
    pub scramble: bool,
}

impl Default for QmcConfig {
    fn default() -> Self {
        QmcConfig {
            seed: None,
            sequence: Sequence::Sobol,
            scramble: true,
        }
    }
}

/// The generator behind a [`QmcSearch`].
#[derive(Debug, Clone)]
enum Generator {
    Sobol(Sobol),
    Halton(Halton),
}

/// Quasi-random search. Parameter `j` of the space (in its order, parents first) takes
/// coordinate `j` of point `n` for trial `n`, mapped with [`kiln_core::Distribution::from_unit`]:
/// log-aware for log parameters, rounded for ints and steps, equal bins for categoricals.
/// Inactive conditional parameters keep their dimension and are simply not emitted.
///
/// Sobol' has direction numbers for [`sobol::MAX_DIMS`] dimensions; parameters past that
/// take independent uniform draws from a per-trial stream (use `halton` for such spaces).
#[derive(Debug, Clone)]
pub struct QmcSearch {
    seed: u64,
    /// Whether point 0 is the origin and must be skipped.
    offset: u64,
    generator: Generator,
}

impl QmcSearch {
    /// A QMC search with `config`, seeded with `seed` (used when `config.seed` is unset).
    pub fn new(config: &QmcConfig, seed: u64) -> Self {
        let seed = config.seed.unwrap_or(seed);
        let scramble = config.scramble.then_some(seed);
        QmcSearch {
            seed,
            offset: u64::from(!config.scramble),
            generator: match config.sequence {
                Sequence::Sobol => Generator::Sobol(Sobol::new(scramble)),
                Sequence::Halton => Generator::Halton(Halton::new(scramble)),
            },
        }
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: QmcConfig = ctx.parse(params)?;
        Ok(QmcSearch::new(&c, ctx.seed))
    }

    /// Coordinate `dim` of the point for trial `number`, in `[0, 1)`.
    pub fn unit(&mut self, number: u64, dim: usize) -> f64 {
        let index = number.saturating_add(self.offset);
        match &mut self.generator {
            Generator::Sobol(_) if dim >= sobol::MAX_DIMS => {
                Rng::derive(self.seed, &[0x0E5C, number, dim as u64]).uniform()
            }
            Generator::Sobol(s) => s.coordinate(index, dim),
            Generator::Halton(h) => h.coordinate(index, dim),
        }
    }
}

impl SearchStrategy for QmcSearch {
    fn ask(&mut self, space: &SearchSpace, _: &StudyView<'_>, number: u64) -> Result<Suggestion> {
        let mut params = Params::new();
        for (dim, spec) in space.params().iter().enumerate() {
            if SearchSpace::is_active(spec, &params) {
                let u = self.unit(number, dim);
                params.insert(spec.name.clone(), spec.distribution.from_unit(u));
            }
        }
        Ok(Suggestion::new(params))
    }
}

#[cfg(test)]
mod tests;
