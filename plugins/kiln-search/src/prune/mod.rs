//! Pruners.
mod median;

pub use median::{MedianConfig, MedianPruner};
