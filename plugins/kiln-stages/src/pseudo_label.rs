//! `pseudo_label`: add the unlabelled samples the model is confident about, with the labels
//! it predicts, and train again, for up to `rounds` rounds while validation improves.
//!
//! The pool is the dataset's unlabelled split; with `holdout` set, it is instead a
//! stratified share of the training split with its labels hidden (kept only to measure how
//! accurate the pseudo-labels are), and the baseline is trained on the rest first — the
//! comparison "labelled share alone" against "with pseudo-labels" on the same data.
//!
//! Each round predicts the whole pool with the current model, keeps the samples whose top
//! probability is at least `threshold` (at most `per_class_cap` per predicted class, most
//! confident first), and trains on the labelled set plus those — fine-tuning the current
//! model (`fine_tune = true`, the default) or from scratch. A round that does not improve
//! validation accuracy by more than `min_delta` is discarded and ends the loop; the stage
//! hands on the best model.
//!
//! When the dataset has a test split, the baseline's and the result's test accuracy are
//! recorded too (`baseline_test_accuracy`, `test_accuracy`), so the gain can be read on data
//! that no choice saw; nothing in the stage decides on them.

use crate::common::{describe, params_from};
use kiln_core::train::{CheckpointPolicy, Control, EpochReport, TrainSpec};
use kiln_core::{
    BuildContext, Error, ImageSet, ModelRef, Params, Recipe, Result, Stage, StageContext,
    StageInput, StageOutput,
};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Parameters of the `pseudo_label` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PseudoLabelConfig {
    /// The stage whose model (or, with `holdout`, whose parameters) to start from.
    pub from: Option<String>,
    /// Keep samples whose top class probability is at least this.
    pub threshold: f64,
    /// At most this many pseudo-labels per predicted class in a round.
    pub per_class_cap: Option<usize>,
    /// Rounds at most.
    pub rounds: usize,
    /// Epochs per round (and of the baseline), default the trainer's.
    pub epochs: Option<usize>,
    /// Continue training the current model (else train a fresh one each round).
    pub fine_tune: bool,
    /// Hold out this share of the training split as the unlabelled pool.
    pub holdout: Option<f64>,
    /// The least validation-accuracy gain that keeps a round.
    pub min_delta: f64,
}

impl Default for PseudoLabelConfig {
    fn default() -> Self {
        PseudoLabelConfig {
            from: None,
            threshold: 0.95,
            per_class_cap: None,
            rounds: 3,
            epochs: None,
            fine_tune: true,
            holdout: None,
            min_delta: 0.0,
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PseudoRound {
    /// 1-based round.
    pub round: usize,
    /// Pseudo-labelled samples used.
    pub added: usize,
    /// Of them, per predicted class.
    pub per_class: Vec<usize>,
    /// Share of them whose pseudo-label is right (when the pool's labels are known).
    pub pseudo_label_accuracy: Option<f64>,
    /// Validation accuracy after the round.
    pub val_accuracy: f64,
    /// Kept (it improved validation).
    pub kept: bool,
}

/// The `pseudo_label` stage.
#[derive(Debug, Clone)]
pub struct PseudoLabelStage {
    config: PseudoLabelConfig,
}

impl PseudoLabelStage {
    /// Parses and validates.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let c: PseudoLabelConfig = ctx.parse(params)?;
        let key = &ctx.key;
        if !(c.threshold > 0.0 && c.threshold <= 1.0) {
            return Err(Error::config(
                format!("{key}.threshold"),
                format!("must be in (0, 1], got {}", c.threshold),
            ));
        }
        if c.rounds == 0 || c.epochs == Some(0) || c.per_class_cap == Some(0) {
            return Err(Error::config(
                key,
                "`rounds`, `epochs` and `per_class_cap` must be at least 1",
            ));
        }
        if c.holdout.is_some_and(|h| !(h > 0.0 && h < 1.0)) {
            return Err(Error::config(format!("{key}.holdout"), "must be in (0, 1)"));
        }
        if !(c.min_delta >= 0.0 && c.min_delta.is_finite()) {
            return Err(Error::config(format!("{key}.min_delta"), "must be >= 0"));
        }
        if c.holdout.is_none() && c.from.is_none() {
            return Err(Error::config(
                format!("{key}.from"),
                "name the stage whose model to pseudo-label with (or set `holdout`)",
            ));
        }
        Ok(PseudoLabelStage { config: c })
    }

    /// The samples to add: indices into the pool and their predicted classes.
    fn confident(&self, probs: &kiln_core::Predictions) -> Vec<(usize, u32)> {
        let k = probs.num_classes;
        let mut picked: Vec<(usize, u32, f32)> = probs
            .probs
            .chunks(k)
            .enumerate()
            .filter_map(|(i, row)| {
                let (c, p) = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
                (f64::from(*p) >= self.config.threshold).then_some((i, c as u32, *p))
            })
            .collect();
        if let Some(cap) = self.config.per_class_cap {
            picked.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
            let mut taken = vec![0usize; k];
            picked.retain(|(_, c, _)| {
                let t = &mut taken[*c as usize];
                *t += 1;
                *t <= cap
            });
            picked.sort_by_key(|p| p.0);
        }
        picked.into_iter().map(|(i, c, _)| (i, c)).collect()
    }
}

/// A run of `recipe` on `set`, keeping its best epoch as `label`.
fn round_spec<'a>(
    recipe: &'a Recipe,
    set: &'a ImageSet,
    label: String,
    init: Option<PathBuf>,
    epochs: usize,
    seed: u64,
) -> TrainSpec<'a> {
    TrainSpec {
        train: Some(set),
        checkpoints: Some(CheckpointPolicy::best(label)),
        init_from: init,
        ..TrainSpec::new(recipe, epochs, seed)
    }
}

/// `labelled` followed by `pool[i]` with label `c` for every `(i, c)` in `add`.
fn union(labelled: &ImageSet, pool: &ImageSet, add: &[(usize, u32)]) -> Result<ImageSet> {
    let mut pixels = labelled.pixels.clone();
    let mut labels = labelled.labels.clone();
    for &(i, c) in add {
        pixels.extend_from_slice(pool.image(i));
        labels.push(c);
    }
    ImageSet::new(labelled.shape, pixels, labels)
}

impl Stage for PseudoLabelStage {
    fn reads(&self) -> Vec<StageInput> {
        crate::common::reads_from(self.config.from.as_deref())
    }

    fn run(&self, ctx: &dyn StageContext) -> Result<StageOutput> {
        let c = &self.config;
        let splits = ctx.splits();
        let (labelled, pool) = match c.holdout {
            Some(share) => {
                let (keep, held) = splits.train.split_stratified(share, ctx.seed());
                (keep, held)
            }
            None => {
                let pool = splits.unlabelled.clone().ok_or_else(|| {
                    Error::config(
                        "holdout",
                        "the dataset has no unlabelled split: set `holdout` to hide the labels of a share of the training split",
                    )
                })?;
                (splits.train.clone(), pool)
            }
        };
        let params: Params = params_from(ctx, c.from.as_deref())?;
        let recipe = ctx.recipe(&params)?;
        let epochs = c.epochs.unwrap_or(recipe.trainer.epochs);
        let mut quiet = |_: &EpochReport| -> Result<Control> { Ok(Control::Continue) };
        // The model to start from.
        let mut current: ModelRef = match (c.holdout, &c.from) {
            (None, Some(from)) => ctx
                .output(from)
                .and_then(|o| o.model.clone())
                .ok_or_else(|| Error::Training(format!("stage `{from}` handed on no model")))?,
            _ => {
                ctx.progress(&format!(
                    "baseline: {} labelled images ({} held out as the pool){}",
                    labelled.len(),
                    pool.len(),
                    if params.is_empty() {
                        String::new()
                    } else {
                        format!(" with {}", describe(&params))
                    }
                ));
                let spec = round_spec(
                    &recipe,
                    &labelled,
                    format!("{}-baseline", ctx.name()),
                    None,
                    epochs,
                    ctx.seed(),
                );
                let out = ctx.train(&spec, &mut quiet)?;
                let ck = out.best_checkpoint().cloned().ok_or_else(|| {
                    Error::Training(format!(
                        "stage `{}`: the baseline finished no epoch",
                        ctx.name()
                    ))
                })?;
                ModelRef {
                    params: params.clone(),
                    checkpoint: ck.path,
                    epoch: Some(ck.epoch),
                    trial: None,
                    val_accuracy: Some(ck.val_accuracy),
                    val_loss: Some(ck.val_loss),
                }
            }
        };
        let baseline_ref = current.clone();
        let baseline = match current.val_accuracy {
            Some(a) => a,
            None => {
                let m = ctx.load_model(&current.params, &current.checkpoint)?;
                ctx.evaluate(m.as_ref(), &splits.valid)?.1
            }
        };
        ctx.progress(&format!(
            "baseline val acc {baseline:.4}; pool of {} images",
            pool.len()
        ));
        let (mut best, mut rounds, mut stop) =
            (baseline, Vec::new(), format!("{} rounds done", c.rounds));
        for round in 1..=c.rounds {
            let model = ctx.load_model(&current.params, &current.checkpoint)?;
            let probs = ctx.predict(model.as_ref(), &pool)?;
            let add = self.confident(&probs);
            if add.is_empty() {
                stop = format!("no pool sample reached the threshold {}", c.threshold);
                break;
            }
            let mut per_class = vec![0usize; splits.spec.num_classes];
            for &(_, cls) in &add {
                if let Some(n) = per_class.get_mut(cls as usize) {
                    *n += 1;
                }
            }
            let pseudo_label_accuracy = (!pool.labels.is_empty()).then(|| {
                add.iter()
                    .filter(|(i, cls)| pool.labels.get(*i) == Some(cls))
                    .count() as f64
                    / add.len() as f64
            });
            let set = union(&labelled, &pool, &add)?;
            let init = c.fine_tune.then(|| current.checkpoint.clone());
            let spec = round_spec(
                &recipe,
                &set,
                format!("{}-round-{round}", ctx.name()),
                init,
                epochs,
                ctx.seed() ^ round as u64,
            );
            let out = ctx.train(&spec, &mut quiet)?;
            let Some(ck) = out.best_checkpoint().cloned() else {
                stop = format!("round {round} finished no epoch");
                break;
            };
            let kept = ck.val_accuracy > best + c.min_delta;
            ctx.progress(&format!(
                "round {round}: {} pseudo-labels{}, val acc {:.4} ({})",
                add.len(),
                pseudo_label_accuracy
                    .map(|a| format!(" ({:.1} % right)", a * 100.0))
                    .unwrap_or_default(),
                ck.val_accuracy,
                if kept { "kept" } else { "no better: discarded" }
            ));
            rounds.push(PseudoRound {
                round,
                added: add.len(),
                per_class,
                pseudo_label_accuracy,
                val_accuracy: ck.val_accuracy,
                kept,
            });
            if !kept {
                stop = format!("round {round} did not improve validation accuracy");
                break;
            }
            best = ck.val_accuracy;
            current = ModelRef {
                params: params.clone(),
                checkpoint: ck.path,
                epoch: Some(ck.epoch),
                trial: None,
                val_accuracy: Some(ck.val_accuracy),
                val_loss: Some(ck.val_loss),
            };
        }
        ctx.progress(&format!(
            "stopped: {stop}; val acc {baseline:.4} → {best:.4}"
        ));
        let mut out = StageOutput::new("pseudo_label")
            .metric("val_accuracy", best)
            .metric("baseline_val_accuracy", baseline)
            .metric(
                "rounds_kept",
                rounds.iter().filter(|r| r.kept).count() as f64,
            );
        if let Some(test) = splits.test.as_ref().filter(|t| !t.is_empty()) {
            let accuracy = |m: &ModelRef| -> Result<f64> {
                let model = ctx.load_model(&m.params, &m.checkpoint)?;
                Ok(ctx.evaluate(model.as_ref(), test)?.1)
            };
            out = out
                .metric("baseline_test_accuracy", accuracy(&baseline_ref)?)
                .metric("test_accuracy", accuracy(&current)?);
        }
        out.params = Some(params);
        out.model = Some(current);
        out.details = serde_json::json!({ "stopped": stop, "rounds": rounds, "pool": pool.len(), "labelled": labelled.len() });
        Ok(out)
    }
}
