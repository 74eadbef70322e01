//! Learning-rate schedulers.
mod base;

pub use base::{EpochMetrics, ScheduleContext, Scheduler};
