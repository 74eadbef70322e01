use super::OptimizerConfig;
use crate::{DataSpec, Result};
use burn::Tensor;
use burn::prelude::{Device, Int};
use std::path::Path;

/// What a factory builds for: the data's shape and classes.
pub type ModelSpec = DataSpec;

/// Loss and accuracy counts of one training step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepStats {
    /// Mean loss over the batch.
    pub loss: f64,
    /// Correct predictions in the batch.
    pub correct: usize,
    /// Samples in the batch.
    pub count: usize,
}

/// Summed loss and accuracy counts of evaluation batches.
pub type EvalStats = StepStats;

/// A network ready for training: module, optimiser state and device together.
///
/// # Contract
/// - `train_step` runs forward, backward and one optimiser step at learning rate `lr` on
///   an autodiff device, and returns the batch's mean loss and correct count. A non-finite
///   loss is returned as is (the trainer decides what it means), never a panic.
/// - `eval_batch` and `predict_proba` run on the validation form of the module (no graph is
///   kept, dropout off, batch norm uses running statistics); they do not change the model.
/// - `save` writes a safetensors file atomically (a temporary file renamed into place);
///   `load` reads one written by `save` of the same architecture and reports a missing,
///   corrupt or mismatched file as [`crate::Error::Checkpoint`].
/// - `train_step_soft` is `train_step` against probability rows instead of class indices;
///   the default refuses with an error.
/// - `probe` and `weights` are for network-health probes; they do not change the model.
/// - `fold_average` and `swap_average` keep a weight average beside the model for
///   `trainer.average`; a model that does not keep one refuses both with an error.
/// - Thread safety: `Send`; one model is used by one thread at a time.
pub trait TrainableModel: Send {
    /// One optimisation step on a batch.
    fn train_step(
        &mut self,
        images: Tensor<4>,
        labels: Tensor<1, Int>,
        lr: f64,
    ) -> Result<StepStats>;
    /// Loss and correct count on a batch, without training.
    fn eval_batch(&self, images: Tensor<4>, labels: Tensor<1, Int>) -> Result<EvalStats>;
    /// Class probabilities `[batch, classes]`.
    fn predict_proba(&self, images: Tensor<4>) -> Result<Tensor<2>>;
    /// Number of trainable scalars.
    fn num_params(&self) -> usize;
    /// The device the model lives on (an autodiff device).
    fn device(&self) -> &Device;
    /// Writes a checkpoint.
    fn save(&self, path: &Path) -> Result<()>;
    /// Replaces the weights by a checkpoint's.
    fn load(&mut self, path: &Path) -> Result<()>;

    /// One optimisation step on soft targets `[batch, classes]` (rows summing to 1, as a
    /// label-mixing augmenter makes them): the loss is the cross-entropy against the rows, a
    /// sample counts as correct when its predicted class is its target's largest entry. The
    /// default refuses, so a model that cannot train this way says so instead of ignoring
    /// the mixed labels.
    fn train_step_soft(
        &mut self,
        _images: Tensor<4>,
        _targets: Tensor<2>,
        _lr: f64,
    ) -> Result<StepStats> {
        Err(crate::Error::Training(
            "this model does not train on soft targets, which mixup and cutmix produce".into(),
        ))
    }

    /// Health of every hidden layer on a probe batch (validation form, no graph kept), with
    /// `bins` histogram bins. The default shows no layer.
    fn probe(&self, _images: Tensor<4>, _bins: usize) -> Result<Vec<crate::LayerHealth>> {
        Ok(Vec::new())
    }

    /// Whether a training step draws random numbers from the device's generator (dropout).
    /// The trainer then seeds the generator for each step, under a lock, so concurrent
    /// trials stay deterministic; the default says yes.
    fn draws_randomly(&self) -> bool {
        true
    }

    /// Folds the current weights (and buffers such as batch-norm running statistics) into
    /// the average kept beside the model: `avg ← decay·avg + (1 − decay)·w`; the first fold
    /// copies `w`. The model's own weights are unchanged.
    fn fold_average(&mut self, _decay: f64) -> Result<()> {
        Err(crate::Error::Training(
            "this model keeps no weight average, which trainer.average needs".into(),
        ))
    }

    /// Exchanges the model's weights with the average, so evaluation and `save` see the
    /// average; a second call swaps back (optimiser state is untouched). An error before
    /// any fold.
    fn swap_average(&mut self) -> Result<()> {
        Err(crate::Error::Training(
            "this model keeps no weight average, which trainer.average needs".into(),
        ))
    }

    /// Every float parameter tensor, flattened, by its path in the module: what the
    /// update/weight ratio is measured on. The default shows none.
    fn weights(&self) -> Result<Vec<(String, Vec<f32>)>> {
        Ok(Vec::new())
    }
}

/// Builds a network for the data from the plugin's (hyper)parameters.
///
/// # Contract
/// - The factory is built by the registry from the plugin's parameters merged with the
///   trial's `model.*` suggestions; invalid values are rejected there, naming the key.
/// - `build` initialises weights from the device's seeded generator: the trainer seeds it
///   (under a lock, since Burn's CPU generator is process-wide) so the same seed gives the
///   same initial weights.
/// - Thread safety: `Send + Sync`.
pub trait ModelFactory: Send + Sync {
    /// A fresh network with optimiser state on `device` (an autodiff device).
    fn build(
        &self,
        spec: &ModelSpec,
        optimizer: &OptimizerConfig,
        device: &Device,
    ) -> Result<Box<dyn TrainableModel>>;
}
