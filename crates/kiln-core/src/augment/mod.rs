//! Augmenters: batched, seeded transforms of training images (and, for label-mixing ops,
//! of their targets).
mod base;

pub use base::{Augmenter, Batch, Targets};
