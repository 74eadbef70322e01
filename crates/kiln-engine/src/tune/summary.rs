//! What a finished study hands to later stages.

use super::*;

/// The tune trial's model, if it kept a checkpoint.
pub fn model_of_trial(t: &FrozenTrial) -> Option<ModelRef> {
    let checkpoint = t.attrs.get("checkpoint")?.as_str()?;
    Some(ModelRef {
        params: t.params.clone(),
        checkpoint: checkpoint.into(),
        epoch: t
            .attrs
            .get("best_epoch")
            .and_then(serde_json::Value::as_u64)
            .map(|e| e as usize),
        trial: Some(t.number),
        val_accuracy: t
            .attrs
            .get("val_accuracy")
            .and_then(serde_json::Value::as_f64),
        val_loss: t.attrs.get("val_loss").and_then(serde_json::Value::as_f64),
    })
}

pub(super) fn summarize(ctx: &RunContext, name: &str, study: &StudyRef<'_>) -> Result<StageOutput> {
    let trials = ctx.storage.trials(study.id)?;
    let view = StudyView {
        directions: study.directions,
        trials: &trials,
    };
    let count = |s: TrialState| {
        trials
            .iter()
            .filter(|t| t.state == s && counts_as_done(t))
            .count()
    };
    let describe_trial = |b: &FrozenTrial| {
        serde_json::json!({
            "number": b.number,
            "value": b.value(),
            "values": b.values,
            "params": b.params,
            "checkpoint": b.attrs.get("checkpoint"),
            "val_accuracy": b.attrs.get("val_accuracy"),
            "val_loss": b.attrs.get("val_loss"),
            "num_params": b.attrs.get("num_params"),
        })
    };
    let first = study.objectives.first().copied().unwrap_or_default();
    let best = view.best();
    if let Some(b) = best {
        ctx.progress.line(&format!(
            "[{name}] best trial #{}: {} = {:.4} with {}",
            b.number,
            first.name(),
            b.value().unwrap_or(f64::NAN),
            describe(&b.params)
        ));
    }
    let pareto: Vec<serde_json::Value> = if study.objectives.len() > 1 {
        let front = view.pareto_front();
        ctx.progress.line(&format!(
            "[{name}] Pareto front: trials {:?}",
            front.iter().map(|t| t.number).collect::<Vec<_>>()
        ));
        front.into_iter().map(describe_trial).collect()
    } else {
        Vec::new()
    };
    let mut out = StageOutput::new("tune");
    out.params = best.map(|b| b.params.clone());
    out.model = best.and_then(model_of_trial);
    for (k, v) in [
        ("trials", trials.len()),
        ("complete", count(TrialState::Complete)),
        ("pruned", count(TrialState::Pruned)),
        ("failed", count(TrialState::Fail)),
    ] {
        out.metrics.insert(k.into(), v as f64);
    }
    if let Some(v) = best.and_then(FrozenTrial::value) {
        out.metrics.insert(first.name().into(), v);
    }
    out.details = serde_json::json!({
        "study": study_name(&ctx.pipeline.name, name),
        "objective": first.name(),
        "objectives": study.objectives.iter().map(|o| o.name()).collect::<Vec<_>>(),
        "directions": study.directions,
        "best": best.map(describe_trial),
        "pareto_front": pareto,
    });
    Ok(out)
}
