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
    /// Weight averaging: validation, checkpoints and the model handed on use the average
    /// instead of the last step's weights.
    pub average: WeightAverage,
    /// With `average = "ema"`: the decay `d` of `avg ← d·avg + (1 − d)·w`, folded after every
    /// optimiser step (in (0, 1); early steps use `min(d, (1 + t)/(10 + t))`, so a short run's
    /// average is not its initial weights).
    pub ema_decay: f64,
    /// With `average = "swa"`: the share of the run's epochs after which each epoch's final
    /// weights join an equal-weight average (in [0, 1)).
    pub swa_start: f64,
}

/// How the trainer averages weights over a run.
///
/// Both keep the average beside the model (the optimiser works on the raw weights) and
/// average batch-norm running statistics with the weights, as timm's model EMA does, rather
/// than recomputing them with an extra pass over the training data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WeightAverage {
    /// The last step's weights.
    #[default]
    None,
    /// An exponential moving average over optimiser steps (Polyak averaging).
    Ema,
    /// Stochastic weight averaging (Izmailov et al. 2018): the mean of the epoch-end weights
    /// from `swa_start` on; pair it with a constant or cyclic learning rate.
    Swa,
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
            average: WeightAverage::None,
            ema_decay: 0.999,
            swa_start: 0.75,
        }
    }
}

impl TrainerConfig {
    /// The first out-of-range field, as `(key, message)` with the key under `trainer.`.
    pub fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        for (key, v) in [
            ("trainer.batch_size", self.batch_size),
            ("trainer.epochs", self.epochs),
            ("trainer.eval_batch_size", self.eval_batch_size),
            ("trainer.probe_samples", self.probe_samples),
        ] {
            if v == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        if !(self.diverge_factor >= 0.0 && self.diverge_factor.is_finite()) {
            return Err(("trainer.diverge_factor", "must be >= 0 (0: off)".into()));
        }
        if !(self.ema_decay > 0.0 && self.ema_decay < 1.0) {
            return Err((
                "trainer.ema_decay",
                format!("must be in (0, 1), got {}", self.ema_decay),
            ));
        }
        if !(self.swa_start >= 0.0 && self.swa_start < 1.0) {
            return Err((
                "trainer.swa_start",
                format!("must be in [0, 1), got {}", self.swa_start),
            ));
        }
        Ok(())
    }

    /// With SWA, the first 0-based epoch whose weights join the average in a run of
    /// `epochs` epochs (the last epoch at the latest).
    pub fn swa_first_epoch(&self, epochs: usize) -> usize {
        ((self.swa_start * epochs as f64).floor() as usize).min(epochs.saturating_sub(1))
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
