//! Search strategies.
mod grid;
mod random;

pub use grid::{GridConfig, GridSearch};
pub use random::{RandomConfig, RandomSearch};
