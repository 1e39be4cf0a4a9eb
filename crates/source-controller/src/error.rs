use thiserror::Error;

/// Flux's reason when pulling an OCI artifact fails.
pub const OCI_PULL_FAILED: &str = "OCIArtifactPullFailed";
/// Flux's reason when the selected layer cannot be used.
pub const OCI_LAYER_OPERATION_FAILED: &str = "OCIArtifactLayerOperationFailed";

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
    /// The trusted keys of `spec.verify` are missing or unusable.
    #[error("{0}")]
    Verification(String),
    /// A registry operation of an OCIRepository failed.
    #[error(transparent)]
    Registry(#[from] driftless_oci::Error),
    /// The OCI artifact has no layer the spec can use.
    #[error("{0}")]
    Layer(String),
    /// A `spec.include` repository does not exist or has no artifact yet (Flux's
    /// `IncludeUnavailable`); retried, and requeued when it gets one.
    #[error("{message}")]
    IncludeUnavailable {
        /// `NotFound` or `NoArtifact`, as in Flux.
        reason: &'static str,
        /// Names the include.
        message: String,
    },
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
            Error::Registry(e) => {
                use driftless_oci::Error as Oci;
                match e {
                    Oci::InvalidImage { .. } => driftless_api::condition::reason::URL_INVALID,
                    Oci::Authentication { .. } | Oci::Credentials { .. } => {
                        driftless_api::condition::reason::AUTHENTICATION_FAILED
                    }
                    Oci::UrlNotAllowed { .. } => driftless_runtime::url_policy::URL_NOT_ALLOWED,
                    Oci::NotFound { .. }
                    | Oci::Registry { .. }
                    | Oci::Content { .. }
                    | Oci::Io { .. } => OCI_PULL_FAILED,
                }
            }
            Error::Layer(_) => OCI_LAYER_OPERATION_FAILED,
            Error::Verification(_) => "VerificationError",
            Error::IncludeUnavailable { reason, .. } => reason,
        }
    }

    /// Whether only a spec change can help (the object is Stalled).
    pub fn is_stalling(&self) -> bool {
        match self {
            Error::InvalidSpec(_) => true,
            Error::UrlNotAllowed { resolved, .. } => !resolved,
            Error::Source(e) => matches!(
                e,
                driftless_source::Error::InvalidUrl { .. }
                    | driftless_source::Error::InvalidReference(_)
                    | driftless_source::Error::IllegalPath { .. }
                    | driftless_source::Error::Verification {
                        reason: "InvalidVerificationMode",
                        ..
                    }
            ),
            Error::Registry(e) => matches!(
                e,
                driftless_oci::Error::InvalidImage { .. }
                    | driftless_oci::Error::UrlNotAllowed {
                        resolved: false,
                        ..
                    }
            ),
            _ => false,
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
