//! Learning-rate schedulers.
mod base;

pub use base::{ScheduleContext, Scheduler};
