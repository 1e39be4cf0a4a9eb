use thiserror::Error;

/// Errors of the Kustomization reconciler. Each names what failed: the source, the file or
/// field of a build, the object of an apply.
#[derive(Debug, Error)]
pub enum Error {
    /// A call to the API server (as the controller) failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done.
        action: String,
        /// The API error.
        source: kube::Error,
    },
    /// The source or a dependency is not ready yet; retried soon, not a failure of the spec.
    #[error("{0}")]
    DependencyNotReady(String),
    /// A reference the controller's lockdown flags forbid.
    #[error("{0}")]
    AccessDenied(String),
    /// The spec is unusable (path outside the artifact, …): only a spec change helps.
    #[error("{0}")]
    InvalidSpec(String),
    /// A `spec.ignore` rule is unusable (a bad JSON Pointer, regex or selector, an identity
    /// path, too many rules): only a spec change helps.
    #[error("invalid ignore rule: {0}")]
    InvalidIgnoreRule(#[from] driftless_apply::IgnoreRuleError),
    /// `spec.path` is missing from this revision: a later commit may add it.
    #[error("{0}")]
    MissingPath(String),
    /// The kustomize build failed.
    #[error("kustomize build failed: {0}")]
    Build(String),
    /// `postBuild` substitution failed.
    #[error("post-build substitution failed for {object}: {message}")]
    Substitution {
        /// `Kind/namespace/name`.
        object: String,
        /// What went wrong.
        message: String,
    },
    /// A `substituteFrom` object is missing or unreadable.
    #[error("{0}")]
    SubstituteFrom(String),
    /// SOPS decryption failed (keys, a file's recipients or MAC, an unsupported key type).
    #[error("decryption failed: {0}")]
    Decryption(String),
    /// `spec.kubeConfig` is unusable: Secret or key missing, invalid or refused kubeconfig.
    #[error("{0}")]
    KubeConfig(String),
    /// The remote cluster of `spec.kubeConfig` does not answer.
    #[error("{0}")]
    RemoteUnreachable(String),
    /// Dry-run, apply, prune or health checks failed.
    #[error(transparent)]
    Apply(#[from] driftless_apply::ApplyError),
    /// The finalizer machinery failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// The process is shutting down: a health wait stopped early (retried after restart).
    #[error("interrupted by shutdown while waiting for health checks")]
    Interrupted,
}

impl Error {
    /// The Flux condition reason for this error.
    pub fn reason(&self) -> &'static str {
        use driftless_api::condition::reason;
        match self {
            Error::Kube { .. } | Error::Finalizer(_) | Error::Interrupted => {
                reason::RECONCILIATION_FAILED
            }
            Error::DependencyNotReady(_) => reason::DEPENDENCY_NOT_READY,
            Error::KubeConfig(_) | Error::RemoteUnreachable(_) => reason::RECONCILIATION_FAILED,
            Error::AccessDenied(_) => reason::ACCESS_DENIED,
            Error::InvalidSpec(_) | Error::MissingPath(_) => reason::ARTIFACT_FAILED,
            Error::InvalidIgnoreRule(_) => reason::INVALID_SPEC,
            Error::Build(_)
            | Error::Substitution { .. }
            | Error::SubstituteFrom(_)
            | Error::Decryption(_) => reason::BUILD_FAILED,
            Error::Apply(e) => match e {
                driftless_apply::ApplyError::Unhealthy { .. } => reason::HEALTH_CHECK_FAILED,
                driftless_apply::ApplyError::PruneFailed { .. } => reason::PRUNE_FAILED,
                _ => reason::RECONCILIATION_FAILED,
            },
        }
    }
}
