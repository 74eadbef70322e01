//! Small helpers the stages share.

use kiln_core::train::EpochReport;
use kiln_core::{Error, ParamValue, Params, Result, StageContext};

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

/// Parameters as `name=value` pairs.
pub fn describe(params: &Params) -> String {
    params
        .iter()
        .map(|(k, v)| match v {
            ParamValue::Float(f) => format!("{k}={f:.4e}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
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
