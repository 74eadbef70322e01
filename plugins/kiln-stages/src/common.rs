//! Small helpers the stages share.

use kiln_core::train::EpochReport;
use kiln_core::{
    Error, FrozenTrial, ModelRef, Params, Result, StageContext, StageInput, TrialState,
};

/// The parameters an earlier stage hands on: its best parameters, else its model's.
pub fn params_of(ctx: &dyn StageContext, from: &str) -> Result<Params> {
    let out = ctx
        .output(from)
        .ok_or_else(|| Error::Training(format!("stage `{from}` has no output")))?;
    out.params
        .clone()
        .or_else(|| out.model.as_ref().map(|m| m.params.clone()))
        .ok_or_else(|| {
            Error::Training(format!(
                "stage `{from}` produced no parameters (a tune stage with no complete trial?)"
            ))
        })
}

pub use kiln_core::space::describe;

/// The parameters of stage `from` if one is named, else none (the base config).
pub fn params_from(ctx: &dyn StageContext, from: Option<&str>) -> Result<Params> {
    from.map_or(Ok(Params::new()), |f| params_of(ctx, f))
}

/// An optional earlier stage named by parameter `from`, of any kind.
pub fn reads_from(from: Option<&str>) -> Vec<StageInput> {
    from.map(|f| StageInput::new("from", f, &[]))
        .into_iter()
        .collect()
}

/// One epoch as a progress line.
pub fn epoch_line(r: &EpochReport, epochs: usize) -> String {
    format!(
        "epoch {}/{epochs}: loss {:.4}, acc {:.4}, val loss {:.4}, val acc {:.4}, lr {:.2e} ({:.1}s)",
        r.epoch + 1,
        r.train_loss,
        r.train_accuracy,
        r.val_loss,
        r.val_accuracy,
        r.lr,
        r.seconds
    )
}

/// A tune study's complete trials with checkpoints, best first, as models.
pub fn best_trials(ctx: &dyn StageContext, from: &str, k: usize) -> Result<Vec<ModelRef>> {
    let (directions, trials) = ctx.study(from)?;
    let dir = directions
        .first()
        .copied()
        .unwrap_or(kiln_core::Direction::Maximize);
    let mut done: Vec<&FrozenTrial> = trials
        .iter()
        .filter(|t| t.state == TrialState::Complete && t.attrs.contains_key("checkpoint"))
        .collect();
    done.sort_by(|a, b| {
        let (x, y) = (a.value().unwrap_or(f64::NAN), b.value().unwrap_or(f64::NAN));
        if dir.better(x, y) {
            std::cmp::Ordering::Less
        } else if dir.better(y, x) {
            std::cmp::Ordering::Greater
        } else {
            a.number.cmp(&b.number)
        }
    });
    Ok(done
        .into_iter()
        .take(k)
        .filter_map(|t| {
            Some(ModelRef {
                params: t.params.clone(),
                checkpoint: t.attrs.get("checkpoint")?.as_str()?.into(),
                epoch: None,
                trial: Some(t.number),
                val_accuracy: t.attrs.get("val_accuracy").and_then(|v| v.as_f64()),
                val_loss: t.attrs.get("val_loss").and_then(|v| v.as_f64()),
            })
        })
        .collect())
}
