//! CMA-ES: the covariance matrix adaptation evolution strategy, with optional IPOP restarts.
//!
//! CMA-ES works in the unit cube of the unconditional numeric parameters (floats and ints,
//! mapped with `to_unit`/`from_unit`, so log parameters move on a log scale and ints are
//! rounded). Like Optuna's `CmaEsSampler`, categorical parameters and parameters active
//! only under a condition are not modelled: they are drawn independently and uniformly
//! for every trial, from a stream of the seed and the trial number.
//!
//! Generations: each `ask` hands out the next individual of the current generation, a
//! fresh draw from the current distribution. The distribution is updated, at the next
//! `ask`, once `λ` individuals of the generation have finished; asks that come before
//! then (parallel workers) get further draws of the same generation, and the first `λ` to
//! finish (in sampling order) make the update. Failed trials rank below every other and
//! pruned ones below every complete one (by their last reported value): "the worst value".
//! A failed trial that kiln re-enqueued after an interruption takes its copy's result.
//!
//! Determinism and resume: outcomes are read from the study (so `tell` is not needed), and
//! each individual is drawn from a stream named by the seed, the generation and its
//! position, so the same study gives the same points. `save_state` holds the distribution
//! (mean, σ, C, evolution paths, generation, pending individuals) with floats written as
//! exact strings, so a resumed study continues the exact sequence.
mod cma;
mod constants;
mod eigen;
mod exact;

use cma::Cma;

use kiln_core::{
    BuildContext, Direction, Error, Family, FrozenTrial, ParamSpec, Params, Result, Rng,
    SearchSpace, SearchStrategy, StudyView, Suggestion, TrialState,
};
use serde::{Deserialize, Serialize};

/// Stream tags for [`Rng::derive`], one per use.
const STREAM_INDEPENDENT: u64 = 0xC0_01;
const STREAM_SAMPLE: u64 = 0xC0_02;
const STREAM_RESTART: u64 = 0xC0_03;

/// Parameters of [`CmaEs`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CmaEsConfig {
    /// Overrides the pipeline's seed.
    pub seed: Option<u64>,
    /// Initial step size, in the unit cube (`0 < sigma0 <= 1`).
    pub sigma0: f64,
    /// Points per generation (`λ >= 2`); default `4 + ⌊3 ln n⌋` for `n` parameters.
    pub population: Option<usize>,
    /// IPOP: restart from a random point with twice the population when the step size
    /// collapses or the search stagnates.
    pub restarts: bool,
    /// Draw independently until this many trials have completed; CMA-ES then starts from
    /// the best of them.
    pub n_startup_trials: usize,
}

impl Default for CmaEsConfig {
    fn default() -> Self {
        CmaEsConfig {
            seed: None,
            sigma0: 1.0 / 6.0,
            population: None,
            restarts: false,
            n_startup_trials: 0,
        }
    }
}

impl CmaEsConfig {
    /// Checks the ranges; `key` prefixes the offending field in errors.
    fn validate(&self, key: &str) -> Result<()> {
        let field = |f: &str| {
            if key.is_empty() {
                f.to_string()
            } else {
                format!("{key}.{f}")
            }
        };
        if !(self.sigma0 > 0.0 && self.sigma0 <= 1.0) {
            return Err(Error::config(
                field("sigma0"),
                format!("must be in (0, 1] (the unit cube), got {}", self.sigma0),
            ));
        }
        if let Some(p) = self.population.filter(|p| *p < 2) {
            return Err(Error::config(
                field("population"),
                format!("must be at least 2, got {p}"),
            ));
        }
        Ok(())
    }
}

/// What became of an individual's trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Outcome {
    Complete {
        #[serde(with = "exact::float")]
        value: f64,
    },
    /// The last reported value, NaN when there is none.
    Pruned {
        #[serde(with = "exact::float")]
        value: f64,
    },
    Failed,
}

/// One point of the current generation and the trial evaluating it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Individual {
    trial: u64,
    #[serde(with = "exact::floats")]
    x: Vec<f64>,
    outcome: Option<Outcome>,
}

/// A CMA-ES run over a fixed list of parameters, with its restarts.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Run {
    /// The numeric parameters modelled, in space order.
    names: Vec<String>,
    /// Restarts so far (IPOP).
    restarts: u64,
    /// Generations sampled over all restarts: names each generation's random streams.
    epoch: u64,
    cma: Cma,
    /// The current generation's individuals, in sampling order.
    pending: Vec<Individual>,
}

/// The configuration, resolved.
#[derive(Debug, Clone, Copy)]
struct Settings {
    seed: u64,
    sigma0: f64,
    population: Option<usize>,
    restarts: bool,
    n_startup_trials: usize,
}

/// CMA-ES over the numeric parameters; see the module documentation.
#[derive(Debug, Clone)]
pub struct CmaEs {
    settings: Settings,
    run: Option<Run>,
}

fn find(trials: &[FrozenTrial], number: u64) -> Option<&FrozenTrial> {
    trials
        .get(number as usize)
        .filter(|t| t.number == number)
        .or_else(|| trials.iter().find(|t| t.number == number))
}

/// The outcome of `t` as far as the study knows it; `None` while it runs.
fn outcome_of(t: &FrozenTrial, trials: &[FrozenTrial]) -> Option<Outcome> {
    let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
    match t.state {
        TrialState::Complete => Some(match finite(t.value()) {
            Some(value) => Outcome::Complete { value },
            None => Outcome::Failed,
        }),
        TrialState::Pruned => {
            let last = finite(t.last_intermediate().map(|(_, v)| v)).or(finite(t.value()));
            Some(Outcome::Pruned {
                value: last.unwrap_or(f64::NAN),
            })
        }
        TrialState::Fail => {
            // An interrupted trial comes back as a new trial with the same parameters.
            let copy = trials.iter().find(|u| {
                u.number > t.number && u.params == t.params && u.state != TrialState::Fail
            });
            match copy {
                Some(u) => outcome_of(u, trials),
                None => Some(Outcome::Failed),
            }
        }
        TrialState::Running | TrialState::Waiting => None,
    }
}

impl Run {
    /// A run over `dims`, started at the best completed trial (or the centre).
    fn start(s: &Settings, dims: &[&ParamSpec], study: &StudyView<'_>) -> Run {
        let n = dims.len();
        let lambda = s
            .population
            .unwrap_or(4 + (3.0 * (n as f64).ln()).floor() as usize)
            .max(2);
        let mean = dims
            .iter()
            .map(|d| {
                study
                    .best()
                    .and_then(|b| b.params.get(&d.name))
                    .and_then(|v| d.distribution.to_unit(v))
                    .filter(|u| u.is_finite())
                    .map_or(0.5, |u| u.clamp(0.0, 1.0))
            })
            .collect();
        Run {
            names: dims.iter().map(|d| d.name.clone()).collect(),
            restarts: 0,
            epoch: 0,
            cma: Cma::new(mean, s.sigma0, lambda),
            pending: Vec::new(),
        }
    }

    /// Reads the results of finished individuals from the study.
    fn sync(&mut self, study: &StudyView<'_>) {
        for ind in self.pending.iter_mut().filter(|i| i.outcome.is_none()) {
            ind.outcome = find(study.trials, ind.trial).and_then(|t| outcome_of(t, study.trials));
        }
    }

    /// Updates the distribution once `λ` individuals have finished; restarts (IPOP) when
    /// enabled and the run has stopped.
    fn advance(&mut self, s: &Settings, direction: Direction) {
        let lambda = self.cma.lambda();
        let mut done: Vec<&Individual> = self
            .pending
            .iter()
            .filter(|i| i.outcome.is_some())
            .take(lambda)
            .collect();
        if done.len() < lambda {
            return;
        }
        let sign = if direction == Direction::Maximize {
            -1.0
        } else {
            1.0
        };
        let key = |i: &Individual| match i.outcome {
            Some(Outcome::Complete { value }) => (0, sign * value),
            Some(Outcome::Pruned { value }) if !value.is_nan() => (1, sign * value),
            Some(Outcome::Pruned { .. }) => (2, 0.0),
            _ => (3, 0.0),
        };
        done.sort_by(|a, b| {
            let (ka, kb) = (key(a), key(b));
            ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
        });
        let values: Vec<f64> = done
            .iter()
            .map(|i| key(i))
            .filter(|k| k.0 == 0)
            .map(|k| k.1)
            .collect();
        // A generation in which nothing completed carries no information: draw anew.
        if !values.is_empty() {
            let ranked: Vec<&[f64]> = done.iter().map(|i| i.x.as_slice()).collect();
            self.cma.update(&ranked, &values);
        }
        self.pending.clear();
        self.epoch += 1;
        if s.restarts && self.cma.stop_reason().is_some() {
            self.restarts += 1;
            let mut rng = Rng::derive(s.seed, &[STREAM_RESTART, self.restarts]);
            let mean = (0..self.names.len()).map(|_| rng.uniform()).collect();
            self.cma = Cma::new(mean, s.sigma0, lambda.saturating_mul(2));
        }
    }

    /// The point of trial `number`: the one already handed to it, or a new draw.
    fn point(&mut self, s: &Settings, number: u64) -> Vec<f64> {
        if let Some(ind) = self.pending.iter().find(|i| i.trial == number) {
            return ind.x.clone();
        }
        let index = self.pending.len() as u64;
        let mut rng = Rng::derive(s.seed, &[STREAM_SAMPLE, self.epoch, index]);
        let x = self.cma.sample(&mut rng);
        self.pending.push(Individual {
            trial: number,
            x: x.clone(),
            outcome: None,
        });
        x
    }
}

impl CmaEs {
    /// A CMA-ES with `config`, seeded with `seed` (used when `config.seed` is unset).
    pub fn new(config: &CmaEsConfig, seed: u64) -> Result<Self> {
        config.validate("")?;
        Ok(CmaEs {
            settings: Settings {
                seed: config.seed.unwrap_or(seed),
                sigma0: config.sigma0,
                population: config.population,
                restarts: config.restarts,
                n_startup_trials: config.n_startup_trials,
            },
            run: None,
        })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: CmaEsConfig = ctx.parse(params)?;
        c.validate(&ctx.key)?;
        CmaEs::new(&c, ctx.seed)
    }

    /// Restarts so far and the current population size, once CMA-ES has started.
    #[cfg(test)]
    fn progress(&self) -> Option<(u64, usize)> {
        self.run.as_ref().map(|r| (r.restarts, r.cma.lambda()))
    }
}

impl SearchStrategy for CmaEs {
    fn ask(
        &mut self,
        space: &SearchSpace,
        study: &StudyView<'_>,
        number: u64,
    ) -> Result<Suggestion> {
        let s = self.settings;
        let dims: Vec<&ParamSpec> = space
            .params()
            .iter()
            .filter(|p| p.condition.is_none() && p.distribution.numeric_bounds().is_some())
            .collect();
        let mut rng = Rng::derive(s.seed, &[STREAM_INDEPENDENT, number]);
        let startup = self.run.is_none() && study.completed().count() < s.n_startup_trials;
        if dims.is_empty() || startup {
            return Ok(Suggestion::new(space.sample_uniform(&mut rng)));
        }
        if self
            .run
            .as_ref()
            .is_some_and(|r| r.names.iter().ne(dims.iter().map(|d| &d.name)))
        {
            // The space changed under the strategy: its distribution no longer applies.
            self.run = None;
        }
        let run = self.run.get_or_insert_with(|| Run::start(&s, &dims, study));
        run.sync(study);
        run.advance(&s, study.direction());
        let x = run.point(&s, number);
        let mut params = Params::new();
        for spec in space.params() {
            if !SearchSpace::is_active(spec, &params) {
                continue;
            }
            let value = match dims.iter().position(|d| d.name == spec.name) {
                Some(i) => spec.distribution.from_unit(x[i]),
                None => spec.distribution.sample(&mut rng),
            };
            params.insert(spec.name.clone(), value);
        }
        Ok(Suggestion::new(params))
    }

    fn save_state(&self) -> Result<serde_json::Value> {
        let state_error = |e: serde_json::Error| Error::Plugin {
            family: Family::Search,
            name: "cmaes".into(),
            message: format!("cannot save the state: {e}"),
        };
        match &self.run {
            None => Ok(serde_json::Value::Null),
            Some(run) => serde_json::to_value(run).map_err(state_error),
        }
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<()> {
        self.run = if state.is_null() {
            None
        } else {
            Some(
                serde_json::from_value(state.clone()).map_err(|e| Error::Plugin {
                    family: Family::Search,
                    name: "cmaes".into(),
                    message: format!("the saved state does not read back: {e}"),
                })?,
            )
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests;
