use crate::Result;

/// What a scheduler learns when training starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScheduleContext {
    /// The optimiser's base learning rate.
    pub base_lr: f64,
    /// Optimiser steps per epoch.
    pub steps_per_epoch: usize,
    /// Epochs planned.
    pub epochs: usize,
}

/// What a scheduler is told at the end of each epoch (plateau-driven schedules read it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochMetrics {
    /// Mean validation loss of the epoch.
    pub val_loss: f64,
    /// Validation accuracy of the epoch.
    pub val_accuracy: f64,
}

/// Gives the learning rate of every optimiser step.
///
/// # Contract
/// - `start` is called once before the first `step`; `step` is then called once per
///   optimiser step and returns a finite, positive learning rate.
/// - `end_epoch` is told each epoch's validation metrics (for plateau-driven schedules).
/// - Determinism: the sequence depends only on the parameters, the context and the losses
///   it was told. `state`/`load_state` capture it, so a resumed run continues exactly.
/// - Errors: `start` rejects a context it cannot serve (e.g. a base rate it cannot take).
pub trait Scheduler: Send {
    /// Prepares for a run.
    fn start(&mut self, ctx: &ScheduleContext) -> Result<()>;
    /// The learning rate for the next optimiser step.
    fn step(&mut self) -> f64;
    /// Called after each epoch with its validation metrics.
    fn end_epoch(&mut self, _epoch: usize, _metrics: &EpochMetrics) {}
    /// The scheduler's state, as JSON.
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// Restores a state returned by [`Scheduler::state`].
    fn load_state(&mut self, _state: &serde_json::Value) -> Result<()> {
        Ok(())
    }
}
