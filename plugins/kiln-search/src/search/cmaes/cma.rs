//! The (μ/μ_w, λ)-CMA-ES in the unit cube: sampling, the update of one generation, and the
//! stopping tests that trigger an IPOP restart.
//!
//! Follows Hansen, "The CMA Evolution Strategy: A Tutorial" (2016), as Optuna's `cmaes`
//! package does: weighted recombination of the μ best, cumulative step-size adaptation
//! (CSA), and rank-one plus rank-μ updates of the covariance matrix, the rank-μ update
//! with the negative weights of active CMA for the worse half of the generation. Points are
//! kept inside `[0, 1]^n` by resampling, then clipping.

use super::constants::Constants;
use super::eigen::symmetric_eigen;
use super::exact;
use kiln_core::Rng;
use serde::{Deserialize, Serialize};

/// Resampling tries before a point outside the cube is clipped onto it.
const RESAMPLE_TRIES: usize = 100;
/// Step size below which (in every coordinate) the search has collapsed.
const TOL_X: f64 = 1e-11;
/// Range of recent objective values below which the landscape is flat.
const TOL_FUN: f64 = 1e-12;
/// Largest tolerated condition number of C; larger ones are clipped.
const MAX_CONDITION: f64 = 1e14;

/// `B` (eigenvectors as columns, row-major) and `D` (square roots of the eigenvalues).
#[derive(Debug, Clone)]
struct Eigen {
    b: Vec<f64>,
    d: Vec<f64>,
}

/// The distribution of one CMA-ES run and its recent history. Serialisable (floats as
/// exact strings); the eigen decomposition is recomputed from `c` after loading.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cma {
    n: usize,
    lambda: usize,
    #[serde(with = "exact::float")]
    sigma0: f64,
    #[serde(with = "exact::floats")]
    mean: Vec<f64>,
    #[serde(with = "exact::float")]
    sigma: f64,
    /// Covariance matrix, row-major `n × n`.
    #[serde(with = "exact::floats")]
    c: Vec<f64>,
    #[serde(with = "exact::floats")]
    p_sigma: Vec<f64>,
    #[serde(with = "exact::floats")]
    p_c: Vec<f64>,
    /// Generations updated in this run.
    generation: u64,
    /// Best and worst value of each recent generation, newest last (TolFun).
    #[serde(with = "exact::floats")]
    history: Vec<f64>,
    /// Best value of the run and the generation that found it (stagnation).
    #[serde(with = "exact::float")]
    best: f64,
    best_generation: u64,
    #[serde(skip)]
    eigen: Option<Eigen>,
}

impl Cma {
    /// A run around `mean` with step size `sigma0`, identity covariance and `lambda` points
    /// per generation.
    pub fn new(mean: Vec<f64>, sigma0: f64, lambda: usize) -> Self {
        let n = mean.len();
        let mut c = vec![0.0; n * n];
        for i in 0..n {
            c[i * n + i] = 1.0;
        }
        Cma {
            n,
            lambda,
            sigma0,
            mean,
            sigma: sigma0,
            c,
            p_sigma: vec![0.0; n],
            p_c: vec![0.0; n],
            generation: 0,
            history: Vec::new(),
            best: f64::INFINITY,
            best_generation: 0,
            eigen: None,
        }
    }

    /// Points per generation.
    pub fn lambda(&self) -> usize {
        self.lambda
    }

    /// The current step size.
    #[cfg(test)]
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// The current mean.
    #[cfg(test)]
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The eigen decomposition of `C`, computed on first use after each change. An
    /// ill-conditioned `C` has its small eigenvalues raised to `max / MAX_CONDITION`, and
    /// a non-finite one is reset to the identity, so sampling never produces NaN.
    fn eigen(&mut self) -> &Eigen {
        if self.eigen.is_none() {
            let n = self.n;
            if self.c.iter().any(|x| !x.is_finite()) {
                let mean = self
                    .mean
                    .iter()
                    .map(|m| {
                        if m.is_finite() {
                            m.clamp(0.0, 1.0)
                        } else {
                            0.5
                        }
                    })
                    .collect();
                *self = Cma::new(mean, self.sigma0, self.lambda);
            }
            let (mut values, b) = symmetric_eigen(&self.c, n);
            let max = values
                .iter()
                .copied()
                .fold(0.0f64, f64::max)
                .max(f64::MIN_POSITIVE);
            let floor = max / MAX_CONDITION;
            if values.iter().any(|v| *v < floor) {
                for v in &mut values {
                    *v = v.max(floor);
                }
                for i in 0..n {
                    for j in 0..n {
                        self.c[i * n + j] = (0..n)
                            .map(|k| b[i * n + k] * values[k] * b[j * n + k])
                            .sum();
                    }
                }
            }
            let d = values.iter().map(|v| v.sqrt()).collect();
            self.eigen = Some(Eigen { b, d });
        }
        self.eigen.as_ref().expect("computed above")
    }

    /// Draws `m + σ B D z`, `z ~ N(0, I)`, resampling points outside the cube and clipping
    /// the last try.
    pub fn sample(&mut self, rng: &mut Rng) -> Vec<f64> {
        let n = self.n;
        let (mean, sigma) = (self.mean.clone(), self.sigma);
        let e = self.eigen().clone();
        let mut x = mean.clone();
        for _ in 0..RESAMPLE_TRIES {
            let z: Vec<f64> = (0..n).map(|k| e.d[k] * rng.normal()).collect();
            for i in 0..n {
                x[i] = mean[i] + sigma * (0..n).map(|k| e.b[i * n + k] * z[k]).sum::<f64>();
            }
            if x.iter().all(|v| (0.0..=1.0).contains(v)) {
                return x;
            }
        }
        x.iter().map(|v| v.clamp(0.0, 1.0)).collect()
    }

    /// Updates the distribution from one generation: `ranked` holds its points best first
    /// (failed ones last), `values` the finite objective values (to minimise) it produced.
    pub fn update(&mut self, ranked: &[&[f64]], values: &[f64]) {
        let n = self.n;
        let k = Constants::new(n, self.lambda);
        let old = self.mean.clone();
        let ys: Vec<Vec<f64>> = ranked
            .iter()
            .take(self.lambda)
            .map(|x| {
                x.iter()
                    .zip(&old)
                    .map(|(xi, mi)| (xi - mi) / self.sigma)
                    .collect()
            })
            .collect();
        let mu = k.mu.min(ys.len());
        let y_w: Vec<f64> = (0..n)
            .map(|i| ys[..mu].iter().zip(&k.weights).map(|(y, w)| w * y[i]).sum())
            .collect();
        for i in 0..n {
            self.mean[i] = old[i] + self.sigma * y_w[i];
        }

        // C^(-1/2) v = B D^(-1) Bᵀ v.
        let e = self.eigen().clone();
        let c_inv_sqrt = |v: &[f64]| -> Vec<f64> {
            let bt: Vec<f64> = (0..n)
                .map(|j| (0..n).map(|i| e.b[i * n + j] * v[i]).sum::<f64>() / e.d[j])
                .collect();
            (0..n)
                .map(|i| (0..n).map(|j| e.b[i * n + j] * bt[j]).sum())
                .collect()
        };
        let cs = k.c_sigma;
        let norm_s = (cs * (2.0 - cs) * k.mu_eff).sqrt();
        let z_w = c_inv_sqrt(&y_w);
        for (p, z) in self.p_sigma.iter_mut().zip(&z_w) {
            *p = (1.0 - cs) * *p + norm_s * z;
        }
        let ps_norm = self.p_sigma.iter().map(|v| v * v).sum::<f64>().sqrt();
        self.generation += 1;
        let correction = (1.0 - (1.0 - cs).powf(2.0 * self.generation as f64)).sqrt();
        let h_sigma = ps_norm / correction / k.chi_n < 1.4 + 2.0 / (n as f64 + 1.0);
        let cc = k.c_c;
        let norm_c = (cc * (2.0 - cc) * k.mu_eff).sqrt();
        let push = if h_sigma { norm_c } else { 0.0 };
        for (p, y) in self.p_c.iter_mut().zip(&y_w) {
            *p = (1.0 - cc) * *p + push * y;
        }
        // Negative weights act on directions rescaled to the length they would have under
        // C (n / |C^(-1/2) y|²), so that a far-away bad point cannot shrink C too much.
        let w_cov: Vec<f64> = ys
            .iter()
            .zip(&k.weights)
            .map(|(y, &w)| {
                if w >= 0.0 {
                    w
                } else {
                    let z2: f64 = c_inv_sqrt(y).iter().map(|v| v * v).sum();
                    w * n as f64 / z2.max(1e-300)
                }
            })
            .collect();
        // Without h_sigma the rank-one update misses the variance the stalled p_c lost.
        let delta = if h_sigma { 0.0 } else { cc * (2.0 - cc) };
        let wsum: f64 = k.weights[..ys.len()].iter().sum();
        let keep = 1.0 + k.c_1 * delta - k.c_1 - k.c_mu * wsum;
        for i in 0..n {
            for j in 0..n {
                let rank_mu: f64 = ys.iter().zip(&w_cov).map(|(y, w)| w * y[i] * y[j]).sum();
                self.c[i * n + j] =
                    keep * self.c[i * n + j] + k.c_1 * self.p_c[i] * self.p_c[j] + k.c_mu * rank_mu;
            }
        }
        self.sigma *= ((cs / k.d_sigma) * (ps_norm / k.chi_n - 1.0)).exp();
        self.sigma = self.sigma.clamp(1e-300, 1e10);
        self.eigen = None;

        if let (Some(lo), Some(hi)) = (
            values.iter().copied().reduce(f64::min),
            values.iter().copied().reduce(f64::max),
        ) {
            self.history.extend([lo, hi]);
            let keep = 2 * self.history_length();
            if self.history.len() > keep {
                self.history.drain(..self.history.len() - keep);
            }
            if lo < self.best {
                self.best = lo;
                self.best_generation = self.generation;
            }
        }
    }

    /// Generations of history the stopping tests look back over: `10 + ⌈30 n / λ⌉`.
    fn history_length(&self) -> usize {
        10 + (30 * self.n).div_ceil(self.lambda)
    }

    /// Why this run should be restarted, if it should: its step size collapsed, its
    /// covariance degenerated, or its objective values stopped changing or improving.
    pub fn stop_reason(&mut self) -> Option<&'static str> {
        let n = self.n;
        if !self.sigma.is_finite() || self.mean.iter().any(|m| !m.is_finite()) {
            return Some("numerical breakdown");
        }
        let (sigma, sigma0) = (self.sigma, self.sigma0);
        let collapsed = (0..n)
            .all(|i| sigma * self.c[i * n + i].sqrt() < TOL_X && sigma * self.p_c[i].abs() < TOL_X);
        if collapsed {
            return Some("step size collapsed (TolX)");
        }
        let no_effect = (0..n).any(|i| {
            let m = self.mean[i];
            m + 0.2 * sigma * self.c[i * n + i].sqrt() == m
        });
        if no_effect {
            return Some("a coordinate no longer moves (NoEffectCoord)");
        }
        let e = self.eigen().clone();
        let dmax = e.d.iter().copied().fold(0.0, f64::max);
        let dmin = e.d.iter().copied().fold(f64::INFINITY, f64::min);
        if sigma * dmax > 1e4 * sigma0 {
            return Some("step size diverged (TolUpSigma)");
        }
        if (dmax / dmin).powi(2) >= MAX_CONDITION {
            return Some("covariance ill-conditioned (ConditionCov)");
        }
        let h = self.history_length();
        if self.generation as usize >= h && self.history.len() >= 2 * h {
            let lo = self.history.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = self
                .history
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            if hi - lo < TOL_FUN {
                return Some("objective flat (TolFun)");
            }
        }
        if self.generation > self.best_generation + 2 * h as u64 {
            return Some("no improvement (stagnation)");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_stay_in_the_cube_and_the_mean_follows_the_best() {
        let mut cma = Cma::new(vec![0.9, 0.1, 0.5], 0.3, 6);
        let mut rng = Rng::new(2);
        for _ in 0..200 {
            let mut pts: Vec<Vec<f64>> = (0..6).map(|_| cma.sample(&mut rng)).collect();
            assert!(pts.iter().flatten().all(|x| (0.0..=1.0).contains(x)));
            let f = |x: &Vec<f64>| x.iter().map(|v| (v - 0.4).powi(2)).sum::<f64>();
            pts.sort_by(|a, b| f(a).total_cmp(&f(b)));
            let values: Vec<f64> = pts.iter().map(f).collect();
            let ranked: Vec<&[f64]> = pts.iter().map(Vec::as_slice).collect();
            cma.update(&ranked, &values);
        }
        assert!(
            cma.mean().iter().all(|m| (m - 0.4).abs() < 1e-6),
            "{:?}",
            cma.mean()
        );
        assert!(cma.sigma() < 1e-5);
    }
}
