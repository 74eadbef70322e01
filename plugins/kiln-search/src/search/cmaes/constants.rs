//! The constants of CMA-ES: recombination weights and learning rates, from the dimension
//! and the population size alone (Hansen 2016, table 1), as Optuna's `cmaes` package sets
//! them.

/// The constants of the strategy for a dimension and population size (Hansen 2016,
/// table 1, with the negative weights of active CMA for the worse half).
#[derive(Debug, Clone)]
pub struct Constants {
    /// λ recombination weights, best first: μ positive ones summing to 1, then negative.
    pub weights: Vec<f64>,
    /// Parents: the number of positive weights, ⌊λ/2⌋.
    pub mu: usize,
    /// Variance-effective selection mass of the positive weights.
    pub mu_eff: f64,
    /// Learning rate of the step-size path.
    pub c_sigma: f64,
    /// Damping of the step-size update.
    pub d_sigma: f64,
    /// Learning rate of the covariance path.
    pub c_c: f64,
    /// Learning rate of the rank-one update.
    pub c_1: f64,
    /// Learning rate of the rank-μ update.
    pub c_mu: f64,
    /// E‖N(0, I)‖, the expected length of a standard normal vector.
    pub chi_n: f64,
}

impl Constants {
    /// The constants for `n` dimensions and `lambda` points per generation.
    pub fn new(n: usize, lambda: usize) -> Self {
        let nf = n as f64;
        let mu = (lambda / 2).max(1);
        let raw: Vec<f64> = (1..=lambda)
            .map(|i| ((lambda as f64 + 1.0) / 2.0).ln() - (i as f64).ln())
            .collect();
        let eff = |w: &[f64]| {
            let sq: f64 = w.iter().map(|x| x * x).sum();
            if sq > 0.0 {
                w.iter().sum::<f64>().powi(2) / sq
            } else {
                0.0
            }
        };
        let (pos, neg) = raw.split_at(mu);
        let mu_eff = eff(pos);
        let mu_eff_neg = eff(neg);
        let c_sigma = (mu_eff + 2.0) / (nf + mu_eff + 5.0);
        let d_sigma = 1.0 + 2.0 * (((mu_eff - 1.0) / (nf + 1.0)).sqrt() - 1.0).max(0.0) + c_sigma;
        let c_c = (4.0 + mu_eff / nf) / (nf + 4.0 + 2.0 * mu_eff / nf);
        let alpha_cov = 2.0;
        let c_1 = alpha_cov / ((nf + 1.3).powi(2) + mu_eff);
        let c_mu = (1.0 - c_1 - 1e-8).min(
            alpha_cov * (mu_eff - 2.0 + 1.0 / mu_eff)
                / ((nf + 2.0).powi(2) + alpha_cov * mu_eff / 2.0),
        );
        let c_mu = c_mu.max(0.0);
        // Negative weights are scaled so that C stays positive definite (α_posdef) and the
        // negative update does not outweigh the positive one (α_μ, α_μeff).
        let alpha_mu = 1.0 + c_1 / c_mu.max(f64::MIN_POSITIVE);
        let alpha_mu_eff = 1.0 + 2.0 * mu_eff_neg / (mu_eff + 2.0);
        let alpha_posdef = (1.0 - c_1 - c_mu) / (nf * c_mu.max(f64::MIN_POSITIVE));
        let pos_sum: f64 = pos.iter().sum();
        let neg_sum: f64 = neg.iter().map(|w| w.abs()).sum();
        let neg_scale = alpha_mu.min(alpha_mu_eff).min(alpha_posdef);
        let weights = raw
            .iter()
            .map(|&w| {
                if w >= 0.0 {
                    w / pos_sum
                } else {
                    neg_scale * w / neg_sum.max(f64::MIN_POSITIVE)
                }
            })
            .collect();
        let chi_n = nf.sqrt() * (1.0 - 1.0 / (4.0 * nf) + 1.0 / (21.0 * nf * nf));
        Constants {
            weights,
            mu,
            mu_eff,
            c_sigma,
            d_sigma,
            c_c,
            c_1,
            c_mu,
            chi_n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_the_tutorial_for_n_5() {
        let k = Constants::new(5, 8);
        assert_eq!((k.weights.len(), k.mu), (8, 4));
        assert!((k.weights[..4].iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(k.weights[4..].iter().all(|w| *w < 0.0));
        assert!((k.mu_eff - 2.6).abs() < 0.1, "mu_eff {}", k.mu_eff);
        assert!(k.c_1 + k.c_mu <= 1.0);
        assert!((k.chi_n - 2.1285).abs() < 1e-3, "chi_n {}", k.chi_n);
    }
}
