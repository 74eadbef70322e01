//! Pruners: stop unpromising trials early.
mod base;

pub use base::{PruneDecision, Pruner};
