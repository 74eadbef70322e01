//! Search strategies: ask/tell over a [`crate::SearchSpace`].
mod base;

pub use base::{SearchStrategy, Suggestion};
