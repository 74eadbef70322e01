//! Small helpers the stages share.

use kiln_core::train::EpochReport;
use kiln_core::{Error, Params, Result, StageContext, StageInput};

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
