//! Training as stages see it: the recipe a run trains, what a run is asked to do, and
//! what it reports. The loop itself lives in the engine and is reached through
//! [`crate::StageContext::train`], so a stage plugin trains exactly as a tune trial does.
mod config;
mod report;
mod request;

pub use config::{Objective, Recipe, TrainerConfig, WeightAverage};
pub use report::{CheckpointRecord, Control, EpochHealth, EpochReport, StopReason, TrainOutcome};
pub use request::{CheckpointPolicy, EarlyStopping, TrainSpec};
