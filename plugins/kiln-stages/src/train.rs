//! `train`: one longer run from the best parameters of an earlier stage, with early
//! stopping and checkpoints; it hands on the best checkpoint (and the top-k).

use crate::common::{epoch_line, params_of};
use kiln_core::train::{CheckpointPolicy, Control, EarlyStopping, EpochReport, TrainSpec};
use kiln_core::{
    BuildContext, Error, ModelRef, Params, Result, Stage, StageContext, StageInput, StageOutput,
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
        let params = match (&c.from, &init) {
            (Some(from), _) => params_of(ctx, from)?,
            (None, Some(m)) => m.params.clone(),
            (None, None) => Params::new(),
        };
        let recipe = ctx.recipe(&params)?;
        let epochs = c.epochs.unwrap_or(recipe.trainer.epochs);
        let keep_many = c.keep_best > 1 || c.checkpoint_every.is_some();
        let spec = TrainSpec {
            checkpoints: Some(CheckpointPolicy {
                label: if keep_many {
                    ctx.name().to_string()
                } else {
                    format!("{}-best", ctx.name())
                },
                every: c.checkpoint_every,
                keep_best: c.keep_best,
            }),
            early_stopping: c.patience.map(|patience| EarlyStopping {
                patience,
                min_delta: c.min_delta,
            }),
            init_from: init.as_ref().map(|m| m.checkpoint.clone()),
            resume_schedule: c.resume_schedule,
            ..TrainSpec::new(&recipe, epochs, ctx.seed())
        };
        ctx.progress(&format!(
            "training {} for up to {epochs} epoch(s){}",
            recipe.model.kind,
            if params.is_empty() {
                String::new()
            } else {
                format!(" with {}", crate::common::describe(&params))
            }
        ));
        let mut on_epoch = |r: &EpochReport| -> Result<Control> {
            ctx.progress(&epoch_line(r, epochs));
            Ok(Control::Continue)
        };
        let out = ctx.train(&spec, &mut on_epoch)?;
        let (Some(best), Some(ckpt)) = (out.best(), out.best_checkpoint()) else {
            return Err(Error::Training(format!(
                "stage `{}`: no epoch finished{}",
                ctx.name(),
                out.stopped
                    .as_ref()
                    .map(|s| format!(" ({})", s.message()))
                    .unwrap_or_default()
            )));
        };
        if let Some(why) = &out.stopped {
            ctx.progress(&format!(
                "stopped after {} epoch(s): {}",
                out.epochs.len(),
                why.message()
            ));
        }
        ctx.progress(&format!(
            "best epoch {}: val acc {:.4}, val loss {:.4}; checkpoint {}",
            out.best_epoch + 1,
            best.val_accuracy,
            best.val_loss,
            ckpt.path.display()
        ));
        let model_ref = |c: &kiln_core::train::CheckpointRecord| ModelRef {
            params: params.clone(),
            checkpoint: c.path.clone(),
            epoch: Some(c.epoch),
            trial: None,
            val_accuracy: Some(c.val_accuracy),
            val_loss: Some(c.val_loss),
        };
        let mut output = StageOutput::new("train")
            .metric("val_accuracy", best.val_accuracy)
            .metric("val_loss", best.val_loss)
            .metric("best_epoch", out.best_epoch as f64)
            .metric("epochs_run", out.epochs.len() as f64)
            .metric("num_params", out.num_params as f64);
        output.params = Some(params.clone());
        output.model = Some(model_ref(ckpt));
        if c.keep_best > 1 {
            output.members = out
                .checkpoints
                .iter()
                .filter(|c| !c.periodic)
                .map(model_ref)
                .collect();
        }
        output.details = serde_json::json!({
            "epochs": epochs,
            "stopped": out.stopped,
            "checkpoints": out.checkpoints,
            "history": out.epochs,
        });
        Ok(output)
    }
}
