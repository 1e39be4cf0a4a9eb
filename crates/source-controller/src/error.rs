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
            Error::Credentials(_) => driftless_api::condition::reason::AUTHENTICATION_FAILED,
            Error::Source(e) => e.reason(),
        }
    }
}
