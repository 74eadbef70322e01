//! Models: a plugin author writes an ordinary Burn module; kiln wraps it for training.
//!
//! Burn's `Module` is not object-safe and `optim.step` is generic over the concrete module,
//! so the wrapping is a generic adapter, [`ClassifierAdapter`], instantiated by the plugin
//! where the concrete type is known and handed on as a `Box<dyn TrainableModel>`.
mod adapter;
mod average;
mod base;
mod optimizer;
mod probe;

pub use adapter::{Classifier, ClassifierAdapter};
pub use base::{EvalStats, ModelFactory, ModelSpec, StepStats, TrainableModel};
pub use optimizer::{OptimizerConfig, OptimizerKind};
pub use probe::{Histogram, LayerHealth, LayerProbe, UpdateRatio};
