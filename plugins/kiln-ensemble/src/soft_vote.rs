use kiln_core::{Ensembler, Predictions, Result};
use serde::Deserialize;

/// Parameters of [`SoftVote`]: none.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftVoteConfig {}

/// Soft voting: every candidate with the same weight, probabilities averaged.
#[derive(Debug, Clone, Default)]
pub struct SoftVote;

impl Ensembler for SoftVote {
    fn fit(&self, candidates: &[Predictions], _labels: &[u32]) -> Result<Vec<f64>> {
        Predictions::check_alike(&candidates.iter().collect::<Vec<_>>())?;
        Ok(vec![1.0; candidates.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conforms() {
        kiln_core::testing::check_ensembler(|| Box::new(SoftVote));
    }

    #[test]
    fn averages_the_probabilities() {
        let a = Predictions::new(2, vec![0.9, 0.1, 0.2, 0.8]).expect("p");
        let b = Predictions::new(2, vec![0.3, 0.7, 0.6, 0.4]).expect("p");
        let w = SoftVote.fit(&[a.clone(), b.clone()], &[0, 1]).expect("fit");
        let m = SoftVote.combine(&[&a, &b], &w).expect("combine");
        let want = [0.6, 0.4, 0.4, 0.6];
        assert!(m.probs.iter().zip(want).all(|(p, q)| (p - q).abs() < 1e-6));
    }
}
