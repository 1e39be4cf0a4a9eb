//! The one error type of the e2e support crate.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while starting or driving the loopback parts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A program could not be started at all (missing binary, bad path).
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program that failed to start.
        program: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A command ran but exited unsuccessfully.
    #[error("{command} failed ({status}):\n{output}")]
    Command {
        /// The command line, for the message.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed (stderr and stdout).
        output: String,
    },
    /// A file or directory could not be read, written or created.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("read", "create", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A process started by this crate exited before it became ready.
    #[error("{process} exited before it was ready; its log {log_path}:\n{log}")]
    ProcessExited {
        /// Which process.
        process: String,
        /// Where its log is.
        log_path: PathBuf,
        /// The tail of its log.
        log: String,
    },
    /// Something did not happen before its deadline.
    #[error("{what} did not happen within {timeout:?}: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The deadline that passed.
        timeout: Duration,
        /// The last observation or error.
        last: String,
    },
    /// The kubeconfig written by cluster-up.sh could not be used.
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The kubeconfig file.
        path: PathBuf,
        /// The underlying error.
        source: kube::config::KubeconfigError,
    },
    /// A request to the kube-apiserver failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done, naming the object.
        action: String,
        /// The underlying error.
        source: kube::Error,
    },
    /// A YAML or JSON document could not be parsed or had the wrong shape.
    #[error("{document}: {detail}")]
    Document {
        /// The file (and document index) or object concerned.
        document: String,
        /// What was wrong.
        detail: String,
    },
    /// A request to the OCI registry failed.
    #[error("registry request {url}: {detail}")]
    Registry {
        /// The URL requested.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// An HTTP request to a server under test (a NodePort, a pod) failed.
    #[error("GET {url}: {detail}")]
    Http {
        /// The URL requested.
        url: String,
        /// What went wrong.
        detail: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `action` on `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }

    /// An [`Error::Kube`] for `action`.
    pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let action = action.into();
        move |source| Error::Kube { action, source }
    }
}
