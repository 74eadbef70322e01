//! Datasets: where images and labels come from.
mod base;
mod image_set;

pub use base::{DataSpec, DatasetSource, Splits};
pub use image_set::{ImageSet, ImageShape};
