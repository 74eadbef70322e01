use crate::{Direction, OptimizerConfig, PluginSpec};
use serde::{Deserialize, Serialize};

/// What a run is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Validation accuracy, maximised.
    #[default]
    ValAccuracy,
    /// Validation loss, minimised.
    ValLoss,
    /// Trainable parameters, minimised (a multi-objective companion).
    NumParams,
    /// Training wall time in seconds, minimised (a multi-objective companion).
    TrainSeconds,
}

impl Objective {
    /// The study direction.
    pub fn direction(self) -> Direction {
        match self {
            Objective::ValAccuracy => Direction::Maximize,
            Objective::ValLoss | Objective::NumParams | Objective::TrainSeconds => {
                Direction::Minimize
            }
        }
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Objective::ValAccuracy => "val_accuracy",
            Objective::ValLoss => "val_loss",
            Objective::NumParams => "num_params",
            Objective::TrainSeconds => "train_seconds",
        }
    }

    /// Whether the trainer reports it every epoch (what pruners and checkpoints use).
    pub fn per_epoch(self) -> bool {
        matches!(self, Objective::ValAccuracy | Objective::ValLoss)
    }
}

/// How runs train (searchable as `trainer.<field>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainerConfig {
    /// Training batch size.
    pub batch_size: usize,
    /// Epochs per run unless a stage or strategy says otherwise.
    pub epochs: usize,
    /// What runs are judged and checkpoints chosen by.
    pub objective: Objective,
    /// Batch size for evaluation (no gradients, so larger).
    pub eval_batch_size: usize,
    /// Network-health probes every epoch (histograms, dead units, update/weight ratios).
    pub probes: bool,
    /// Validation images in the fixed probe batch.
    pub probe_samples: usize,
    /// A batch loss above this multiple of the run's first batch loss (taken as at least 1)
    /// ends the run as diverged (as does a NaN or infinite loss); 0 turns the surge check off.
    pub diverge_factor: f64,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            batch_size: 64,
            epochs: 5,
            objective: Objective::ValAccuracy,
            eval_batch_size: 500,
            probes: false,
            probe_samples: 256,
            diverge_factor: 20.0,
        }
    }
}

/// Everything one training run needs: the pipeline's base config with the locks of
/// earlier stages and a trial's (or stage's) parameters merged in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recipe {
    /// The model plugin with its hyperparameters.
    pub model: PluginSpec,
    /// The optimiser.
    pub optimizer: OptimizerConfig,
    /// The scheduler plugin.
    pub scheduler: PluginSpec,
    /// Training settings.
    pub trainer: TrainerConfig,
    /// Augmenters of training batches, in order (searchable as `augment.<kind>.<param>`).
    pub augment: Vec<PluginSpec>,
}
