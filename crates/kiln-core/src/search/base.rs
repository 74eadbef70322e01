use crate::{FrozenTrial, Params, Result, SearchSpace, StudyView};

/// What a strategy proposes for one trial.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// A value for every active parameter of the space.
    pub params: Params,
    /// Epochs to train this trial for, when the strategy sets the budget (coarse-to-fine);
    /// `None` keeps the stage's own.
    pub epochs: Option<usize>,
}

impl Suggestion {
    /// A suggestion that keeps the stage's budget.
    pub fn new(params: Params) -> Self {
        Suggestion {
            params,
            epochs: None,
        }
    }
}

/// Proposes parameters for new trials and learns from finished ones.
///
/// # Contract
/// - `ask` returns a value for exactly the active parameters of `space`, each inside its
///   distribution ([`SearchSpace::check`] passes). `study` holds every trial so far, running
///   ones included, so a strategy can avoid proposing what a parallel worker already runs.
/// - `ask` returns [`crate::Error::Exhausted`] when it has nothing left to propose (a finished
///   grid); the executor then stops the stage.
/// - `tell` is called once per finished trial (complete, pruned or failed), in the order they
///   finish. Strategies that read everything from `study` may ignore it.
/// - Determinism: built with the same seed and shown the same study, a strategy asks the same
///   points. `save_state`/`load_state` capture whatever `study` does not, so that a resumed
///   study continues the exact sequence.
/// - Thread safety: `Send`; the executor calls it from one thread at a time.
pub trait SearchStrategy: Send {
    /// Proposes the parameters of trial `number`.
    fn ask(
        &mut self,
        space: &SearchSpace,
        study: &StudyView<'_>,
        number: u64,
    ) -> Result<Suggestion>;
    /// Learns from a finished trial.
    fn tell(&mut self, _trial: &FrozenTrial) -> Result<()> {
        Ok(())
    }
    /// State not recoverable from the study, as JSON.
    fn save_state(&self) -> Result<serde_json::Value> {
        Ok(serde_json::Value::Null)
    }
    /// Restores a state returned by [`SearchStrategy::save_state`].
    fn load_state(&mut self, _state: &serde_json::Value) -> Result<()> {
        Ok(())
    }
}
