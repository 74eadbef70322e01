use crate::{Error, Result};

/// Class probabilities of one model on a set of images.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// Classes per row.
    pub num_classes: usize,
    /// `rows * num_classes` probabilities, row after row; each row sums to 1.
    pub probs: Vec<f32>,
}

impl Predictions {
    /// Checked predictions.
    pub fn new(num_classes: usize, probs: Vec<f32>) -> Result<Self> {
        if num_classes == 0 || !probs.len().is_multiple_of(num_classes) {
            return Err(Error::Training(format!(
                "{} probabilities do not form rows of {num_classes} classes",
                probs.len()
            )));
        }
        Ok(Predictions { num_classes, probs })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.probs.len() / self.num_classes.max(1)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.probs.is_empty()
    }

    /// The most probable class of each row.
    pub fn argmax(&self) -> Vec<u32> {
        self.probs
            .chunks(self.num_classes)
            .map(|row| {
                let mut best = 0;
                for (i, p) in row.iter().enumerate() {
                    if *p > row[best] {
                        best = i;
                    }
                }
                best as u32
            })
            .collect()
    }

    /// Fraction of rows whose most probable class is the label.
    pub fn accuracy(&self, labels: &[u32]) -> f64 {
        if labels.is_empty() {
            return 0.0;
        }
        let hits = self
            .argmax()
            .iter()
            .zip(labels)
            .filter(|(a, b)| a == b)
            .count();
        hits as f64 / labels.len() as f64
    }

    /// Mean negative log-likelihood of the labels (probabilities floored at 1e-7, so a
    /// confident mistake costs about 16 rather than infinity).
    pub fn nll(&self, labels: &[u32]) -> f64 {
        if labels.is_empty() {
            return 0.0;
        }
        let total: f64 = self
            .probs
            .chunks(self.num_classes)
            .zip(labels)
            .map(|(row, &y)| {
                let p = row.get(y as usize).copied().unwrap_or(0.0);
                -f64::from(p).max(1e-7).ln()
            })
            .sum();
        total / labels.len() as f64
    }

    /// Checks that every member has the shape of the first: an error, not a panic.
    pub fn check_alike(members: &[&Predictions]) -> Result<()> {
        let first = members
            .first()
            .ok_or_else(|| Error::Training("an ensemble needs at least one member".into()))?;
        for m in members {
            if m.num_classes != first.num_classes || m.probs.len() != first.probs.len() {
                return Err(Error::Training(format!(
                    "ensemble members disagree: {} rows × {} classes vs {} rows × {} classes",
                    first.len(),
                    first.num_classes,
                    m.len(),
                    m.num_classes
                )));
            }
        }
        Ok(())
    }

    /// `Σ wᵢ·membersᵢ / Σ wᵢ`: the weighted mean of the members' probabilities.
    pub fn weighted_mean(members: &[&Predictions], weights: &[f64]) -> Result<Predictions> {
        Predictions::check_alike(members)?;
        check_weights(members.len(), weights)?;
        let total: f64 = weights.iter().sum();
        let mut acc = vec![0f64; members[0].probs.len()];
        for (m, w) in members.iter().zip(weights) {
            if *w == 0.0 {
                continue;
            }
            for (a, p) in acc.iter_mut().zip(&m.probs) {
                *a += w * f64::from(*p);
            }
        }
        Predictions::new(
            members[0].num_classes,
            acc.into_iter().map(|a| (a / total) as f32).collect(),
        )
    }
}

/// Checks one finite, non-negative weight per member with a positive sum.
pub fn check_weights(members: usize, weights: &[f64]) -> Result<()> {
    if weights.len() != members {
        return Err(Error::Training(format!(
            "{} weights for {members} ensemble members",
            weights.len()
        )));
    }
    if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || weights.iter().sum::<f64>() <= 0.0 {
        return Err(Error::Training(format!(
            "ensemble weights must be finite, non-negative and not all 0, got {weights:?}"
        )));
    }
    Ok(())
}

/// Combines several models' predictions into one.
///
/// An ensembler is fitted once on the candidates' validation predictions, which gives one
/// weight per candidate (0 leaves it out); the weights are stored with the stage's output
/// and the same `combine` is applied to the members' test predictions. Selection schemes
/// (greedy forward selection) and fitted weights are both just weights.
///
/// # Contract
/// - `fit` returns one finite weight `≥ 0` per candidate, not all 0, deterministically
///   (a seeded ensembler draws from its build seed only).
/// - `combine` returns rows that sum to 1, as many as each member has; with one member
///   (or every other at weight 0) the predicted classes are that member's.
/// - Members with different row or class counts, or weights that do not match them, are an
///   error, not a panic.
/// - `Send + Sync`.
pub trait Ensembler: Send + Sync {
    /// One weight per candidate, fitted on validation predictions and labels.
    fn fit(&self, candidates: &[Predictions], labels: &[u32]) -> Result<Vec<f64>>;

    /// Combines the members' predictions with their weights. The default is the weighted
    /// mean of the probabilities (a soft vote).
    fn combine(&self, members: &[&Predictions], weights: &[f64]) -> Result<Predictions> {
        Predictions::weighted_mean(members, weights)
    }
}
