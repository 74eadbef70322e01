//! Stages: steps of a pipeline.
mod base;

pub use base::{Stage, StageContext};
