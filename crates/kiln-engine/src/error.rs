//! The engine's error type.

use std::path::PathBuf;

/// Errors raised while running a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An error from kiln-core or a plugin.
    #[error(transparent)]
    Core(#[from] kiln_core::Error),
    /// The pipeline file is malformed; `line` is 1-based when known.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Pipeline {
        /// The pipeline file.
        path: PathBuf,
        /// The line of the offending key, when known.
        line: Option<usize>,
        /// What is wrong, starting with the key.
        message: String,
    },
    /// The study database could not be read or written.
    #[error("study database {}: {message}", path.display())]
    Storage {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A file of the run directory could not be read or written.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// The engine's result type.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
