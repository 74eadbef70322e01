//! Augmenters: batched, seeded transforms of training images (and, for label-mixing ops,
//! of their targets).
mod base;
mod host;

pub use base::{Augmenter, Batch, Targets};
pub use host::{HostImages, augment_chain, augment_images, runs_on_host};
