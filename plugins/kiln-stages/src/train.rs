//! `train`: one longer run from the best parameters of an earlier stage, with early
//! stopping and checkpoints; it hands on the best checkpoint (and the top-k).
//!
//! It also makes ensemble members. `top_k` trains the best k trials of a tune stage and
//! `seeds` trains each of them that many times from its own seed (a multi-run ensemble: the
//! members are each run's best checkpoint); `snapshots` hands on the periodic checkpoints of
//! `checkpoint_every` as members (a snapshot ensemble, with a cosine schedule whose restarts
//! fall on those epochs). The first run keeps the stage's own seed, so a plain `train`
//! stage gives the same numbers with or without these options.

use crate::common::{best_trials, epoch_line, params_of};
use kiln_core::train::{
    CheckpointPolicy, CheckpointRecord, Control, EarlyStopping, EpochReport, TrainOutcome,
    TrainSpec,
};
use kiln_core::{
    BuildContext, Error, ModelRef, Params, Result, Rng, Stage, StageContext, StageInput,
    StageOutput,
};
use serde::Deserialize;

/// Parameters of the `train` stage.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The earlier stage whose parameters to train (a tune stage's best trial, a capacity
    /// sweep's best size); none trains the base config (with earlier locks).
    pub from: Option<String>,
    /// Epochs (default: the trainer's).
    pub epochs: Option<usize>,
    /// Stop after this many epochs without improvement.
    pub patience: Option<usize>,
    /// The least improvement that resets the patience.
    #[serde(default)]
    pub min_delta: f64,
    /// Also keep a checkpoint every N epochs.
    pub checkpoint_every: Option<usize>,
    /// Keep the best K checkpoints (an ensemble can vote across them).
    #[serde(default = "one")]
    pub keep_best: usize,
    /// Fine-tune: start from the model an earlier stage handed on (its architecture
    /// parameters are used unless `from` gives others).
    pub init_from: Option<String>,
    /// With `init_from`: continue that run's learning-rate schedule from its checkpoint.
    #[serde(default)]
    pub resume_schedule: bool,
    /// With `from` a tune stage: train its best `top_k` trials.
    #[serde(default = "one")]
    pub top_k: usize,
    /// Runs per set of parameters, each from its own seed.
    #[serde(default = "one")]
    pub seeds: usize,
    /// Hand on the periodic checkpoints (`checkpoint_every`) as ensemble members too.
    #[serde(default)]
    pub snapshots: bool,
}

fn one() -> usize {
    1
}

/// The `train` stage.
#[derive(Debug, Clone)]
pub struct TrainStage {
    config: TrainConfig,
}

impl TrainStage {
    /// Parses and validates.
    pub fn from_params(params: &serde_json::Value, ctx: &BuildContext) -> Result<Self> {
        let config: TrainConfig = ctx.parse(params)?;
        let key = &ctx.key;
        if config.epochs == Some(0) {
            return Err(Error::config(format!("{key}.epochs"), "must be at least 1"));
        }
        if config.patience == Some(0) {
            return Err(Error::config(
                format!("{key}.patience"),
                "must be at least 1",
            ));
        }
        if config.checkpoint_every == Some(0) {
            return Err(Error::config(
                format!("{key}.checkpoint_every"),
                "must be at least 1",
            ));
        }
        if config.resume_schedule && config.init_from.is_none() {
            return Err(Error::config(
                format!("{key}.resume_schedule"),
                "needs `init_from` (the stage whose checkpoint to continue)",
            ));
        }
        if config.keep_best == 0 {
            return Err(Error::config(
                format!("{key}.keep_best"),
                "must be at least 1",
            ));
        }
        for (field, v) in [("top_k", config.top_k), ("seeds", config.seeds)] {
            if v == 0 {
                return Err(Error::config(
                    format!("{key}.{field}"),
                    "must be at least 1",
                ));
            }
        }
        if config.top_k > 1 && config.from.is_none() {
            return Err(Error::config(
                format!("{key}.top_k"),
                "needs `from` (the tune stage whose best trials to train)",
            ));
        }
        if config.snapshots && config.checkpoint_every.is_none() {
            return Err(Error::config(
                format!("{key}.snapshots"),
                "needs `checkpoint_every` (which epochs are the snapshots)",
            ));
        }
        if !(config.min_delta >= 0.0 && config.min_delta.is_finite()) {
            return Err(Error::config(
                format!("{key}.min_delta"),
                format!("must be >= 0, got {}", config.min_delta),
            ));
        }
        Ok(TrainStage { config })
    }
}

impl Stage for TrainStage {
    fn reads(&self) -> Vec<StageInput> {
        let from = self.config.from.iter().map(|f| ("from", f));
        let init = self.config.init_from.iter().map(|f| ("init_from", f));
        from.chain(init)
            .map(|(key, f)| StageInput::new(key, f, &[]))
            .collect()
    }

    fn run(&self, ctx: &dyn StageContext) -> Result<StageOutput> {
        let c = &self.config;
        let init = match &c.init_from {
            Some(stage) => Some(ctx.output(stage).and_then(|o| o.model.clone()).ok_or_else(
                || Error::Training(format!("stage `{stage}` handed on no model to start from")),
            )?),
            None => None,
        };
        let param_sets: Vec<Params> = match (&c.from, &init) {
            (Some(from), _) if c.top_k > 1 => {
                let trials = best_trials(ctx, from, c.top_k)?;
                if trials.is_empty() {
                    return Err(Error::Training(format!(
                        "stage `{from}` has no complete trial to train"
                    )));
                }
                trials.into_iter().map(|m| m.params).collect()
            }
            (Some(from), _) => vec![params_of(ctx, from)?],
            (None, Some(m)) => vec![m.params.clone()],
            (None, None) => vec![Params::new()],
        };
        let many = param_sets.len() * c.seeds > 1;
        let mut runs: Vec<Run> = Vec::new();
        for (t, params) in param_sets.iter().enumerate() {
            for s in 0..c.seeds {
                let (seed, label) = if t == 0 && s == 0 {
                    (ctx.seed(), ctx.name().to_string())
                } else {
                    (
                        Rng::derive(ctx.seed(), &[t as u64, s as u64]).next_u64(),
                        format!("{}-{}-{}", ctx.name(), t + 1, s + 1),
                    )
                };
                if many {
                    ctx.progress(&format!(
                        "run {}/{}: parameters {} of {}, seed {} of {}",
                        runs.len() + 1,
                        param_sets.len() * c.seeds,
                        t + 1,
                        param_sets.len(),
                        s + 1,
                        c.seeds
                    ));
                }
                runs.push(self.train_one(ctx, params, init.as_ref(), seed, &label, many)?);
            }
        }
        let best = (0..runs.len())
            .reduce(|b, i| {
                if runs[i].best.val_accuracy > runs[b].best.val_accuracy {
                    i
                } else {
                    b
                }
            })
            .unwrap_or(0);
        let run = &runs[best];
        let mut output = StageOutput::new("train")
            .metric("val_accuracy", run.best.val_accuracy)
            .metric("val_loss", run.best.val_loss)
            .metric("best_epoch", run.outcome.best_epoch as f64)
            .metric("epochs_run", run.outcome.epochs.len() as f64)
            .metric("num_params", run.outcome.num_params as f64);
        output.params = Some(run.params.clone());
        output.model = Some(run.model_ref(&run.best));
        for r in &runs {
            let kept = r.outcome.checkpoints.iter().filter(|k| {
                if k.periodic {
                    c.snapshots
                } else {
                    c.keep_best > 1 || k.path == r.best.path
                }
            });
            // A snapshot at the best epoch holds the same weights as the best checkpoint:
            // one member, not two.
            let mut epochs = std::collections::BTreeSet::new();
            output.members.extend(
                kept.filter(|k| epochs.insert(k.epoch))
                    .map(|k| r.model_ref(k)),
            );
        }
        if output.members.len() < 2 {
            output.members.clear();
        }
        if many {
            output.metrics.insert("runs".into(), runs.len() as f64);
        }
        output.details = serde_json::json!({
            "epochs": run.epochs,
            "stopped": run.outcome.stopped,
            "checkpoints": run.outcome.checkpoints,
            "history": run.outcome.epochs,
            "runs": runs.iter().map(|r| serde_json::json!({
                "params": r.params,
                "seed": r.seed,
                "val_accuracy": r.best.val_accuracy,
                "best_epoch": r.outcome.best_epoch,
            })).collect::<Vec<_>>(),
        });
        Ok(output)
    }
}

/// One finished run of the stage.
struct Run {
    params: Params,
    seed: u64,
    epochs: usize,
    outcome: TrainOutcome,
    best: CheckpointRecord,
}

impl Run {
    fn model_ref(&self, c: &CheckpointRecord) -> ModelRef {
        ModelRef {
            params: self.params.clone(),
            checkpoint: c.path.clone(),
            epoch: Some(c.epoch),
            trial: None,
            val_accuracy: Some(c.val_accuracy),
            val_loss: Some(c.val_loss),
        }
    }
}

impl TrainStage {
    /// One run from `params` and `seed`, its checkpoints named after `label`.
    fn train_one(
        &self,
        ctx: &dyn StageContext,
        params: &Params,
        init: Option<&ModelRef>,
        seed: u64,
        label: &str,
        many: bool,
    ) -> Result<Run> {
        let c = &self.config;
        let recipe = ctx.recipe(params)?;
        let epochs = c.epochs.unwrap_or(recipe.trainer.epochs);
        let keep_many = many || c.keep_best > 1 || c.checkpoint_every.is_some();
        let spec = TrainSpec {
            checkpoints: Some(CheckpointPolicy {
                label: if keep_many {
                    label.to_string()
                } else {
                    format!("{label}-best")
                },
                every: c.checkpoint_every,
                keep_best: c.keep_best,
            }),
            early_stopping: c.patience.map(|patience| EarlyStopping {
                patience,
                min_delta: c.min_delta,
            }),
            init_from: init.map(|m| m.checkpoint.clone()),
            resume_schedule: c.resume_schedule,
            ..TrainSpec::new(&recipe, epochs, seed)
        };
        ctx.progress(&format!(
            "training {} for up to {epochs} epoch(s){}",
            recipe.model.kind,
            if params.is_empty() {
                String::new()
            } else {
                format!(" with {}", crate::common::describe(params))
            }
        ));
        let mut on_epoch = |r: &EpochReport| -> Result<Control> {
            ctx.progress(&epoch_line(r, epochs));
            Ok(Control::Continue)
        };
        let outcome = ctx.train(&spec, &mut on_epoch)?;
        let (Some(best), Some(ckpt)) = (outcome.best(), outcome.best_checkpoint().cloned()) else {
            return Err(Error::Training(format!(
                "stage `{}`: no epoch finished{}",
                ctx.name(),
                outcome
                    .stopped
                    .as_ref()
                    .map(|s| format!(" ({})", s.message()))
                    .unwrap_or_default()
            )));
        };
        if let Some(why) = &outcome.stopped {
            ctx.progress(&format!(
                "stopped after {} epoch(s): {}",
                outcome.epochs.len(),
                why.message()
            ));
        }
        ctx.progress(&format!(
            "best epoch {}: val acc {:.4}, val loss {:.4}; checkpoint {}",
            outcome.best_epoch + 1,
            best.val_accuracy,
            best.val_loss,
            ckpt.path.display()
        ));
        Ok(Run {
            params: params.clone(),
            seed,
            epochs,
            outcome,
            best: ckpt,
        })
    }
}
