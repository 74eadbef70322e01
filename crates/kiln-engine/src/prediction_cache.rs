//! The prediction cache: a saved model's class probabilities on a split, computed once and
//! kept in the run's database (`kiln_predictions`).
//!
//! A row is keyed by run, checkpoint path and split, and carries the SHA-256 fingerprint of
//! what the probabilities were computed from: the checkpoint's bytes, the parameters that
//! rebuild its architecture, and the split's pixels and labels. A checkpoint rewritten by a
//! rerun, or a dataset changed under the run, changes the fingerprint, and the row is
//! recomputed rather than trusted: the cache can make selection cheap, never wrong.

use crate::context::RunContext;
use kiln_core::{ImageSet, ModelRef, Predictions, Result, Split, StageContext};
use sha2::{Digest, Sha256};

/// The fingerprint of `model` on `set`, with the checkpoint's bytes read from `run_dir`.
fn fingerprint(run: &RunContext, model: &ModelRef, set: &ImageSet) -> Result<String> {
    let path = run.run_dir.join(&model.checkpoint);
    let bytes = std::fs::read(&path).map_err(|e| kiln_core::Error::io(&path, e))?;
    let mut h = Sha256::new();
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(&bytes);
    let params = serde_json::to_string(&model.params).unwrap_or_default();
    h.update((params.len() as u64).to_le_bytes());
    h.update(params.as_bytes());
    for d in [set.shape.channels, set.shape.height, set.shape.width] {
        h.update((d as u64).to_le_bytes());
    }
    h.update((set.len() as u64).to_le_bytes());
    for p in &set.pixels {
        h.update(p.to_le_bytes());
    }
    for l in &set.labels {
        h.update(l.to_le_bytes());
    }
    Ok(format!("{:x}", h.finalize()))
}

/// `model`'s predictions on `split`: from the cache when its fingerprint still matches,
/// else computed by `ctx` and stored.
pub fn model_predictions(
    run: &RunContext,
    ctx: &dyn StageContext,
    model: &ModelRef,
    split: Split,
) -> Result<Predictions> {
    let set = split.of(&run.splits)?;
    let key = model.checkpoint.to_string_lossy();
    let print = fingerprint(run, model, set)?;
    let name = &run.pipeline.name;
    let stored = run
        .storage
        .prediction(name, &key, split.name(), &print)
        .map_err(crate::context::core)?;
    if let Some(p) = stored.filter(|p| p.len() == set.len()) {
        return Ok(p);
    }
    let m = ctx.load_model(&model.params, &model.checkpoint)?;
    let p = ctx.predict(m.as_ref(), set)?;
    run.storage
        .set_prediction(name, &key, split.name(), &print, &p)
        .map_err(crate::context::core)?;
    Ok(p)
}
