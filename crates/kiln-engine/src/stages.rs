//! The `train`, `evaluate` and `ensemble` stages, and stages from plugins.

use crate::config::{StageSpec, describe};
use crate::error::{EngineError, Result};
use crate::run::RunContext;
use crate::trainer::{self, Control, TrainRequest};
use kiln_core::{Error, ImageSet, Params, Predictions, StageContext, TrainableModel};
use std::path::{Path, PathBuf};

fn missing(stage: &str, what: &str) -> EngineError {
    EngineError::Core(Error::Training(format!("stage `{stage}`: {what}")))
}

/// The parameters of the best trial recorded by tune stage `from`.
fn best_params(ctx: &RunContext, from: &str) -> Result<Params> {
    let out = ctx
        .outputs
        .get(from)
        .ok_or_else(|| missing(from, "has no output"))?;
    let params = out
        .pointer("/best/params")
        .ok_or_else(|| missing(from, "has no complete trial to take parameters from"))?;
    serde_json::from_value(params.clone())
        .map_err(|e| missing(from, &format!("unreadable best parameters: {e}")))
}

fn relative(ctx: &RunContext, path: &Path) -> PathBuf {
    path.strip_prefix(&ctx.run_dir)
        .unwrap_or(path)
        .to_path_buf()
}

/// Runs a non-tune stage.
pub fn run(ctx: &RunContext, index: usize, stage: &StageSpec) -> Result<serde_json::Value> {
    match stage {
        StageSpec::Train { name, config } => {
            train(ctx, index, name, config.from.as_deref(), config.epochs)
        }
        StageSpec::Evaluate { name, from } => evaluate(ctx, name, from),
        StageSpec::Ensemble {
            name,
            config,
            ensembler,
        } => ensemble(ctx, name, &config.from, config.top_k, ensembler),
        StageSpec::Plugin { name, spec } => {
            let seed = ctx.seed(&[index as u64]);
            let plugin = ctx
                .registry
                .build_stage(spec, &ctx.build_ctx(&format!("stages[{index}]"), seed))?;
            let view = PluginStageContext { ctx, seed };
            ctx.progress
                .line(&format!("[{name}] running stage plugin `{}`", spec.kind));
            Ok(plugin.run(&view)?)
        }
        StageSpec::Tune { .. } => crate::tune::run(ctx, index, stage),
    }
}

fn train(
    ctx: &RunContext,
    index: usize,
    name: &str,
    from: Option<&str>,
    epochs: Option<usize>,
) -> Result<serde_json::Value> {
    let params = match from {
        Some(f) => best_params(ctx, f)?,
        None => Params::new(),
    };
    let recipe = ctx.pipeline.recipe(&params)?;
    let epochs = epochs.unwrap_or(recipe.trainer.epochs);
    let seed = ctx.seed(&[index as u64]);
    let mut model = ctx.build_model(&recipe, seed)?;
    let mut scheduler = ctx
        .registry
        .build_scheduler(&recipe.scheduler, &ctx.build_ctx("scheduler", seed))?;
    let checkpoint = ctx
        .checkpoint_dir()?
        .join(format!("{name}-best.safetensors"));
    ctx.progress.line(&format!(
        "[{name}] training {} for {epochs} epoch(s){}",
        recipe.model.kind,
        if params.is_empty() {
            String::new()
        } else {
            format!(" with {}", describe(&params))
        }
    ));
    let req = TrainRequest {
        train: &ctx.splits.train,
        valid: &ctx.splits.valid,
        recipe: &recipe,
        epochs,
        seed,
        augmenters: &ctx.augmenters,
        checkpoint: Some(checkpoint.clone()),
    };
    let mut on_epoch = |r: &trainer::EpochReport| -> kiln_core::Result<Control> {
        ctx.progress.line(&format!(
            "[{name}] epoch {}/{epochs}: loss {:.4}, acc {:.4}, val loss {:.4}, val acc {:.4}, lr {:.2e} ({:.1}s)",
            r.epoch + 1, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy, r.lr, r.seconds
        ));
        Ok(Control::Continue)
    };
    let out = trainer::train(model.as_mut(), scheduler.as_mut(), &req, &mut on_epoch)?;
    let best = &out.epochs[out.best_epoch];
    ctx.progress.line(&format!(
        "[{name}] best epoch {}: val acc {:.4}, val loss {:.4}; checkpoint {}",
        out.best_epoch + 1,
        best.val_accuracy,
        best.val_loss,
        checkpoint.display()
    ));
    Ok(serde_json::json!({
        "kind": "train",
        "params": params,
        "epochs": epochs,
        "best_epoch": out.best_epoch,
        "val_accuracy": best.val_accuracy,
        "val_loss": best.val_loss,
        "num_params": out.num_params,
        "checkpoint": relative(ctx, &checkpoint),
        "history": out.epochs,
    }))
}

/// The test split, or the validation split with a note when the dataset has none.
fn test_set(ctx: &RunContext) -> (&ImageSet, &'static str) {
    match &ctx.splits.test {
        Some(t) => (t, "test"),
        None => (&ctx.splits.valid, "valid"),
    }
}

fn model_of(
    ctx: &RunContext,
    stage: &str,
    params: &Params,
    checkpoint: &serde_json::Value,
) -> Result<Box<dyn TrainableModel>> {
    let rel = checkpoint
        .as_str()
        .ok_or_else(|| missing(stage, "has no checkpoint"))?;
    let recipe = ctx.pipeline.recipe(params)?;
    Ok(ctx.load_model(&recipe, &ctx.run_dir.join(rel))?)
}

fn members(
    ctx: &RunContext,
    from: &str,
    top_k: usize,
) -> Result<Vec<(u64, Params, serde_json::Value)>> {
    let name = crate::run::study_name(&ctx.pipeline.name, from);
    let study = ctx
        .storage
        .studies()?
        .into_iter()
        .find(|(_, n)| *n == name)
        .map(|(id, _)| id)
        .ok_or_else(|| missing(from, &format!("no study `{name}` in the run's database")))?;
    let dir = ctx
        .storage
        .directions(study)?
        .first()
        .copied()
        .unwrap_or(kiln_core::Direction::Maximize);
    let mut trials: Vec<_> = ctx
        .storage
        .trials(study)?
        .into_iter()
        .filter(|t| {
            t.state == kiln_core::TrialState::Complete && t.attrs.contains_key("checkpoint")
        })
        .collect();
    trials.sort_by(|a, b| {
        let (x, y) = (a.value().unwrap_or(f64::NAN), b.value().unwrap_or(f64::NAN));
        if dir.better(x, y) {
            std::cmp::Ordering::Less
        } else if dir.better(y, x) {
            std::cmp::Ordering::Greater
        } else {
            a.number.cmp(&b.number)
        }
    });
    Ok(trials
        .into_iter()
        .take(top_k)
        .map(|t| {
            let ckpt = t.attrs.get("checkpoint").cloned().unwrap_or_default();
            (t.number, t.params, ckpt)
        })
        .collect())
}

fn ensemble(
    ctx: &RunContext,
    name: &str,
    from: &str,
    top_k: usize,
    spec: &kiln_core::PluginSpec,
) -> Result<serde_json::Value> {
    let ensembler = ctx
        .registry
        .build_ensembler(spec, &ctx.build_ctx("ensembler", ctx.pipeline.seed))?;
    let candidates = members(ctx, from, top_k)?;
    if candidates.is_empty() {
        return Err(missing(
            from,
            "has no complete trial with a checkpoint to ensemble",
        ));
    }
    let classes = ctx.splits.spec.num_classes;
    let eval_bs = ctx.pipeline.trainer.eval_batch_size;
    let mut preds = Vec::new();
    for (number, params, ckpt) in &candidates {
        let model = model_of(ctx, name, params, ckpt)?;
        let p = trainer::predict(model.as_ref(), &ctx.splits.valid, eval_bs, classes)?;
        ctx.progress.line(&format!(
            "[{name}] candidate trial #{number}: val acc {:.4}",
            p.accuracy(&ctx.splits.valid.labels)
        ));
        preds.push(p);
    }
    let chosen = ensembler.select(&preds, &ctx.splits.valid.labels)?;
    let refs: Vec<&Predictions> = chosen.iter().filter_map(|&i| preds.get(i)).collect();
    let combined = ensembler.combine(&refs)?;
    let acc = combined.accuracy(&ctx.splits.valid.labels);
    let member_numbers: Vec<u64> = chosen
        .iter()
        .filter_map(|&i| candidates.get(i).map(|c| c.0))
        .collect();
    ctx.progress.line(&format!(
        "[{name}] ensemble of trials {member_numbers:?}: val acc {acc:.4}"
    ));
    Ok(serde_json::json!({
        "kind": "ensemble",
        "from": from,
        "ensembler": spec.kind,
        "members": chosen.iter().filter_map(|&i| candidates.get(i)).map(|(n, p, c)| serde_json::json!({"trial": n, "params": p, "checkpoint": c})).collect::<Vec<_>>(),
        "val_accuracy": acc,
    }))
}

fn evaluate(ctx: &RunContext, name: &str, from: &str) -> Result<serde_json::Value> {
    let out = ctx
        .outputs
        .get(from)
        .ok_or_else(|| missing(from, "has no output"))?;
    let (set, split) = test_set(ctx);
    let classes = ctx.splits.spec.num_classes;
    let eval_bs = ctx.pipeline.trainer.eval_batch_size;
    let kind = out
        .get("kind")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let (accuracy, loss) = match kind {
        "ensemble" => {
            let ensembler_kind = out
                .get("ensembler")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("soft_vote");
            let spec = ctx
                .pipeline
                .stages
                .iter()
                .find_map(|s| match s {
                    StageSpec::Ensemble {
                        name: n, ensembler, ..
                    } if n == from => Some(ensembler.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| kiln_core::PluginSpec::named(ensembler_kind));
            let ensembler = ctx
                .registry
                .build_ensembler(&spec, &ctx.build_ctx("ensembler", ctx.pipeline.seed))?;
            let mut preds = Vec::new();
            for m in out
                .get("members")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
            {
                let params: Params =
                    serde_json::from_value(m.get("params").cloned().unwrap_or_default())
                        .map_err(|e| missing(from, &format!("unreadable member: {e}")))?;
                let model = model_of(
                    ctx,
                    from,
                    &params,
                    m.get("checkpoint").unwrap_or(&serde_json::Value::Null),
                )?;
                preds.push(trainer::predict(model.as_ref(), set, eval_bs, classes)?);
            }
            let refs: Vec<&Predictions> = preds.iter().collect();
            (ensembler.combine(&refs)?.accuracy(&set.labels), None)
        }
        _ => {
            let (params, ckpt) = if kind == "tune" {
                let best = out
                    .get("best")
                    .ok_or_else(|| missing(from, "has no complete trial"))?;
                (
                    best.get("params").cloned().unwrap_or_default(),
                    best.get("checkpoint").cloned().unwrap_or_default(),
                )
            } else {
                (
                    out.get("params").cloned().unwrap_or_default(),
                    out.get("checkpoint").cloned().unwrap_or_default(),
                )
            };
            let params: Params = serde_json::from_value(params)
                .map_err(|e| missing(from, &format!("unreadable parameters: {e}")))?;
            let model = model_of(ctx, from, &params, &ckpt)?;
            let (loss, acc) = trainer::evaluate(model.as_ref(), set, eval_bs)?;
            (acc, Some(loss))
        }
    };
    ctx.progress.line(&format!(
        "[{name}] {from}: {split} accuracy {accuracy:.4}{} on {} images",
        loss.map(|l| format!(", loss {l:.4}")).unwrap_or_default(),
        set.len()
    ));
    Ok(serde_json::json!({
        "kind": "evaluate",
        "from": from,
        "split": split,
        "images": set.len(),
        "accuracy": accuracy,
        "loss": loss,
    }))
}

struct PluginStageContext<'a> {
    ctx: &'a RunContext,
    seed: u64,
}

impl StageContext for PluginStageContext<'_> {
    fn run_dir(&self) -> &Path {
        &self.ctx.run_dir
    }
    fn output(&self, stage: &str) -> Option<&serde_json::Value> {
        self.ctx.outputs.get(stage)
    }
    fn seed(&self) -> u64 {
        self.seed
    }
    fn progress(&self, message: &str) {
        self.ctx.progress.line(message);
    }
}
