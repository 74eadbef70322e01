//! kiln's built-in search strategies (the pruners are in `kiln-pruners`).
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
//! | NSGA-II | `nsga2` | none (generation by trial number, read from the study) | Pareto rank then crowding distance; uniform or SBX crossover, per-parameter mutation; one or several objectives |
//! | Gaussian process | `gp` | none (refitted from the study) | Matérn 5/2 with one length scale per parameter, marginal-likelihood fit, expected improvement; categorical and conditional parameters drawn at random |

pub mod search;

/// Registers this crate's plugins: the strategies.
pub use search::register;

kiln_core::submit_plugin!(register);
