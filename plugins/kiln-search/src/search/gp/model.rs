//! The Gaussian process: a Matérn-5/2 kernel with one length scale per dimension (ARD), a
//! signal variance and a noise variance, fitted to standardised losses by maximising the
//! log marginal likelihood, and its posterior mean and deviation at new points.
//!
//! Everything is plain `f64` linear algebra on at most a few hundred observations: a
//! Cholesky factorisation (with growing jitter if the matrix is not numerically positive
//! definite) and triangular solves.

/// Kernel hyperparameters, as logarithms so that the search over them is unconstrained.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Hyper {
    /// `ln ℓ` per dimension.
    pub log_scales: Vec<f64>,
    /// `ln σ_f²`.
    pub log_signal: f64,
    /// `ln σ_n²`.
    pub log_noise: f64,
}

/// Bounds of the hyperparameter search (of the logarithms).
const SCALE_BOUNDS: (f64, f64) = (-4.6, 2.3); // ℓ in [0.01, 10] of the unit cube
const SIGNAL_BOUNDS: (f64, f64) = (-4.6, 4.6);
const NOISE_BOUNDS: (f64, f64) = (-13.8, 0.0); // σ_n² in [1e-6, 1]

impl Hyper {
    fn initial(dims: usize) -> Self {
        Hyper {
            log_scales: vec![(0.5f64).ln(); dims],
            log_signal: 0.0,
            log_noise: (1e-3f64).ln(),
        }
    }

    fn get(&self, i: usize) -> f64 {
        let d = self.log_scales.len();
        match i {
            _ if i < d => self.log_scales[i],
            _ if i == d => self.log_signal,
            _ => self.log_noise,
        }
    }

    fn set(&mut self, i: usize, v: f64) {
        let d = self.log_scales.len();
        let bounds = match i {
            _ if i < d => SCALE_BOUNDS,
            _ if i == d => SIGNAL_BOUNDS,
            _ => NOISE_BOUNDS,
        };
        let v = v.clamp(bounds.0, bounds.1);
        match i {
            _ if i < d => self.log_scales[i] = v,
            _ if i == d => self.log_signal = v,
            _ => self.log_noise = v,
        }
    }
}

/// Matérn-5/2 between `a` and `b` with inverse length scales `inv` and variance `signal`.
fn matern52(a: &[f64], b: &[f64], inv: &[f64], signal: f64) -> f64 {
    let r2: f64 = a
        .iter()
        .zip(b)
        .zip(inv)
        .map(|((x, y), s)| {
            let d = (x - y) * s;
            d * d
        })
        .sum();
    let r = (5.0 * r2).sqrt();
    signal * (1.0 + r + r * r / 3.0) * (-r).exp()
}

/// The lower Cholesky factor of the `n × n` matrix `a` (row-major), or `None`.
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Solves `L x = b` in place (lower triangular).
fn solve_lower(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// Solves `Lᵀ x = b` in place.
fn solve_upper(l: &[f64], n: usize, b: &mut [f64]) {
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// A fitted process.
#[derive(Debug, Clone)]
pub(super) struct Gp {
    x: Vec<Vec<f64>>,
    inv_scales: Vec<f64>,
    signal: f64,
    /// Cholesky factor of `K + σ_n² I`.
    l: Vec<f64>,
    /// `(K + σ_n² I)⁻¹ y`.
    alpha: Vec<f64>,
}

impl Gp {
    /// Conditions the process with `hyper` on `x` (points in the unit cube) and `y`;
    /// `None` if the kernel matrix cannot be factorised even with added jitter.
    fn condition(x: &[Vec<f64>], y: &[f64], hyper: &Hyper) -> Option<(Gp, f64)> {
        let n = y.len();
        let inv: Vec<f64> = hyper.log_scales.iter().map(|s| (-s).exp()).collect();
        let signal = hyper.log_signal.exp();
        let noise = hyper.log_noise.exp();
        let mut k = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = matern52(&x[i], &x[j], &inv, signal);
                k[i * n + j] = v;
                k[j * n + i] = v;
            }
        }
        let mut jitter = 0.0;
        for _ in 0..6 {
            let mut a = k.clone();
            for i in 0..n {
                a[i * n + i] += noise + jitter;
            }
            if let Some(l) = cholesky(&a, n) {
                let mut alpha = y.to_vec();
                solve_lower(&l, n, &mut alpha);
                // Log marginal likelihood: -½ yᵀα - Σ ln L_ii - n/2 ln 2π (α half-solved).
                let fit: f64 = alpha.iter().map(|v| v * v).sum();
                let log_det: f64 = (0..n).map(|i| l[i * n + i].ln()).sum();
                let lml = -0.5 * fit - log_det - 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
                solve_upper(&l, n, &mut alpha);
                let gp = Gp {
                    x: x.to_vec(),
                    inv_scales: inv,
                    signal,
                    l,
                    alpha,
                };
                return Some((gp, lml));
            }
            jitter = if jitter == 0.0 {
                1e-8 * signal
            } else {
                jitter * 100.0
            };
        }
        None
    }

    /// Fits the hyperparameters to `x`, `y` (standardised) by coordinate search on their
    /// logarithms from a fixed start: each pass tries a step up and down on every
    /// coordinate and keeps what raises the marginal likelihood; steps halve each pass.
    /// Deterministic: the same data always give the same fit.
    pub fn fit(x: &[Vec<f64>], y: &[f64], passes: usize) -> Option<Gp> {
        let dims = x.first().map_or(0, Vec::len);
        let mut hyper = Hyper::initial(dims);
        let (mut best, mut best_lml) = Gp::condition(x, y, &hyper)?;
        let mut step = 1.0;
        for _ in 0..passes {
            for i in 0..dims + 2 {
                for dir in [1.0, -1.0] {
                    let mut trial = hyper.clone();
                    trial.set(i, hyper.get(i) + dir * step);
                    if trial == hyper {
                        continue;
                    }
                    if let Some((gp, lml)) = Gp::condition(x, y, &trial)
                        && lml > best_lml
                    {
                        best_lml = lml;
                        best = gp;
                        hyper = trial;
                        break;
                    }
                }
            }
            step *= 0.5;
        }
        Some(best)
    }

    /// Posterior mean and standard deviation at `p`.
    pub fn predict(&self, p: &[f64]) -> (f64, f64) {
        let n = self.alpha.len();
        let mut k: Vec<f64> = self
            .x
            .iter()
            .map(|xi| matern52(xi, p, &self.inv_scales, self.signal))
            .collect();
        let mean: f64 = k.iter().zip(&self.alpha).map(|(a, b)| a * b).sum();
        solve_lower(&self.l, n, &mut k);
        let var = self.signal - k.iter().map(|v| v * v).sum::<f64>();
        (mean, var.max(1e-12).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_a_smooth_function() {
        let f = |x: f64| (6.0 * x).sin();
        let x: Vec<Vec<f64>> = (0..12).map(|i| vec![i as f64 / 11.0]).collect();
        let y: Vec<f64> = x.iter().map(|p| f(p[0])).collect();
        let gp = Gp::fit(&x, &y, 6).expect("fit");
        for i in 0..50 {
            let p = i as f64 / 49.0;
            let (m, s) = gp.predict(&[p]);
            assert!((m - f(p)).abs() < 0.05, "at {p}: {m} vs {}", f(p));
            assert!(s < 0.2, "at {p}: deviation {s}");
        }
        // At an observation the deviation is about the noise.
        let (_, s) = gp.predict(&x[3]);
        assert!(s < 0.05, "{s}");
    }

    #[test]
    fn cholesky_solves() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let l = cholesky(&a, 2).expect("positive definite");
        let mut b = [2.0, 1.0];
        solve_lower(&l, 2, &mut b);
        solve_upper(&l, 2, &mut b);
        // A x = (2, 1): x = (0.5, 0).
        assert!((b[0] - 0.5).abs() < 1e-12 && b[1].abs() < 1e-12, "{b:?}");
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }
}
