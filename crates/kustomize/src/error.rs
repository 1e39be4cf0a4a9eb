//! The one error type of the kustomize engine.

use std::path::PathBuf;

/// Everything that can make a build fail. Every variant names the file,
/// field or object at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A YAML document could not be parsed (the message carries the line when known).
    #[error("{path}: malformed YAML: {message}")]
    Yaml {
        /// The file holding the document.
        path: PathBuf,
        /// Parser message, with line and column when the parser gives them.
        message: String,
    },
    /// A directory used as a kustomization has no kustomization file.
    #[error(
        "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{}'",
        dir.display()
    )]
    MissingKustomization {
        /// The directory searched.
        dir: PathBuf,
    },
    /// A field of kustomization.yaml that this engine does not implement.
    #[error("{path}: field '{field}' is not supported by driftless kustomize")]
    UnsupportedField {
        /// The kustomization file.
        path: PathBuf,
        /// The field name.
        field: String,
    },
    /// A path leaves the directory the loader is restricted to.
    #[error("{path}: security; file '{target}' is not in or below '{root}'")]
    LoadRestriction {
        /// The kustomization (or file) that referenced the path.
        path: PathBuf,
        /// The resolved path that was refused.
        target: PathBuf,
        /// The directory the loader may not leave.
        root: PathBuf,
    },
    /// Bases refer to each other in a loop.
    #[error("cycle detected: '{}' is already being built (via {chain})", dir.display())]
    Cycle {
        /// The directory reached twice.
        dir: PathBuf,
        /// The chain of directories being built.
        chain: String,
    },
    /// Input refused because it goes past one of the build's [`crate::Limits`].
    #[error("{path}: {message} (limit {limit})")]
    Limit {
        /// The file (or kustomization) at fault.
        path: PathBuf,
        /// What went past the limit.
        message: String,
        /// The limit in force, as `name=value`.
        limit: String,
    },
    /// Anything else wrong with a kustomization or its inputs.
    #[error("{path}: {message}")]
    Invalid {
        /// The kustomization (or other) file the problem was found in.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// Builds an [`Error::Invalid`].
    pub(crate) fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl Error {
    /// Builds an [`Error::Limit`] from a YAML measure.
    pub(crate) fn limit(path: impl Into<PathBuf>, exceeded: crate::yaml_meter::Exceeded) -> Self {
        Error::Limit {
            path: path.into(),
            message: exceeded.message,
            limit: exceeded.limit,
        }
    }
}

/// Result alias for the engine.
pub type Result<T> = std::result::Result<T, Error>;

/// An error raised deep inside a transformer, before the file it belongs to is known.
/// Converted into [`Error::Invalid`] by the caller that knows the kustomization file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure(pub String);

impl Failure {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Failure(message.into())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Result of an operation that fails with a [`Failure`].
pub(crate) type Outcome<T> = std::result::Result<T, Failure>;
