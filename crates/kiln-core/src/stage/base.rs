use crate::Result;
use std::path::Path;

/// What a stage can see and use of the pipeline run.
pub trait StageContext {
    /// The run directory; a stage writes its files under it.
    fn run_dir(&self) -> &Path;
    /// The outputs of an earlier stage, by its name.
    fn output(&self, stage: &str) -> Option<&serde_json::Value>;
    /// The pipeline's seed.
    fn seed(&self) -> u64;
    /// Shows a progress line to the operator.
    fn progress(&self, message: &str);
}

/// One step of a pipeline. kiln's own `tune`, `train`, `evaluate` and `ensemble` stages are
/// built into the executor; this trait is for stages that plugins add.
///
/// # Contract
/// - `run` reads earlier stages' outputs from the context and returns its own as JSON
///   (an object), which later stages and `kiln show` read.
/// - A stage that fails returns an error; it writes no partial outputs.
/// - Deterministic under the pipeline's seed.
pub trait Stage: Send {
    /// Runs the stage.
    fn run(&self, ctx: &dyn StageContext) -> Result<serde_json::Value>;
}
