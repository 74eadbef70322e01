//! Ensemblers: combine member predictions.
mod base;

pub use base::{Ensembler, Predictions, check_weights};
