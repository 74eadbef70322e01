use crate::{LayerHealth, UpdateRatio};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::Objective;

/// Network health at the end of one epoch (when probes are on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochHealth {
    /// Every probed hidden layer.
    pub layers: Vec<LayerHealth>,
    /// ‖Δw‖/‖w‖ of every parameter tensor over the epoch's last optimiser step.
    pub updates: Vec<UpdateRatio>,
    /// Training minus validation accuracy.
    pub train_val_gap: f64,
}

impl EpochHealth {
    /// The largest dead-unit fraction of any layer (0 with no layer).
    pub fn max_dead_fraction(&self) -> f64 {
        self.layers
            .iter()
            .map(|l| l.dead_fraction)
            .fold(0.0, f64::max)
    }

    /// The largest update/weight ratio of any tensor (0 with none).
    pub fn max_update_ratio(&self) -> f64 {
        self.updates.iter().map(|u| u.ratio).fold(0.0, f64::max)
    }
}

/// One epoch's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 0-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy (on augmented batches, in training mode).
    pub train_accuracy: f64,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
    /// With `trainer.average`, the validation accuracy of the raw (last-step) weights; the
    /// fields above are then the averaged weights'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_val_accuracy: Option<f64>,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Wall time of the epoch, validation included.
    pub seconds: f64,
    /// Probes, when on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<EpochHealth>,
}

impl EpochReport {
    /// The objective's value this epoch (NaN for objectives not reported per epoch).
    pub fn value(&self, objective: Objective) -> f64 {
        match objective {
            Objective::ValAccuracy => self.val_accuracy,
            Objective::ValLoss => self.val_loss,
            Objective::NumParams | Objective::TrainSeconds => f64::NAN,
        }
    }
}

/// What the caller decides after each epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop here (pruned); the reason is kept.
    Stop(String),
}

/// Why a run ended before its last epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "reason", rename_all = "snake_case")]
pub enum StopReason {
    /// The epoch callback stopped it (a pruner).
    Pruned(String),
    /// Early stopping: no improvement for `patience` epochs.
    EarlyStopped(String),
    /// The training loss became NaN or infinite.
    Diverged(String),
    /// The run was over its time limit.
    TimedOut(String),
    /// The process's memory passed the run's limit (before the kernel's OOM killer would
    /// end the whole process).
    OutOfMemory(String),
}

impl StopReason {
    /// The reason in words.
    pub fn message(&self) -> &str {
        match self {
            StopReason::Pruned(m)
            | StopReason::EarlyStopped(m)
            | StopReason::Diverged(m)
            | StopReason::TimedOut(m)
            | StopReason::OutOfMemory(m) => m,
        }
    }
}

/// A checkpoint written during a run, with the validation numbers it was taken at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    /// 0-based epoch.
    pub epoch: usize,
    /// The safetensors file, relative to the run directory.
    pub path: PathBuf,
    /// The objective's value.
    pub value: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
    /// Validation loss.
    pub val_loss: f64,
    /// Kept because it is periodic (every N epochs) rather than among the best.
    pub periodic: bool,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainOutcome {
    /// Every epoch run.
    pub epochs: Vec<EpochReport>,
    /// The epoch with the best objective.
    pub best_epoch: usize,
    /// The best objective value (NaN if no epoch finished).
    pub best_value: f64,
    /// Why training stopped early, if it did.
    pub stopped: Option<StopReason>,
    /// The model's size.
    pub num_params: usize,
    /// Checkpoints kept on disk, best first (the best is the model the run returns).
    pub checkpoints: Vec<CheckpointRecord>,
}

impl TrainOutcome {
    /// The best epoch's report.
    pub fn best(&self) -> Option<&EpochReport> {
        self.epochs.get(self.best_epoch)
    }

    /// The best checkpoint (what a stage should hand on).
    pub fn best_checkpoint(&self) -> Option<&CheckpointRecord> {
        self.checkpoints.iter().find(|c| !c.periodic)
    }
}
