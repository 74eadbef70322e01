//! Augmenters: batched, seeded transforms of training images.
mod base;

pub use base::Augmenter;
