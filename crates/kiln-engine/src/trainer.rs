//! The training loop: epochs over shuffled batches, augmentation, a scheduled learning
//! rate, per-epoch validation and probes, early stopping, and the checkpoints a run keeps.
//!
//! Every stage and every tune trial trains through [`train`], so they get the same numbers.

use crate::error::{EngineError, Result};
use kiln_core::train::{
    CheckpointPolicy, CheckpointRecord, Control, EarlyStopping, EpochHealth, EpochReport,
    StopReason, TrainOutcome,
};
use kiln_core::{
    Augmenter, Batch, Error, ImageSet, Predictions, Recipe, Rng, ScheduleContext, Scheduler,
    Targets, TrainableModel, UpdateRatio, WeightAverage,
};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Histogram bins of the pre-activation probes.
const PROBE_BINS: usize = 30;

/// One training run's inputs, resolved.
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
    /// Number of classes (what label-mixing augmenters make probability rows of).
    pub classes: usize,
    /// Checkpoints to keep, in the folder given; paths in the outcome are relative to
    /// `run_dir`.
    pub checkpoints: Option<(PathBuf, CheckpointPolicy)>,
    /// Paths in the outcome are relative to it.
    pub run_dir: &'a Path,
    /// Early stopping.
    pub early_stopping: Option<EarlyStopping>,
    /// A saved scheduler state to continue from (after `start`).
    pub scheduler_state: Option<serde_json::Value>,
    /// Wall time after which no new batch starts.
    pub time_limit: Option<std::time::Duration>,
    /// Resident bytes of the process past which no new batch starts.
    pub memory_limit: Option<u64>,
}

/// Mean loss and accuracy of `model` on `set`.
pub fn evaluate(
    model: &dyn TrainableModel,
    set: &ImageSet,
    batch_size: usize,
) -> kiln_core::Result<(f64, f64)> {
    let device = model.device().clone().inner();
    let (mut loss, mut correct) = (0.0, 0usize);
    let all: Vec<usize> = (0..set.len()).collect();
    for chunk in all.chunks(batch_size.max(1)) {
        let (x, y) = set.batch(chunk, &device);
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
) -> kiln_core::Result<Predictions> {
    let device = model.device().clone().inner();
    let mut probs = Vec::with_capacity(set.len() * classes);
    let all: Vec<usize> = (0..set.len()).collect();
    for chunk in all.chunks(batch_size.max(1)) {
        let (x, _) = set.batch(chunk, &device);
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

/// ‖a − b‖ / ‖a‖ for every tensor present in both (matched by name).
fn update_ratios(before: &[(String, Vec<f32>)], after: &[(String, Vec<f32>)]) -> Vec<UpdateRatio> {
    after
        .iter()
        .filter_map(|(name, w)| {
            let (_, old) = before.iter().find(|(n, _)| n == name)?;
            let (mut dd, mut ww) = (0.0f64, 0.0f64);
            for (a, b) in w.iter().zip(old) {
                let d = f64::from(a - b);
                dd += d * d;
                ww += f64::from(*a) * f64::from(*a);
            }
            let norm = ww.sqrt();
            Some(UpdateRatio {
                param: name.clone(),
                ratio: if norm > 0.0 { dd.sqrt() / norm } else { 0.0 },
                weight_norm: norm,
            })
        })
        .collect()
}

/// The checkpoints a run keeps, by the policy.
struct Keeper<'a> {
    dir: PathBuf,
    policy: CheckpointPolicy,
    run_dir: &'a Path,
    best: Vec<CheckpointRecord>,
    periodic: Vec<CheckpointRecord>,
}

impl Keeper<'_> {
    fn file(&self, epoch: usize) -> PathBuf {
        if self.policy.keep_best <= 1 && self.policy.every.is_none() {
            self.dir.join(format!("{}.safetensors", self.policy.label))
        } else {
            self.dir.join(format!(
                "{}-epoch-{:03}.safetensors",
                self.policy.label,
                epoch + 1
            ))
        }
    }

    fn save(
        &self,
        model: &dyn TrainableModel,
        scheduler: &dyn Scheduler,
        r: &EpochReport,
        value: f64,
        periodic: bool,
    ) -> Result<CheckpointRecord> {
        let path = self.file(r.epoch);
        model.save(&path)?;
        // The scheduler's state and the numbers beside the weights, so a run can continue
        // on the same schedule and a reader sees what the checkpoint was worth.
        let state = serde_json::json!({
            "sha256": crate::checkpoint::file_sha256(&path)?,
            "epoch": r.epoch,
            "value": value,
            "val_accuracy": r.val_accuracy,
            "val_loss": r.val_loss,
            "lr": r.lr,
            "scheduler_state": scheduler.state(),
        });
        crate::context::write_json_atomic(&path.with_extension("state.json"), &state)?;
        Ok(CheckpointRecord {
            epoch: r.epoch,
            path: path
                .strip_prefix(self.run_dir)
                .unwrap_or(&path)
                .to_path_buf(),
            value,
            val_accuracy: r.val_accuracy,
            val_loss: r.val_loss,
            periodic,
        })
    }

    fn remove(&self, record: &CheckpointRecord) {
        if self.periodic.iter().any(|p| p.path == record.path)
            || self.best.iter().any(|b| b.path == record.path)
        {
            return;
        }
        let path = self.run_dir.join(&record.path);
        // A stale file is harmless: nothing refers to it once it left the records.
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(path.with_extension("state.json"));
    }

    /// Keeps epoch `r` if it is among the best so far or periodic.
    fn offer(
        &mut self,
        model: &dyn TrainableModel,
        scheduler: &dyn Scheduler,
        r: &EpochReport,
        value: f64,
        direction: kiln_core::Direction,
    ) -> Result<()> {
        let k = self.policy.keep_best.max(1);
        let rank = self
            .best
            .iter()
            .position(|b| direction.better(value, b.value))
            .unwrap_or(self.best.len());
        let among_best = value.is_finite() && rank < k;
        let periodic = self
            .policy
            .every
            .is_some_and(|n| n > 0 && (r.epoch + 1).is_multiple_of(n));
        if !among_best && !periodic {
            return Ok(());
        }
        let record = self.save(model, scheduler, r, value, false)?;
        if periodic {
            self.periodic.push(CheckpointRecord {
                periodic: true,
                ..record.clone()
            });
        }
        if among_best {
            if k == 1 && self.policy.every.is_none() {
                self.best.clear();
            }
            self.best.insert(rank, record);
            while self.best.len() > k {
                if let Some(evicted) = self.best.pop() {
                    self.remove(&evicted);
                }
            }
        }
        Ok(())
    }

    fn records(self) -> Vec<CheckpointRecord> {
        let mut out = self.best;
        for p in self.periodic {
            if !out.iter().any(|b| b.path == p.path) {
                out.push(p);
            }
        }
        out
    }
}

/// Trains `model` for `req.epochs`, calling `on_epoch` after each. A non-finite training
/// loss stops the run as diverged (the epochs before it stand).
pub fn train(
    model: &mut dyn TrainableModel,
    scheduler: &mut dyn Scheduler,
    req: &TrainRequest<'_>,
    on_epoch: &mut dyn FnMut(&EpochReport) -> kiln_core::Result<Control>,
) -> Result<TrainOutcome> {
    let t = &req.recipe.trainer;
    let n = req.train.len();
    let steps_per_epoch = n.div_ceil(t.batch_size);
    scheduler.start(&ScheduleContext {
        base_lr: req.recipe.optimizer.lr,
        steps_per_epoch,
        epochs: req.epochs,
    })?;
    if let Some(state) = &req.scheduler_state {
        scheduler.load_state(state)?;
    }
    let device = model.device().clone();
    let direction = t.objective.direction();
    let mut keeper = req.checkpoints.as_ref().map(|(dir, policy)| Keeper {
        dir: dir.clone(),
        policy: policy.clone(),
        run_dir: req.run_dir,
        best: Vec::new(),
        periodic: Vec::new(),
    });
    let probe_batch = t.probes.then(|| {
        let k = t.probe_samples.min(req.valid.len());
        let idx: Vec<usize> = (0..k).collect();
        req.valid.batch(&idx, &device.clone().inner()).0
    });
    let mut out = TrainOutcome {
        epochs: Vec::new(),
        best_epoch: 0,
        best_value: f64::NAN,
        stopped: None,
        num_params: model.num_params(),
        checkpoints: Vec::new(),
    };
    let averaging = Averaging::new(t, req.epochs);
    let mut folds = 0usize;
    let run_started = Instant::now();
    let stochastic = model.draws_randomly();
    let mut first_loss = f64::NAN;
    let mut since_improvement = 0usize;
    let mut early_best = f64::NAN;
    'epochs: for epoch in 0..req.epochs {
        let started = Instant::now();
        let mut order: Vec<usize> = (0..n).collect();
        Rng::derive(req.seed, &[0x5EED, epoch as u64]).shuffle(&mut order);
        let (mut loss_sum, mut correct, mut seen, mut lr) = (0.0, 0usize, 0usize, 0.0);
        let mut updates = Vec::new();
        for (b, chunk) in order.chunks(t.batch_size).enumerate() {
            if let Some(limit) = req.time_limit
                && run_started.elapsed() >= limit
            {
                out.stopped = Some(StopReason::TimedOut(format!(
                    "over its time limit of {}s at epoch {}, batch {b}",
                    limit.as_secs_f64(),
                    epoch + 1
                )));
                break 'epochs;
            }
            if let Some(limit) = req.memory_limit
                && let Some(resident) = crate::memory::resident_bytes()
                && resident > limit
            {
                out.stopped = Some(StopReason::OutOfMemory(format!(
                    "out of memory: the process holds {} MiB, over the trial limit of {} MiB, at epoch {}, batch {b}",
                    resident >> 20,
                    limit >> 20,
                    epoch + 1
                )));
                break 'epochs;
            }
            let (images, labels) = req.train.batch(chunk, &device);
            let mut rng = Rng::derive(req.seed, &[0xA06, epoch as u64, b as u64]);
            let batch = Batch {
                images,
                targets: Targets::Labels(labels),
                classes: req.classes,
            };
            let batch = kiln_core::augment_chain(req.augmenters, batch, &mut rng)?;
            lr = scheduler.step();
            let last = b + 1 == steps_per_epoch;
            let before = if last && t.probes {
                model.weights()?
            } else {
                Vec::new()
            };
            // Burn draws dropout masks from the device's process-wide generator, which the
            // other workers' trials draw from too. A model that draws runs each step with
            // the generator seeded for it (under the seeding lock), so its numbers depend
            // on its seed alone; such steps of concurrent trials take turns, which costs
            // most of a second worker's gain (docs/benchmarks.md), so models without
            // dropout skip it.
            let step = || match batch.targets {
                Targets::Labels(y) => model.train_step(batch.images, y, lr),
                Targets::Soft(y) => model.train_step_soft(batch.images, y, lr),
            };
            let s = if stochastic {
                let seed = Rng::derive(req.seed, &[0xD209, epoch as u64, b as u64]).next_u64();
                kiln_core::with_seed(&device, seed, step)?
            } else {
                step()?
            };
            if !s.loss.is_finite() {
                out.stopped = Some(StopReason::Diverged(format!(
                    "diverged: training loss is {} at epoch {}, batch {b} (learning rate {lr:.3e})",
                    s.loss,
                    epoch + 1
                )));
                break 'epochs;
            }
            if first_loss.is_nan() {
                first_loss = s.loss;
            }
            // The floor keeps a fine-tuning run, whose first loss is already small, from calling
            // an ordinary bad batch a divergence.
            if t.diverge_factor > 0.0 && s.loss > t.diverge_factor * first_loss.max(1.0) {
                out.stopped = Some(StopReason::Diverged(format!(
                    "diverged: training loss surged to {:.4e} at epoch {}, batch {b}, over {}× the first batch's {first_loss:.4} (learning rate {lr:.3e})",
                    s.loss,
                    epoch + 1,
                    t.diverge_factor
                )));
                break 'epochs;
            }
            if last && t.probes {
                updates = update_ratios(&before, &model.weights()?);
            }
            if let Averaging::Ema(decay) = averaging {
                // TensorFlow's warm-up: with few steps so far, a high decay would keep the
                // average at the initial weights.
                let k = folds as f64;
                model.fold_average(decay.min((1.0 + k) / (10.0 + k)))?;
                folds += 1;
            }
            loss_sum += s.loss * s.count as f64;
            correct += s.correct;
            seen += s.count;
        }
        if let Averaging::Swa(first) = averaging
            && epoch >= first
        {
            // An equal-weight mean of the epoch-end weights: the n-th fold keeps n/(n+1).
            model.fold_average(folds as f64 / (folds as f64 + 1.0))?;
            folds += 1;
        }
        let train_accuracy = correct as f64 / seen.max(1) as f64;
        // Probes look at the weights the optimiser trains, averaged or not.
        let layers = match &probe_batch {
            Some(x) => Some(model.probe(x.clone(), PROBE_BINS)?),
            None => None,
        };
        let swapped = folds > 0;
        let raw_val_accuracy = if swapped {
            let raw = evaluate(model, req.valid, t.eval_batch_size)?.1;
            model.swap_average()?;
            Some(raw)
        } else {
            None
        };
        // From here to the swap back the model holds the average: what is validated,
        // checkpointed and handed on.
        let scored = score_epoch(
            model,
            scheduler,
            req,
            keeper.as_mut(),
            EpochReport {
                epoch,
                train_loss: loss_sum / seen.max(1) as f64,
                train_accuracy,
                val_loss: f64::NAN,
                val_accuracy: f64::NAN,
                raw_val_accuracy,
                lr,
                seconds: 0.0,
                health: None,
            },
        );
        if swapped {
            model.swap_average()?;
        }
        let mut report = scored?;
        report.health = layers.map(|layers| EpochHealth {
            layers,
            updates,
            train_val_gap: train_accuracy - report.val_accuracy,
        });
        report.seconds = started.elapsed().as_secs_f64();
        let value = report.value(t.objective);
        if value.is_finite() && (out.best_value.is_nan() || direction.better(value, out.best_value))
        {
            out.best_value = value;
            out.best_epoch = epoch;
        }
        out.epochs.push(report.clone());
        if let Control::Stop(reason) = on_epoch(&report)? {
            out.stopped = Some(StopReason::Pruned(reason));
            break;
        }
        if let Some(es) = req.early_stopping.filter(|_| epoch + 1 < req.epochs) {
            let improved = early_best.is_nan()
                || match direction {
                    kiln_core::Direction::Maximize => value > early_best + es.min_delta,
                    kiln_core::Direction::Minimize => value < early_best - es.min_delta,
                };
            if improved {
                early_best = value;
                since_improvement = 0;
            } else {
                since_improvement += 1;
                if since_improvement >= es.patience.max(1) {
                    out.stopped = Some(StopReason::EarlyStopped(format!(
                        "no improvement of {} by more than {} for {} epoch(s)",
                        t.objective.name(),
                        es.min_delta,
                        since_improvement
                    )));
                    break;
                }
            }
        }
    }
    out.checkpoints = keeper.map(Keeper::records).unwrap_or_default();
    if folds > 0 {
        // The run's model is its average, as its checkpoints are.
        model.swap_average()?;
    }
    Ok(out)
}

/// What `trainer.average` asks of a run, resolved for its length.
#[derive(Clone, Copy)]
enum Averaging {
    None,
    /// Fold after every step with this decay.
    Ema(f64),
    /// Fold each epoch's final weights from this 0-based epoch on.
    Swa(usize),
}

impl Averaging {
    fn new(t: &kiln_core::TrainerConfig, epochs: usize) -> Self {
        match t.average {
            WeightAverage::None => Averaging::None,
            WeightAverage::Ema => Averaging::Ema(t.ema_decay),
            WeightAverage::Swa => Averaging::Swa(t.swa_first_epoch(epochs)),
        }
    }
}

/// Validates the model as it stands (the average, when one is swapped in), tells the
/// scheduler, and offers the epoch to the checkpoint keeper.
fn score_epoch(
    model: &mut dyn TrainableModel,
    scheduler: &mut dyn Scheduler,
    req: &TrainRequest<'_>,
    keeper: Option<&mut Keeper<'_>>,
    mut report: EpochReport,
) -> Result<EpochReport> {
    let t = &req.recipe.trainer;
    let (val_loss, val_accuracy) = evaluate(model, req.valid, t.eval_batch_size)?;
    report.val_loss = val_loss;
    report.val_accuracy = val_accuracy;
    scheduler.end_epoch(
        report.epoch,
        &kiln_core::EpochMetrics {
            val_loss,
            val_accuracy,
        },
    );
    if let Some(k) = keeper {
        let value = report.value(t.objective);
        k.offer(model, scheduler, &report, value, t.objective.direction())?;
    }
    Ok(report)
}

/// The error for a run that produced no usable epoch.
pub fn no_epoch(stage: &str, out: &TrainOutcome) -> EngineError {
    EngineError::Core(Error::Training(format!(
        "stage `{stage}`: no epoch finished{}",
        out.stopped
            .as_ref()
            .map(|s| format!(" ({})", s.message()))
            .unwrap_or_default()
    )))
}
