//! Stages: the steps of a pipeline, and the open extension point of the improvement loop.
//!
//! A stage reads what earlier stages produced ([`StageOutput`], typed), uses the data, the
//! registry and the trainer through its [`StageContext`], and returns its own output.
//! kiln's `train`, `evaluate`, `ensemble`, `lr_find`, `capacity` and `batch_size` stages
//! are plugins on exactly this API (crate `kiln-stages`); only `tune`, which owns the
//! worker pool and the study database, is the engine's.
mod base;
mod context;
mod output;

pub use base::{Stage, StageInput};
pub use context::{Split, StageContext};
pub use output::{LrSuggestion, ModelRef, StageOutput};
