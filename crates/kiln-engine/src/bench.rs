//! `kiln bench search`: strategies on standard test functions, no training involved.
//!
//! Each (function, strategy) pair runs `trials` sequential trials for each of `seeds`
//! seeds, minimising. Reported per pair: the median over seeds of the best value found and of
//! the regret (best − optimum), and the mean ask+tell time over the last 10 trials.

use kiln_core::{
    BuildContext, Direction, Distribution, FrozenTrial, ParamSpec, PluginSpec, Registry,
    SearchSpace, StudyView, TrialState,
};
use serde::Serialize;
use std::time::Instant;

/// A test function with its domain and known optimum.
pub struct BenchFunction {
    /// Its name.
    pub name: &'static str,
    /// Per-dimension bounds.
    pub bounds: Vec<(f64, f64)>,
    /// The global minimum.
    pub optimum: f64,
    /// The function.
    pub f: fn(&[f64]) -> f64,
}

fn branin(x: &[f64]) -> f64 {
    use std::f64::consts::PI;
    let (a, b, c) = (1.0, 5.1 / (4.0 * PI * PI), 5.0 / PI);
    let (r, s, t) = (6.0, 10.0, 1.0 / (8.0 * PI));
    a * (x[1] - b * x[0] * x[0] + c * x[0] - r).powi(2) + s * (1.0 - t) * x[0].cos() + s
}

fn hartmann6(x: &[f64]) -> f64 {
    const A: [[f64; 6]; 4] = [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ];
    const P: [[f64; 6]; 4] = [
        [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
        [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
        [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
    ];
    const ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
    -(0..4)
        .map(|i| {
            let inner: f64 = (0..6).map(|j| A[i][j] * (x[j] - P[i][j]).powi(2)).sum();
            ALPHA[i] * (-inner).exp()
        })
        .sum::<f64>()
}

fn rosenbrock(x: &[f64]) -> f64 {
    x.windows(2)
        .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
        .sum()
}

/// branin, hartmann6 and rosenbrock5.
pub fn functions() -> Vec<BenchFunction> {
    vec![
        BenchFunction {
            name: "branin",
            bounds: vec![(-5.0, 10.0), (0.0, 15.0)],
            optimum: 0.397887,
            f: branin,
        },
        BenchFunction {
            name: "hartmann6",
            bounds: vec![(0.0, 1.0); 6],
            optimum: -3.32237,
            f: hartmann6,
        },
        BenchFunction {
            name: "rosenbrock5",
            bounds: vec![(-2.0, 2.0); 5],
            optimum: 0.0,
            f: rosenbrock,
        },
    ]
}

impl BenchFunction {
    /// The search space: `x0`, `x1`, … as floats over the bounds.
    pub fn space(&self) -> SearchSpace {
        let params = self
            .bounds
            .iter()
            .enumerate()
            .map(|(i, &(low, high))| ParamSpec {
                name: format!("x{i}"),
                distribution: Distribution::Float {
                    low,
                    high,
                    log: false,
                    step: None,
                },
                condition: None,
            })
            .collect();
        SearchSpace::new(params).unwrap_or_default()
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_hit_their_optima() {
        let f = functions();
        assert!((branin(&[std::f64::consts::PI, 2.275]) - f[0].optimum).abs() < 1e-5);
        let h = hartmann6(&[0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]);
        assert!((h - f[1].optimum).abs() < 1e-4, "{h}");
        assert_eq!(rosenbrock(&[1.0; 5]), 0.0);
    }
}
