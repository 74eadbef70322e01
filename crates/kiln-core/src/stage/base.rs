use super::{StageContext, StageOutput};
use crate::Result;

/// An earlier stage that a stage reads, declared so that the pipeline can check the
/// reference before anything runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageInput {
    /// The parameter that names it, e.g. `from` (errors point at `stages[i].from`).
    pub key: String,
    /// The earlier stage's name.
    pub stage: String,
    /// The stage kinds accepted (`tune`, `train`, …); empty accepts any.
    pub kinds: Vec<String>,
}

impl StageInput {
    /// Stage `stage`, named by parameter `key`, of one of `kinds` (empty: any).
    pub fn new(key: &str, stage: &str, kinds: &[&str]) -> Self {
        StageInput {
            key: key.to_string(),
            stage: stage.to_string(),
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
        }
    }
}

/// One step of a pipeline.
///
/// # Contract
/// - The factory parses and validates the stage's parameters (errors name the key), and
///   [`Stage::reads`] lists the earlier stages it will read: the pipeline refuses a
///   reference to a missing or later stage, or one of the wrong kind, before anything runs.
/// - `run` reads earlier outputs and the data through the context, trains through
///   [`StageContext::train`], writes files only under [`StageContext::run_dir`], and
///   returns its [`StageOutput`]. It writes no partial output: a failed stage returns an
///   error, and the run stops there (a rerun starts the stage again).
/// - Determinism: everything random derives from [`StageContext::seed`].
/// - A finished stage is not run again in the same run directory unless its configuration
///   (or an earlier stage's) changed: the engine keeps a hash of both.
/// - Thread safety: `Send`; `run` is called from one thread.
pub trait Stage: Send {
    /// Runs the stage.
    fn run(&self, ctx: &dyn StageContext) -> Result<StageOutput>;

    /// Earlier stages this stage reads.
    fn reads(&self) -> Vec<StageInput> {
        Vec::new()
    }
}
