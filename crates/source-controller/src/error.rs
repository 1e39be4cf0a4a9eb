use thiserror::Error;

/// Errors of the GitRepository reconciler.
#[derive(Debug, Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done.
        action: String,
        /// The API error.
        source: kube::Error,
    },
    /// The spec is unusable (bad duration, …).
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// `spec.url` is refused by the URL policy; nothing connected to it.
    #[error("{message}")]
    UrlNotAllowed {
        /// The refusal, naming the field and the rule.
        message: String,
        /// Refused for what the host resolved to (may change) rather than as written.
        resolved: bool,
    },
    /// The host of `spec.url` could not be resolved for the `--denied-cidrs` check.
    #[error("{0}")]
    Resolve(String),
    /// The secret named by `spec.secretRef` is missing or unusable.
    #[error("{0}")]
    Credentials(String),
    /// Fetching or storing the source failed.
    #[error(transparent)]
    Source(#[from] driftless_source::Error),
    /// The finalizer machinery failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl Error {
    /// The Flux condition reason for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube { .. } | Error::Finalizer(_) => "ReconciliationFailed",
            Error::InvalidSpec(_) => driftless_api::condition::reason::INVALID_SPEC,
            Error::UrlNotAllowed { .. } => driftless_runtime::url_policy::URL_NOT_ALLOWED,
            Error::Resolve(_) => driftless_api::condition::reason::GIT_OPERATION_FAILED,
            Error::Credentials(_) => driftless_api::condition::reason::AUTHENTICATION_FAILED,
            Error::Source(e) => e.reason(),
        }
    }
}

impl From<driftless_runtime::RuntimeError> for Error {
    fn from(error: driftless_runtime::RuntimeError) -> Self {
        match error {
            driftless_runtime::RuntimeError::UrlNotAllowed { resolved, .. } => {
                Error::UrlNotAllowed {
                    message: error.to_string(),
                    resolved,
                }
            }
            other => Error::Resolve(other.to_string()),
        }
    }
}
