//! kiln-engine: runs kiln pipelines.
//!
//! - [`config`]: pipeline files (TOML) → a validated [`config::Pipeline`], errors with file,
//!   line and key.
//! - [`run`]: a run directory (`kiln.db`, `checkpoints/`, `summary.json`) and its stages in
//!   order, each skipped if it already finished there.
//! - [`context`]: what a run shares with its stages; the [`kiln_core::StageContext`] the
//!   stage plugins see.
//! - [`tune`]: the study executor (a crossbeam worker pool, one trial per slot), the one
//!   stage the engine runs itself.
//! - [`trainer`]: the training loop on Burn's autodiff device.
//! - [`storage`]: the study database in Optuna's RDB schema.
//! - [`show`]: what `kiln show` prints.
//! - [`bench`]: `kiln bench search`, strategies on standard test functions.
//! - [`bench_augment`]: `kiln bench augment`, augmenter throughput on synthetic batches.
//! - [`preview`]: `kiln augment-preview`, a PNG grid of the augmenters' draws.

pub mod ask_tell;
pub mod bench;
pub mod bench_augment;
pub mod bench_train;
pub mod checkpoint;
pub mod config;
pub mod context;
pub mod device;
mod error;
pub mod memory;
mod prediction_cache;
pub mod preview;
pub mod progress;
pub mod report;
pub mod run;
pub mod show;
pub mod show_stages;
pub mod storage;
pub mod trainer;
pub mod tune;

pub use error::{EngineError, Result};
