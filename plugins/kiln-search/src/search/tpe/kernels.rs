//! The kernels of one dimension of a Parzen estimator (see [`super::parzen`]): Gaussians
//! truncated to `[0, 1]` with Optuna 5's bandwidths for numeric parameters, smoothed counts
//! for categorical ones. Kernel `k < n` is observation `k`; the last kernel is the prior.

use super::axis::Axis;
use kiln_core::Rng;
use std::f64::consts::FRAC_1_SQRT_2;

/// `√(2π)`.
const SQRT_2PI: f64 = 2.506_628_274_631_000_7;

/// Gaussians truncated to `[0, 1]`, one per kernel.
#[derive(Debug, Clone)]
pub(super) struct GaussianKernels {
    mu: Vec<f64>,
    sigma: Vec<f64>,
    /// `1 / (σ √2)`: a point's distance from the centre times this is the argument of erfc
    /// in the Gaussian's masses, and its square is the exponent of the density (scoring
    /// multiplies by it, several times cheaper than dividing by `σ √2`).
    scale: Vec<f64>,
    /// Scored by the mass on the candidate's cell rather than by the density.
    discrete: bool,
}

/// Smoothed counts over `n_choices` choices, one kernel per observed choice.
#[derive(Debug, Clone)]
pub(super) struct CategoricalKernels {
    n_choices: usize,
    /// Each kernel's choice index; `None` for the prior.
    choice: Vec<Option<usize>>,
    /// `ln` of an observation kernel's probability of its own choice, and of any other.
    ln_own: f64,
    ln_other: f64,
    /// An observation kernel's probability of its own choice on top of a uniform draw
    /// (how [`CategoricalKernels::draw`] draws from it).
    p_own_extra: f64,
}

impl GaussianKernels {
    /// Kernels at the coordinates `column`, then the prior.
    pub fn fit(column: Vec<f64>, discrete: bool, consider_endpoints: bool) -> Self {
        let mut mu = column;
        mu.iter_mut().for_each(|x| *x = x.clamp(0.0, 1.0));
        // Optuna's bandwidth floor ("magic clip"): 1 / min(100, n + 2).
        let mut sigma = bandwidths(&mu, consider_endpoints, 100.min(mu.len() + 2));
        mu.push(0.5);
        sigma.push(1.0);
        GaussianKernels {
            scale: sigma.iter().map(|s| FRAC_1_SQRT_2 / s).collect(),
            mu,
            sigma,
            discrete,
        }
    }

    /// What kernel `k`'s `exp(-z² / 2)` (continuous) or cell mass (discrete) is divided by
    /// to make it a density or a probability on `[0, 1]`: `σ √(2π) Z` or `Z`, `Z` being the
    /// Gaussian's mass on `[0, 1]`.
    pub fn normaliser(&self, k: usize) -> f64 {
        let z = unit_mass(self.mu[k], self.scale[k]);
        if self.discrete {
            z
        } else {
            self.sigma[k] * SQRT_2PI * z
        }
    }

    /// A draw from kernel `k` with its width times `narrowing`, moved to the centre of its
    /// cell on a discrete axis.
    pub fn draw(&self, rng: &mut Rng, k: usize, narrowing: f64, axis: &Axis<'_>) -> f64 {
        let u = truncated_normal(rng, self.mu[k], self.sigma[k] * narrowing);
        axis.cell(u).0
    }

    /// Adds each kernel's `-z² / 2` (continuous) or log cell mass (discrete) at `x` to
    /// `terms`, `z` being `x`'s distance from the centre in widths.
    pub fn add_log_terms(&self, x: f64, axis: &Axis<'_>, terms: &mut [f64]) {
        let kernels = self.mu.iter().zip(&self.scale);
        if self.discrete {
            let (_, low, high) = axis.cell(x);
            for (t, (&m, &c)) in terms.iter_mut().zip(kernels) {
                *t += ln_normal_mass((low - m) * c, (high - m) * c);
            }
        } else {
            for (t, (&m, &c)) in terms.iter_mut().zip(kernels) {
                let z_over_root2 = (x - m) * c;
                *t -= z_over_root2 * z_over_root2;
            }
        }
    }
}

impl CategoricalKernels {
    /// Kernels at the choice indices `column`, then the prior.
    pub fn fit(column: &[f64], n_choices: usize, prior_weight: f64) -> Self {
        let mut choice: Vec<Option<usize>> = column.iter().map(|&x| Some(x as usize)).collect();
        choice.push(None);
        // Each observation kernel: `prior_weight / n_kernels` on every choice and 1 more on
        // its own, normalised by the sum over the choices.
        let smoothing = prior_weight / choice.len() as f64;
        let sum = n_choices as f64 * smoothing + 1.0;
        CategoricalKernels {
            n_choices,
            choice,
            ln_own: ((smoothing + 1.0) / sum).ln(),
            ln_other: (smoothing / sum).ln(),
            p_own_extra: 1.0 / sum,
        }
    }

    /// A draw (a choice index) from kernel `k`.
    pub fn draw(&self, rng: &mut Rng, k: usize) -> f64 {
        match self.choice[k] {
            Some(own) if rng.uniform() < self.p_own_extra => own as f64,
            _ => rng.below(self.n_choices as u64) as f64,
        }
    }

    /// Adds each kernel's log-probability of choice `x` to `terms`.
    pub fn add_log_terms(&self, x: f64, terms: &mut [f64]) {
        let x = x as usize;
        let ln_uniform = -(self.n_choices as f64).ln();
        for (t, c) in terms.iter_mut().zip(&self.choice) {
            *t += match c {
                None => ln_uniform,
                Some(own) if *own == x => self.ln_own,
                Some(_) => self.ln_other,
            };
        }
    }
}

/// Each point's larger gap to its sorted neighbours, clipped to `[1 / n_cells, 1]`. The
/// bounds 0 and 1 count as neighbours of the outermost points, except (of two or more)
/// without `consider_endpoints`, when those look inwards only.
///
/// The clip spares a sort. Cut `[0, 1]` into `n_cells` cells as wide as the floor: a point
/// with a point of its own cell on either side has both gaps within the cell, so it gets the
/// floor. Only each cell's lowest and highest point (ordered by value, then index, as a
/// stable sort would) can get more, from the nearest points of the neighbouring non-empty
/// cells.
fn bandwidths(mu: &[f64], consider_endpoints: bool, n_cells: usize) -> Vec<f64> {
    // Each non-empty cell's lowest and highest point, as (value, index).
    let mut cells: Vec<Option<[(f64, usize); 2]>> = vec![None; n_cells];
    for (i, &x) in mu.iter().enumerate() {
        let cell = &mut cells[((x * n_cells as f64) as usize).min(n_cells - 1)];
        match cell {
            None => *cell = Some([(x, i); 2]),
            Some([low, high]) => {
                if x < low.0 {
                    *low = (x, i);
                }
                if x >= high.0 {
                    *high = (x, i);
                }
            }
        }
    }
    let cells: Vec<[(f64, usize); 2]> = cells.into_iter().flatten().collect();
    let inward_only = !consider_endpoints && mu.len() >= 2;
    let mut sigma = vec![1.0 / n_cells as f64; mu.len()];
    let mut widen = |i: usize, gap: f64| sigma[i] = sigma[i].max(gap.min(1.0));
    for (c, &[(low, low_at), (high, high_at)]) in cells.iter().enumerate() {
        // Below the lowest point: the previous cell's highest, or the bound 0.
        match c.checked_sub(1) {
            Some(before) => widen(low_at, low - cells[before][1].0),
            None if !inward_only => widen(low_at, low),
            None => {}
        }
        // Above the highest point: the next cell's lowest, or the bound 1.
        match cells.get(c + 1) {
            Some(after) => widen(high_at, after[0].0 - high),
            None if !inward_only => widen(high_at, 1.0 - high),
            None => {}
        }
    }
    sigma
}

/// The mass on `[0, 1]` of the normal centred at `mu` with `scale = 1 / (σ √2)`; with `mu`
/// in `[0, 1]` and `σ <= 1` at least 0.34.
fn unit_mass(mu: f64, scale: f64) -> f64 {
    // The mass beyond a bound at distance `d`. Past 6, erfc is below 2.2e-17, less than
    // `1 - tails` resolves: most kernels of a long study are that narrow, and erfc is the
    // costliest step of a fit, so it is not computed for them.
    let tail = |d: f64| {
        let x = d * scale;
        if x < 6.0 { 0.5 * libm::erfc(x) } else { 0.0 }
    };
    1.0 - tail(mu) - tail(1.0 - mu)
}

/// `ln(Φ(b √2) - Φ(a √2))` for the standard normal and `a < b`: the mass between two points
/// `a` and `b` given in units of `σ √2` from the centre. Each case subtracts the smaller
/// tails, so that intervals far out in a tail keep their precision; when even those
/// underflow the result is `-inf` (such a kernel adds nothing to a sum that always holds
/// the prior kernel).
fn ln_normal_mass(a: f64, b: f64) -> f64 {
    let tail = |x: f64| 0.5 * libm::erfc(x); // Φ(-x √2)
    let mass = if a >= 0.0 {
        tail(a) - tail(b)
    } else if b <= 0.0 {
        tail(-b) - tail(-a)
    } else {
        1.0 - tail(-a) - tail(b)
    };
    mass.max(0.0).ln()
}

/// A draw of the normal `(mu, sigma)` truncated to `[0, 1]`, by rejection. With `mu` in
/// `[0, 1]` and `sigma <= 1` at least a third of the draws are accepted; the fallback is
/// never reached in practice.
fn truncated_normal(rng: &mut Rng, mu: f64, sigma: f64) -> f64 {
    for _ in 0..100 {
        let x = mu + sigma * rng.normal();
        if (0.0..=1.0).contains(&x) {
            return x;
        }
    }
    mu.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidths_are_the_larger_gap_to_the_sorted_neighbours() {
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
        // Sorted 0.1, 0.2, 0.5: the ends look inwards, the middle takes its larger gap.
        let points = [0.5, 0.1, 0.2];
        assert!(close(&bandwidths(&points, false, 100), &[0.3, 0.1, 0.3]));
        assert!(close(&bandwidths(&points, true, 100), &[0.5, 0.1, 0.3]));
        assert!(close(&bandwidths(&[0.3], false, 100), &[0.7]));
        // Two points in one cell, equal points (the first is the lower), gaps below the
        // floor of 0.01.
        let points = [0.05, 0.051, 0.3, 0.3, 0.9];
        let want = [0.01, 0.249, 0.249, 0.6, 0.6];
        assert!(close(&bandwidths(&points, false, 100), &want));
        // Equal points: gaps of 0 on one side; the floor and the cap of 1 hold.
        assert!(close(&bandwidths(&[0.4, 0.4, 0.4], false, 5), &[0.2; 3]));
        assert!(close(&bandwidths(&[0.0, 0.0], true, 100), &[0.01, 1.0]));
    }

    #[test]
    fn normal_masses_hold_in_the_tails() {
        // Φ(1) - Φ(-1) (in units of √2), and a cell far out in the upper tail against its
        // density times its width.
        let r = FRAC_1_SQRT_2;
        assert!((ln_normal_mass(-r, r).exp() - 0.682_689_492_137_086).abs() < 1e-12);
        let (a, w) = (20.0, 1e-3);
        let approx = -0.5 * (a + w / 2.0) * (a + w / 2.0) - SQRT_2PI.ln() + w.ln();
        assert!((ln_normal_mass(a * r, (a + w) * r) - approx).abs() < 1e-3);
        assert_eq!(ln_normal_mass(-(a + w), -a), ln_normal_mass(a, a + w));
    }
}
