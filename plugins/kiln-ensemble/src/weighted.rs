use kiln_core::{BuildContext, Ensembler, Error, Predictions, Result};
use serde::Deserialize;

/// Parameters of [`Weighted`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeightedConfig {
    /// Most EM iterations.
    pub iterations: usize,
    /// Stop when the validation log-loss improves by less than this in one iteration.
    pub tolerance: f64,
    /// Weights below this share are set to 0 (the member is left out) and the rest
    /// renormalised.
    pub prune: f64,
}

impl Default for WeightedConfig {
    fn default() -> Self {
        WeightedConfig {
            iterations: 500,
            tolerance: 1e-9,
            prune: 0.01,
        }
    }
}

/// A weighted average of the members' probabilities, with the weights that minimise the
/// validation log-loss of the average.
///
/// The members' probabilities of the true labels are fixed, so this is fitting the weights
/// of a mixture with known components: the EM update `wₘ ← wₘ · mean(pₘ(y) / q(y))`, where
/// `q` is the current average, decreases the log-loss at every step, keeps the weights on
/// the simplex and needs no step size. The problem is convex, so the start (equal weights)
/// does not change where it ends.
#[derive(Debug, Clone)]
pub struct Weighted {
    config: WeightedConfig,
}

impl Weighted {
    /// A weighted average with validated parameters.
    pub fn new(config: WeightedConfig, key: &str) -> Result<Self> {
        if config.iterations == 0 {
            return Err(Error::config(
                format!("{key}.iterations"),
                "must be at least 1",
            ));
        }
        if !(config.tolerance.is_finite() && config.tolerance >= 0.0) {
            return Err(Error::config(
                format!("{key}.tolerance"),
                format!("must be ≥ 0, got {}", config.tolerance),
            ));
        }
        if !(0.0..0.5).contains(&config.prune) {
            return Err(Error::config(
                format!("{key}.prune"),
                format!("must be in [0, 0.5), got {}", config.prune),
            ));
        }
        Ok(Weighted { config })
    }

    /// Builds from config parameters.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        Weighted::new(ctx.parse(params)?, &ctx.key)
    }
}

/// Each candidate's probability of each sample's label: `[candidate][sample]`.
fn label_probs(candidates: &[Predictions], labels: &[u32]) -> Vec<Vec<f64>> {
    candidates
        .iter()
        .map(|c| {
            c.probs
                .chunks(c.num_classes)
                .zip(labels)
                .map(|(row, &y)| f64::from(row.get(y as usize).copied().unwrap_or(0.0)).max(1e-7))
                .collect()
        })
        .collect()
}

impl Ensembler for Weighted {
    fn fit(&self, candidates: &[Predictions], labels: &[u32]) -> Result<Vec<f64>> {
        Predictions::check_alike(&candidates.iter().collect::<Vec<_>>())?;
        let k = candidates.len();
        if labels.len() != candidates[0].len() {
            return Err(Error::Training(format!(
                "{} validation labels for {} predicted rows",
                labels.len(),
                candidates[0].len()
            )));
        }
        let p = label_probs(candidates, labels);
        let n = labels.len().max(1) as f64;
        let mut w = vec![1.0 / k as f64; k];
        let mut last = f64::INFINITY;
        for _ in 0..self.config.iterations {
            let q: Vec<f64> = (0..labels.len())
                .map(|i| (0..k).map(|m| w[m] * p[m][i]).sum())
                .collect();
            let loss = -q.iter().map(|v| v.ln()).sum::<f64>() / n;
            if last - loss < self.config.tolerance {
                break;
            }
            last = loss;
            for m in 0..k {
                w[m] *= p[m].iter().zip(&q).map(|(pm, qi)| pm / qi).sum::<f64>() / n;
            }
        }
        for v in &mut w {
            if *v < self.config.prune {
                *v = 0.0;
            }
        }
        let total: f64 = w.iter().sum();
        if total <= 0.0 {
            // Every weight under the pruning share cannot happen with `prune < 0.5` unless
            // there are many near-equal candidates: keep the unpruned fit's best one.
            let best = (0..k).fold(0, |b, m| {
                if p[m].iter().sum::<f64>() > p[b].iter().sum::<f64>() {
                    m
                } else {
                    b
                }
            });
            w = vec![0.0; k];
            w[best] = 1.0;
            return Ok(w);
        }
        Ok(w.into_iter().map(|v| v / total).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weighted() -> Weighted {
        Weighted::new(WeightedConfig::default(), "e").expect("valid")
    }

    #[test]
    fn conforms() {
        kiln_core::testing::check_ensembler(|| Box::new(weighted()));
    }

    #[test]
    fn two_members_get_the_closed_form_weight() {
        // p_a(y) = (0.9, 0.2), p_b(y) = (0.1, 0.6): the log-likelihood
        // log(0.1 + 0.8w) + log(0.6 - 0.4w) is largest at w = 0.44 / 0.64 = 0.6875.
        let a = Predictions::new(2, vec![0.9, 0.1, 0.8, 0.2]).expect("a");
        let b = Predictions::new(2, vec![0.1, 0.9, 0.4, 0.6]).expect("b");
        let w = Weighted::new(
            WeightedConfig {
                iterations: 10_000,
                tolerance: 0.0,
                prune: 0.0,
            },
            "e",
        )
        .expect("valid")
        .fit(&[a, b], &[0, 1])
        .expect("fit");
        assert!((w[0] - 0.6875).abs() < 1e-4, "{w:?}");
        assert!((w[0] + w[1] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_useless_member_is_pruned() {
        let good = Predictions::new(2, vec![0.9, 0.1, 0.2, 0.8, 0.7, 0.3]).expect("p");
        let bad = Predictions::new(2, vec![0.1, 0.9, 0.8, 0.2, 0.3, 0.7]).expect("p");
        let w = weighted().fit(&[bad, good], &[0, 1, 0]).expect("fit");
        assert_eq!(w, vec![0.0, 1.0]);
    }

    #[test]
    fn bad_parameters_are_named() {
        let c = WeightedConfig {
            prune: 0.7,
            ..WeightedConfig::default()
        };
        let e = Weighted::new(c, "stages[3].ensembler")
            .expect_err("prune")
            .to_string();
        assert!(e.contains("stages[3].ensembler.prune"), "{e}");
    }
}
