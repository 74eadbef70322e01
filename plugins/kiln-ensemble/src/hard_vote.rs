use kiln_core::{Ensembler, Predictions, Result, check_weights};
use serde::Deserialize;

/// Parameters of [`HardVote`]: none.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardVoteConfig {}

/// Share of each row given to the soft mean, which only breaks ties between classes with
/// the same votes (the most probable on average wins); small enough never to outvote.
const TIE_BREAK: f64 = 1e-3;

/// Hard (majority) voting: each member votes for its most probable class, with its weight;
/// a row is the share of the votes each class got. Ties go to the class with the higher mean
/// probability.
#[derive(Debug, Clone, Default)]
pub struct HardVote;

impl Ensembler for HardVote {
    fn fit(&self, candidates: &[Predictions], _labels: &[u32]) -> Result<Vec<f64>> {
        Predictions::check_alike(&candidates.iter().collect::<Vec<_>>())?;
        Ok(vec![1.0; candidates.len()])
    }

    fn combine(&self, members: &[&Predictions], weights: &[f64]) -> Result<Predictions> {
        let soft = Predictions::weighted_mean(members, weights)?;
        check_weights(members.len(), weights)?;
        let classes = soft.num_classes;
        let total: f64 = weights.iter().sum();
        let mut votes = vec![0f64; soft.probs.len()];
        for (m, w) in members.iter().zip(weights) {
            for (row, class) in m.argmax().into_iter().enumerate() {
                votes[row * classes + class as usize] += w / total;
            }
        }
        let probs = votes
            .iter()
            .zip(&soft.probs)
            .map(|(v, p)| ((1.0 - TIE_BREAK) * v + TIE_BREAK * f64::from(*p)) as f32)
            .collect();
        Predictions::new(classes, probs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conforms() {
        kiln_core::testing::check_ensembler(|| Box::new(HardVote));
    }

    #[test]
    fn the_majority_wins_against_one_confident_member() {
        // Two members lean to class 0, one is sure of class 1: a soft vote says 1, a hard
        // vote 0.
        let lean = Predictions::new(2, vec![0.55, 0.45]).expect("p");
        let sure = Predictions::new(2, vec![0.01, 0.99]).expect("p");
        let m = [&lean, &lean, &sure];
        let w = [1.0; 3];
        assert_eq!(HardVote.combine(&m, &w).expect("hard").argmax(), vec![0]);
        assert_eq!(
            Predictions::weighted_mean(&m, &w).expect("soft").argmax(),
            vec![1]
        );
        // Weight decides: the sure member at weight 3 outvotes the other two.
        let w = [1.0, 1.0, 3.0];
        assert_eq!(HardVote.combine(&m, &w).expect("hard").argmax(), vec![1]);
    }

    #[test]
    fn a_tie_goes_to_the_more_probable_class() {
        let a = Predictions::new(2, vec![0.6, 0.4]).expect("p");
        let b = Predictions::new(2, vec![0.1, 0.9]).expect("p");
        let m = HardVote.combine(&[&a, &b], &[1.0, 1.0]).expect("hard");
        assert_eq!(m.argmax(), vec![1]);
    }
}
