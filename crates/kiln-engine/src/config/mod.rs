//! Pipeline files: TOML → validated [`Pipeline`].
//!
//! Parsing goes in three steps, each reporting errors with the file, the line and the key:
//! TOML syntax (the parser's span), structure (`serde_path_to_error` gives the key path), then
//! meaning (ranges, plugin names and parameters, checked by building every plugin once
//! before anything runs). `--set key.path=value` overrides are applied between the first
//! two steps.

mod builder;
mod locate;
mod overrides;
mod pipeline;
mod study_plan;

pub use builder::{PipelineBuilder, TuneBuilder, plugin};
pub use kiln_core::{Objective, Recipe, TrainerConfig};
pub use locate::line_of;
pub use overrides::apply_override;
pub use pipeline::{
    DeviceSlot, MAX_SLOTS_PER_DEVICE, Pipeline, PipelineConfig, PipelineStage, describe,
};
pub use study_plan::{StudyPlan, TuneStage};

use crate::error::{EngineError, Result};
use std::path::{Path, PathBuf};

/// A pipeline file's text and where it came from, for error reporting.
#[derive(Debug, Clone)]
pub struct Source {
    /// The file.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    /// Keys set from the command line (reported as such instead of by line).
    pub overridden: Vec<String>,
}

impl Source {
    /// An error at `key` with `message`.
    pub fn error(&self, key: &str, message: impl std::fmt::Display) -> EngineError {
        let from_cli = self.overridden.iter().any(|k| key.starts_with(k.as_str()));
        let (line, suffix) = if from_cli {
            (None, " (set with --set)")
        } else {
            (line_of(&self.text, key), "")
        };
        EngineError::Pipeline {
            path: self.path.clone(),
            line,
            message: format!("{key}: {message}{suffix}"),
        }
    }

    /// Maps a core error with a key to a located pipeline error.
    pub fn locate(&self, e: kiln_core::Error) -> EngineError {
        match e {
            kiln_core::Error::Config { key, message } => self.error(&key, message),
            other => EngineError::Core(other),
        }
    }
}

/// Reads, overrides and parses a pipeline file into its raw config.
pub fn load(path: &Path, sets: &[String]) -> Result<(PipelineConfig, Source)> {
    let text = std::fs::read_to_string(path).map_err(|e| EngineError::File {
        path: path.to_path_buf(),
        message: format!("cannot read pipeline file: {e}"),
    })?;
    let mut source = Source {
        path: path.to_path_buf(),
        text,
        overridden: Vec::new(),
    };
    let mut table: toml::Table =
        toml::from_str(&source.text).map_err(|e| EngineError::Pipeline {
            path: path.to_path_buf(),
            line: e
                .span()
                .map(|s| source.text[..s.start].lines().count().max(1)),
            message: format!("invalid TOML: {}", e.message().trim()),
        })?;
    for set in sets {
        let key = apply_override(&mut table, set).map_err(|m| EngineError::Pipeline {
            path: path.to_path_buf(),
            line: None,
            message: format!("--set {set}: {m}"),
        })?;
        source.overridden.push(key);
    }
    let json = serde_json::to_value(&table).map_err(|e| source.error("", e))?;
    let config: PipelineConfig = serde_path_to_error::deserialize(&json).map_err(|e| {
        let key = e.path().to_string();
        source.error(&key, e.into_inner())
    })?;
    Ok((config, source))
}

#[cfg(test)]
mod tests;
