//! The training loop: epochs over shuffled batches, augmentation, a scheduled learning
//! rate, per-epoch validation, the best checkpoint kept.

use crate::config::{Objective, Recipe};
use burn::Tensor;
use burn::prelude::{Device, Int, TensorData};
use kiln_core::{
    Augmenter, Error, ImageSet, Predictions, Result, Rng, ScheduleContext, Scheduler,
    TrainableModel,
};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// One epoch's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Wall time of the epoch, validation included.
    pub seconds: f64,
}

impl EpochReport {
    /// The objective's value this epoch.
    pub fn value(&self, objective: Objective) -> f64 {
        match objective {
            Objective::ValAccuracy => self.val_accuracy,
            Objective::ValLoss => self.val_loss,
            // Not reported per epoch (the pipeline refuses them as the first objective).
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

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct TrainOutcome {
    /// Every epoch run.
    pub epochs: Vec<EpochReport>,
    /// The epoch with the best objective.
    pub best_epoch: usize,
    /// The best objective value.
    pub best_value: f64,
    /// Why training stopped early, if it did.
    pub stopped: Option<String>,
    /// The model's size.
    pub num_params: usize,
}

/// One training run's inputs.
pub struct TrainRequest<'a> {
    /// Training images.
    pub train: &'a ImageSet,
    /// Validation images.
    pub valid: &'a ImageSet,
    /// Model, optimiser and trainer settings.
    pub recipe: &'a Recipe,
    /// Epochs to run.
    pub epochs: usize,
    /// Data order and augmentation derive from it.
    pub seed: u64,
    /// Augmenters for training batches.
    pub augmenters: &'a [Box<dyn Augmenter>],
    /// Where to keep the best epoch's weights.
    pub checkpoint: Option<PathBuf>,
}

/// Images at `indices` as tensors on `device`.
pub fn batch(set: &ImageSet, indices: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let s = set.shape;
    let mut pixels = Vec::with_capacity(indices.len() * s.len());
    let mut labels = Vec::with_capacity(indices.len());
    for &i in indices {
        pixels.extend_from_slice(set.image(i));
        labels.push(i64::from(set.labels.get(i).copied().unwrap_or(0)));
    }
    let n = indices.len();
    (
        Tensor::from_data(
            TensorData::new(pixels, [n, s.channels, s.height, s.width]),
            device,
        ),
        Tensor::from_data(TensorData::new(labels, [n]), device),
    )
}

/// Mean loss and accuracy of `model` on `set`.
pub fn evaluate(
    model: &dyn TrainableModel,
    set: &ImageSet,
    batch_size: usize,
) -> Result<(f64, f64)> {
    let device = model.device().clone().inner();
    let (mut loss, mut correct) = (0.0, 0usize);
    let all: Vec<usize> = (0..set.len()).collect();
    for chunk in all.chunks(batch_size.max(1)) {
        let (x, y) = batch(set, chunk, &device);
        let s = model.eval_batch(x, y)?;
        loss += s.loss * s.count as f64;
        correct += s.correct;
    }
    let n = set.len().max(1) as f64;
    Ok((loss / n, correct as f64 / n))
}

/// Class probabilities of `model` on `set`.
pub fn predict(
    model: &dyn TrainableModel,
    set: &ImageSet,
    batch_size: usize,
    classes: usize,
) -> Result<Predictions> {
    let device = model.device().clone().inner();
    let mut probs = Vec::with_capacity(set.len() * classes);
    let all: Vec<usize> = (0..set.len()).collect();
    for chunk in all.chunks(batch_size.max(1)) {
        let (x, _) = batch(set, chunk, &device);
        let p = model.predict_proba(x)?;
        let v: Vec<f32> = p
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| Error::Training(format!("reading probabilities: {e:?}")))?;
        probs.extend(v);
    }
    Predictions::new(classes, probs)
}

/// Trains `model` for `req.epochs`, calling `on_epoch` after each; keeps the best epoch's
/// checkpoint. A non-finite training loss is an error ("diverged").
pub fn train(
    model: &mut dyn TrainableModel,
    scheduler: &mut dyn Scheduler,
    req: &TrainRequest<'_>,
    on_epoch: &mut dyn FnMut(&EpochReport) -> Result<Control>,
) -> Result<TrainOutcome> {
    let t = &req.recipe.trainer;
    let n = req.train.len();
    let steps_per_epoch = n.div_ceil(t.batch_size);
    scheduler.start(&ScheduleContext {
        base_lr: req.recipe.optimizer.lr,
        steps_per_epoch,
        epochs: req.epochs,
    })?;
    let device = model.device().clone();
    let direction = t.objective.direction();
    let mut out = TrainOutcome {
        epochs: Vec::new(),
        best_epoch: 0,
        best_value: f64::NAN,
        stopped: None,
        num_params: model.num_params(),
    };
    for epoch in 0..req.epochs {
        let started = Instant::now();
        let mut order: Vec<usize> = (0..n).collect();
        Rng::derive(req.seed, &[0x5EED, epoch as u64]).shuffle(&mut order);
        let (mut loss_sum, mut correct, mut seen, mut lr) = (0.0, 0usize, 0usize, 0.0);
        for (b, chunk) in order.chunks(t.batch_size).enumerate() {
            let (mut x, y) = batch(req.train, chunk, &device);
            let mut rng = Rng::derive(req.seed, &[0xA06, epoch as u64, b as u64]);
            for aug in req.augmenters {
                x = aug.augment(x, &mut rng)?;
            }
            lr = scheduler.step();
            let s = model.train_step(x, y, lr)?;
            if !s.loss.is_finite() {
                return Err(Error::Training(format!(
                    "diverged: training loss is {} at epoch {epoch}, batch {b} (learning rate {lr:.3e})",
                    s.loss
                )));
            }
            loss_sum += s.loss * s.count as f64;
            correct += s.correct;
            seen += s.count;
        }
        let (val_loss, val_accuracy) = evaluate(model, req.valid, t.eval_batch_size)?;
        scheduler.end_epoch(
            epoch,
            &kiln_core::EpochMetrics {
                val_loss,
                val_accuracy,
            },
        );
        let report = EpochReport {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            val_loss,
            val_accuracy,
            lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        let value = report.value(t.objective);
        if out.best_value.is_nan() || direction.better(value, out.best_value) {
            out.best_value = value;
            out.best_epoch = epoch;
            if let Some(path) = &req.checkpoint {
                model.save(path)?;
            }
        }
        out.epochs.push(report.clone());
        if let Control::Stop(reason) = on_epoch(&report)? {
            out.stopped = Some(reason);
            break;
        }
    }
    Ok(out)
}
