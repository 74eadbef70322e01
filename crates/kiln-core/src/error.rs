//! The one error type of kiln-core and the plugins built on it.
//!
//! Every variant carries enough context to point a user at the file, key or offset that is
//! wrong: plugin factories validate their parameters once, at the boundary, and report the
//! offending key; data readers report the path and byte offset.

use std::path::PathBuf;

/// A plugin family: which trait a registered factory builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// [`crate::DatasetSource`]
    Dataset,
    /// [`crate::Augmenter`]
    Augmenter,
    /// [`crate::ModelFactory`]
    Model,
    /// [`crate::Scheduler`]
    Scheduler,
    /// [`crate::SearchStrategy`]
    Search,
    /// [`crate::Pruner`]
    Pruner,
    /// [`crate::Ensembler`]
    Ensembler,
    /// [`crate::Stage`]
    Stage,
}

impl Family {
    /// Every family, in display order.
    pub const ALL: [Family; 8] = [
        Family::Dataset,
        Family::Augmenter,
        Family::Model,
        Family::Scheduler,
        Family::Search,
        Family::Pruner,
        Family::Ensembler,
        Family::Stage,
    ];

    /// The family's name as written in configs and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Dataset => "dataset",
            Family::Augmenter => "augmenter",
            Family::Model => "model",
            Family::Scheduler => "scheduler",
            Family::Search => "search",
            Family::Pruner => "pruner",
            Family::Ensembler => "ensembler",
            Family::Stage => "stage",
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors raised by kiln-core and by plugins.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is missing, malformed or out of range.
    #[error("{key}: {message}")]
    Config {
        /// Dotted path of the offending key, e.g. `tune.search.n_startup`.
        key: String,
        /// What is wrong and, where possible, what would be right.
        message: String,
    },
    /// No plugin of that family has that name.
    #[error("unknown {family} plugin `{name}`{}; known: {}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default(), if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    UnknownPlugin {
        /// The family that was searched.
        family: Family,
        /// The name asked for.
        name: String,
        /// Every registered name of that family.
        known: Vec<String>,
        /// The closest registered name, if one is close.
        suggestion: Option<String>,
    },
    /// Two plugins registered the same (family, name).
    #[error("{family} plugin `{name}` is registered twice: by {first} and by {second}")]
    DuplicatePlugin {
        /// The family.
        family: Family,
        /// The clashing name.
        name: String,
        /// Where the first registration came from.
        first: String,
        /// Where the second registration came from.
        second: String,
    },
    /// A data file is malformed: truncated, wrong magic, inconsistent dimensions.
    #[error("{}{}: {message}", path.display(), offset.map(|o| format!(" (byte offset {o})")).unwrap_or_default())]
    Data {
        /// The file.
        path: PathBuf,
        /// Where in the (decompressed) file the problem is, when known.
        offset: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint could not be written or read back.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Training failed: a non-finite loss, a shape mismatch raised by the model, …
    #[error("training: {0}")]
    Training(String),
    /// A plugin broke its contract or failed in a way it reports itself.
    #[error("{family} plugin `{name}`: {message}")]
    Plugin {
        /// The family.
        family: Family,
        /// The plugin's registered name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// The search space cannot produce any more points (an exhausted grid).
    #[error("search space exhausted: {0}")]
    Exhausted(String),
    /// An I/O error with the path it happened on.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    /// A [`Error::Config`] for `key`.
    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Data`] for `path` at `offset`.
    pub fn data(path: impl Into<PathBuf>, offset: Option<u64>, message: impl Into<String>) -> Self {
        Error::Data {
            path: path.into(),
            offset,
            message: message.into(),
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// kiln-core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
