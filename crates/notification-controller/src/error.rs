use thiserror::Error;

/// Errors of the notification controller.
#[derive(Debug, Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done, naming the object.
        action: String,
        /// The API error.
        source: kube::Error,
    },
    /// The spec of an object is unusable; the message names the object and field.
    #[error("{0}")]
    InvalidSpec(String),
    /// A Secret named by `spec.secretRef` is missing or lacks a key.
    #[error("{0}")]
    Secret(String),
    /// A notification could not be delivered (the message never contains secrets).
    #[error("delivering to Provider {provider}: {reason}")]
    Delivery {
        /// `<namespace>/<name>` of the Provider.
        provider: String,
        /// What failed.
        reason: String,
    },
    /// The finalizer machinery failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl Error {
    /// The Flux condition reason for this error.
    pub fn reason(&self) -> &'static str {
        use driftless_api::condition::reason;
        match self {
            Error::Kube { .. } | Error::Finalizer(_) | Error::Delivery { .. } => {
                reason::RECONCILIATION_FAILED
            }
            Error::InvalidSpec(_) => reason::INVALID_SPEC,
            Error::Secret(_) => "SecretNotFound",
        }
    }
}
