use super::Recipe;
use crate::ImageSet;
use std::path::PathBuf;

/// Stop when the objective has not improved by `min_delta` for `patience` epochs.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// The least change that counts as an improvement (absolute).
    #[serde(default)]
    pub min_delta: f64,
}

/// Which checkpoints a run keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointPolicy {
    /// File names start with it (`<label>.safetensors`, or `<label>-epoch-007.safetensors`).
    pub label: String,
    /// Also keep one every N epochs, whatever its value.
    pub every: Option<usize>,
    /// How many of the best epochs to keep (1: one file, overwritten on improvement).
    pub keep_best: usize,
}

impl CheckpointPolicy {
    /// One file, `<label>.safetensors`, holding the best epoch.
    pub fn best(label: impl Into<String>) -> Self {
        CheckpointPolicy {
            label: label.into(),
            every: None,
            keep_best: 1,
        }
    }
}

/// A training run a stage asks for.
#[derive(Debug, Clone)]
pub struct TrainSpec<'a> {
    /// Model, optimiser, scheduler and trainer settings.
    pub recipe: &'a Recipe,
    /// Epochs to run.
    pub epochs: usize,
    /// Data order, augmentation and initialisation derive from it.
    pub seed: u64,
    /// Training images; the dataset's training split if `None`.
    pub train: Option<&'a ImageSet>,
    /// Validation images; the dataset's validation split if `None`.
    pub valid: Option<&'a ImageSet>,
    /// Checkpoints to keep; none if `None`.
    pub checkpoints: Option<CheckpointPolicy>,
    /// Early stopping; none if `None`.
    pub early_stopping: Option<EarlyStopping>,
    /// Start from these weights (relative to the run directory) instead of a fresh
    /// initialisation (fine-tuning).
    pub init_from: Option<PathBuf>,
    /// With `init_from`: continue the schedule from the scheduler state saved beside the
    /// checkpoint (its `*.state.json`), instead of starting it afresh.
    pub resume_schedule: bool,
    /// Stop the run, as [`crate::train::StopReason::TimedOut`], at the first batch that
    /// starts after this much wall time.
    pub time_limit: Option<std::time::Duration>,
    /// Stop the run, as [`crate::train::StopReason::OutOfMemory`], at the first batch
    /// after which the process's resident memory is over this many bytes.
    pub memory_limit: Option<u64>,
}

impl<'a> TrainSpec<'a> {
    /// A run of `recipe` for `epochs` on the dataset's splits, keeping no checkpoint.
    pub fn new(recipe: &'a Recipe, epochs: usize, seed: u64) -> Self {
        TrainSpec {
            recipe,
            epochs,
            seed,
            train: None,
            valid: None,
            checkpoints: None,
            early_stopping: None,
            init_from: None,
            resume_schedule: false,
            time_limit: None,
            memory_limit: None,
        }
    }
}
