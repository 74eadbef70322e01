//! kiln's built-in search strategies and pruners.
//!
//! | strategy | kind | state | notes |
//! |---|---|---|---|
//! | random | `random` | none (one stream per trial) | uniform / log-uniform, seeded |
//! | grid | `grid` | none (reads the study) | `points` per numeric axis or explicit `values`; `shuffle` |
//! | log mesh | `log_mesh` | cells, values, rounds | values a `factor` (10) apart on log axes, jittered within their cell; extended beyond the border while the best point lies on it, up to the hard bound; `rounds` for coarse-to-fine |
//! | coarse-to-fine | `coarse_to_fine` | as log mesh | default rounds: factor 10 with 2-epoch trials, then factor 3 around the best with the stage's epochs (the budget reaches the trainer) |
//! | TPE | `tpe` | none (replayed from the study) | univariate or multivariate Parzen estimators, start-up trials, conditional parameters, constant liar, multi-objective split |
//! | QMC | `qmc` | none (trial n = point n) | scrambled Sobol' (Joe–Kuo numbers, 128 dims) or Halton |
//! | CMA-ES | `cmaes` | mean, σ, C, paths, generation | (μ/μ_w, λ) with rank-one/rank-μ updates, CSA, optional IPOP restarts; categorical and conditional parameters drawn at random |
//!
//! | pruner | kind | parameters (defaults) | notes |
//! |---|---|---|---|
//! | median | `median` | n_startup_trials 5, n_warmup_steps 0, interval_steps 1, n_min_trials 1 | below the median of earlier trials at the same step |
//! | percentile | `percentile` | percentile (required), as median | Optuna's PercentilePruner |
//! | successive halving | `successive_halving` | min_resource "auto", reduction_factor 4, min_early_stopping_rate 0, bootstrap_count 0 | ASHA: keeps the top 1/rf at each rung |
//! | Hyperband | `hyperband` | min_resource 1, max_resource "auto", reduction_factor 3 | successive halving in brackets chosen by trial number |
//! | threshold | `threshold` | lower and/or upper, n_warmup_steps, interval_steps | prunes NaN and values outside the bounds |
//! | divergence | `divergence` | factor 3.0, n_warmup_steps 0, series `train_loss` | NaN/inf, or a loss above factor × its running minimum (the "sudden surge in cost") |
//! | patience | `patience` | patience 3, min_delta 0, wrapped | prunes after `patience` steps without improvement (and if the wrapped pruner agrees) |

pub mod prune;
pub mod search;

use kiln_core::{Registrar, Result};

/// Registers this crate's plugins.
pub fn register(r: &mut Registrar<'_>) -> Result<()> {
    search::register(r)?;
    prune::register(r)
}

kiln_core::submit_plugin!(register);
