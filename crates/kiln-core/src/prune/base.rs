use crate::{FrozenTrial, Result, StudyView};

/// A pruner's verdict on a running trial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruneDecision {
    /// Keep training.
    Continue,
    /// Stop now; the reason is recorded with the trial.
    Prune(String),
}

/// Decides from intermediate values whether a running trial should stop.
///
/// # Contract
/// - Called after every reported intermediate value of `trial` (a running trial whose
///   `intermediate` holds everything reported so far); `study` holds every trial.
/// - Never prunes a trial that has reported nothing.
/// - Direction-aware: uses `study.direction()` to know what "worse" means.
/// - Deterministic: the same study and trial give the same decision.
/// - Thread safety: `Send + Sync`; several workers may ask at once.
pub trait Pruner: Send + Sync {
    /// Whether `trial` should stop.
    fn should_prune(&self, study: &StudyView<'_>, trial: &FrozenTrial) -> Result<PruneDecision>;
}
