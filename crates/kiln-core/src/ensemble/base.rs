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
}

/// Combines several models' predictions into one.
///
/// # Contract
/// - `select` chooses members on validation data (`labels` are the validation labels) and
///   returns indices into `members`, at least one, each at most once or repeated for weight.
/// - `combine` returns rows that sum to 1, as many as each member has; with one member it
///   returns that member's predictions.
/// - Members with different row counts or class counts are an error, not a panic.
/// - Deterministic; `Send + Sync`.
pub trait Ensembler: Send + Sync {
    /// Chooses members on validation predictions.
    fn select(&self, members: &[Predictions], _labels: &[u32]) -> Result<Vec<usize>> {
        Ok((0..members.len()).collect())
    }
    /// Combines the chosen members' predictions.
    fn combine(&self, members: &[&Predictions]) -> Result<Predictions>;
}
