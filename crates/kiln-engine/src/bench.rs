//! `kiln bench search`: strategies on standard test functions, no training involved.
//!
//! Each (function, strategy) pair runs `trials` sequential trials for each of `seeds`
//! seeds, minimising. Reported per pair: the median over seeds of the best value found and of
//! the regret (best − optimum), and the mean ask+tell time over the last 10 trials.

use kiln_core::bench::BenchFunction;
use kiln_core::{
    BuildContext, Direction, FrozenTrial, PluginSpec, Registry, StudyView, TrialState,
};
use serde::Serialize;
use std::time::Instant;

/// One line of the benchmark's output.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// Test function.
    pub function: String,
    /// Strategy kind.
    pub strategy: String,
    /// Trials per seed.
    pub trials: usize,
    /// Seeds.
    pub seeds: usize,
    /// Median over seeds of the best value.
    pub median_best: f64,
    /// Median over seeds of best − optimum.
    pub median_regret: f64,
    /// Median over seeds of the trials run (finite strategies may stop early).
    pub trials_run: f64,
    /// Mean ask+tell time over the last 10 trials, in milliseconds (mean over seeds);
    /// `None` when no seed ran that far.
    pub ms_per_trial_at_end: Option<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs one (function, strategy) pair.
pub fn run_pair(
    registry: &Registry,
    function: &BenchFunction,
    strategy: &PluginSpec,
    trials: usize,
    seeds: usize,
) -> kiln_core::Result<BenchRow> {
    let space = function.space();
    let directions = [Direction::Minimize];
    let (mut bests, mut times, mut runs) = (Vec::new(), Vec::new(), Vec::new());
    for seed in 0..seeds as u64 {
        let ctx = BuildContext::new(seed).with_key(format!("strategy {}", strategy.kind));
        let mut s = registry.build_search(strategy, &ctx)?;
        let mut history: Vec<FrozenTrial> = Vec::with_capacity(trials);
        let mut best = f64::INFINITY;
        let mut tail = Vec::new();
        for number in 0..trials as u64 {
            let t0 = Instant::now();
            let view = StudyView {
                directions: &directions,
                trials: &history,
            };
            let suggestion = match s.ask(&space, &view, number) {
                Ok(suggestion) => suggestion,
                // A finite strategy (grid, mesh) may finish before the budget does.
                Err(kiln_core::Error::Exhausted(_)) => break,
                Err(e) => return Err(e),
            };
            let ask = t0.elapsed();
            let x: Vec<f64> = (0..function.bounds.len())
                .map(|i| {
                    suggestion
                        .params
                        .get(&format!("x{i}"))
                        .and_then(|v| v.as_f64())
                        .unwrap_or(f64::NAN)
                })
                .collect();
            let y = (function.f)(&x);
            let mut t = FrozenTrial::running(number, suggestion.params);
            for p in space.params() {
                t.distributions
                    .insert(p.name.clone(), p.distribution.clone());
            }
            t.state = TrialState::Complete;
            t.values = Some(vec![y]);
            let t1 = Instant::now();
            s.tell(&t)?;
            history.push(t);
            let elapsed = ask + t1.elapsed();
            if number as usize + 10 >= trials {
                tail.push(elapsed.as_secs_f64() * 1e3);
            }
            if y < best {
                best = y;
            }
        }
        bests.push(best);
        runs.push(history.len() as f64);
        if !tail.is_empty() {
            times.push(tail.iter().sum::<f64>() / tail.len() as f64);
        }
    }
    let regrets = bests.iter().map(|b| b - function.optimum).collect();
    Ok(BenchRow {
        function: function.name.to_string(),
        strategy: strategy.kind.clone(),
        trials,
        seeds,
        median_best: median(bests),
        median_regret: median(regrets),
        trials_run: median(runs),
        ms_per_trial_at_end: (!times.is_empty())
            .then(|| times.iter().sum::<f64>() / times.len() as f64),
    })
}

/// branin, hartmann6 and rosenbrock5.
pub fn functions() -> Vec<BenchFunction> {
    kiln_core::bench::functions()
}
