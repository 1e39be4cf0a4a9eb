//! The one error type of the apply engine. Every message names the object
//! (`Kind/namespace/name`) and the API server's reason.

use std::fmt;
use std::time::Duration;

/// One object that failed, with the reason the API server (or the engine) gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFailure {
    /// The object, formatted `Kind/namespace/name` (`Kind/name` when cluster-scoped).
    pub object: String,
    /// Why it failed.
    pub reason: String,
}

impl fmt::Display for ObjectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.reason)
    }
}

/// A list of failures, displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failures(pub Vec<ObjectFailure>);

impl fmt::Display for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, failure) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong while applying, pruning or waiting for health.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A manifest is not a Kubernetes object (no `apiVersion`, `kind` or `metadata.name`).
    #[error("manifest #{index} ({object}): {reason}")]
    InvalidManifest {
        /// Position of the manifest in the input.
        index: usize,
        /// What could be read of its identity.
        object: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server-side dry-run (or the kind lookup before it) refused one or more objects;
    /// nothing of the refused stage was applied.
    #[error("dry-run failed for {} object(s), nothing applied:\n{failures}", failures.0.len())]
    DryRunFailed {
        /// Every refused object and the API server's message.
        failures: Failures,
    },
    /// Applying (or deleting for a recreate) one object failed after its dry-run succeeded.
    #[error("{object}: {action} failed: {reason}")]
    Request {
        /// The object, `Kind/namespace/name`.
        object: String,
        /// What was being done (`apply`, `delete`, `get`).
        action: &'static str,
        /// The API server's reason.
        reason: String,
    },
    /// Objects did not become healthy (or were `Failed`) before the deadline.
    #[error("health check failed after {elapsed:?} (timeout {timeout:?}):\n{failures}")]
    Unhealthy {
        /// The deadline given.
        timeout: Duration,
        /// How long was waited.
        elapsed: Duration,
        /// Every object that is not healthy, with its status and message.
        failures: Failures,
    },
    /// Deleting stale objects failed for one or more objects (the others were pruned).
    #[error("prune failed for {} object(s):\n{failures}", failures.0.len())]
    PruneFailed {
        /// Every object that could not be deleted and why.
        failures: Failures,
    },
    /// A label selector is not the owner selector this crate writes.
    #[error("label selector {selector:?}: {reason}")]
    InvalidSelector {
        /// The selector given.
        selector: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Formats a Kubernetes client error as the API server's reason: `Reason (code): message`
/// for API errors, the error's text otherwise.
pub fn server_reason(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                "Failure"
            } else {
                status.reason.as_str()
            };
            format!("{reason} ({}): {}", status.code, status.message)
        }
        other => other.to_string(),
    }
}

/// True when the API server refused a change because it touches an immutable field
/// (`422 Invalid` with "field is immutable", or an immutable selector).
pub(crate) fn is_immutable_field_error(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => {
            status.code == 422
                && (status.message.contains("field is immutable")
                    || status.message.contains("spec.selector"))
        }
        _ => false,
    }
}

/// True when the API server says the object's namespace does not exist.
pub(crate) fn namespace_not_found(error: &kube::Error, namespace: &str) -> bool {
    match error {
        kube::Error::Api(status) => {
            status.code == 404
                && status.details.as_ref().is_some_and(|details| {
                    details.kind == "namespaces" && details.name == namespace
                })
        }
        _ => false,
    }
}
