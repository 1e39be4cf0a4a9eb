use thiserror::Error;

/// Errors of the image controllers: bad specs, registry failures, setter and git failures.
#[derive(Debug, Error)]
pub enum Error {
    /// A semver range could not be parsed.
    #[error("{field}: invalid semver range '{range}': {reason}")]
    InvalidRange {
        /// The field holding the range, e.g. `spec.policy.semver.range`.
        field: String,
        /// The range as written.
        range: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A regular expression could not be compiled.
    #[error("{field}: invalid regular expression '{pattern}': {reason}")]
    InvalidRegex {
        /// The field holding the expression, e.g. `spec.filterTags.pattern`.
        field: String,
        /// The expression as written.
        pattern: String,
        /// The compiler's message.
        reason: String,
    },
    /// The spec is unusable for another reason (no policy chosen, bad duration, …).
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// A numerical policy met a tag that is not a number.
    #[error(
        "numerical policy: tag '{tag}' (ordered by '{value}') is not a number; use spec.filterTags to keep only numeric tags"
    )]
    NotANumber {
        /// The tag.
        tag: String,
        /// The value it is ordered by (the tag or what `extract` built from it).
        value: String,
    },
    /// An image reference could not be parsed.
    #[error("spec.image: invalid image name '{image}': {reason}")]
    InvalidImage {
        /// The image as written.
        image: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The registry refused the credentials (or asked for some and there were none).
    #[error("registry {registry}: authentication failed: {reason}")]
    Authentication {
        /// Registry host.
        registry: String,
        /// What the registry answered.
        reason: String,
    },
    /// The git remote refused the credentials (an ssh key it does not know).
    #[error("{operation}: authentication failed: {message}")]
    GitAuthentication {
        /// What was being done, e.g. `git fetch from origin (branch main)`.
        operation: String,
        /// What ssh or git reported (never key material).
        message: String,
    },
    /// A registry request failed.
    #[error("registry request {url}: {reason}")]
    Registry {
        /// The URL requested.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// Registry credentials in a secret are unusable.
    #[error("secret '{secret}': {reason}")]
    Credentials {
        /// `namespace/name` of the secret.
        secret: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setter marker is malformed or names a policy that does not exist.
    #[error("{file}:{line}: {reason}")]
    Setter {
        /// File, relative to the update path's repository root.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A file or directory could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A git command failed.
    #[error("{operation} failed: {message}")]
    Git {
        /// The operation, e.g. `git push to origin (branch main)`; never the URL.
        operation: String,
        /// The line of git's error output that says why, URL credentials redacted.
        message: String,
    },
    /// A URL (the GitRepository's, the registry's, a redirect or `Link` target) is refused
    /// by the URL policy; nothing connected to it.
    #[error("{message}")]
    UrlNotAllowed {
        /// The refusal, naming the field and the rule.
        message: String,
        /// Refused for what the host resolved to (may change) rather than as written.
        resolved: bool,
    },
    /// A push was rejected again after fetching and rebasing onto the remote.
    #[error("push to branch '{branch}' rejected: {message}")]
    PushRejected {
        /// The branch pushed to.
        branch: String,
        /// What the remote said.
        message: String,
    },
    /// A call to the API server failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done.
        action: String,
        /// The API error.
        source: kube::Error,
    },
    /// A cross-namespace reference while the controller forbids them.
    #[error("{0}")]
    AccessDenied(String),
    /// A referenced object is missing or not ready.
    #[error("{0}")]
    DependencyNotReady(String),
    /// The finalizer machinery failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl Error {
    /// The Flux condition reason for this error.
    pub fn reason(&self) -> &'static str {
        use driftless_api::condition::reason;
        match self {
            Error::InvalidRange { .. }
            | Error::InvalidRegex { .. }
            | Error::InvalidSpec(_)
            | Error::InvalidImage { .. } => reason::INVALID_SPEC,
            Error::Authentication { .. }
            | Error::GitAuthentication { .. }
            | Error::Credentials { .. } => reason::AUTHENTICATION_FAILED,
            Error::Registry { .. } => reason::REGISTRY_OPERATION_FAILED,
            Error::Git { .. } | Error::PushRejected { .. } => reason::GIT_OPERATION_FAILED,
            Error::UrlNotAllowed { .. } => driftless_runtime::url_policy::URL_NOT_ALLOWED,
            Error::DependencyNotReady(_) => reason::DEPENDENCY_NOT_READY,
            Error::AccessDenied(_) => reason::ACCESS_DENIED,
            Error::NotANumber { .. } | Error::Setter { .. } | Error::Io { .. } => {
                reason::RECONCILIATION_FAILED
            }
            Error::Kube { .. } | Error::Finalizer(_) => reason::RECONCILIATION_FAILED,
        }
    }

    /// Whether the error will not go away until the spec changes (the object is Stalled).
    pub fn is_stalling(&self) -> bool {
        matches!(
            self,
            Error::InvalidRange { .. }
                | Error::InvalidRegex { .. }
                | Error::InvalidSpec(_)
                | Error::InvalidImage { .. }
                | Error::AccessDenied(_)
                | Error::UrlNotAllowed {
                    resolved: false,
                    ..
                }
        )
    }

    /// The error for a refusal of the URL policy (other runtime errors, such as a failed
    /// resolution, are registry failures of the URL in question), as the OCI client maps it.
    pub fn from_url_refusal(error: &driftless_runtime::RuntimeError) -> Error {
        driftless_oci::Error::from_url_refusal(error).into()
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl AsRef<std::path::Path>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.as_ref().display().to_string();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

impl From<driftless_oci::Error> for Error {
    fn from(error: driftless_oci::Error) -> Self {
        use driftless_oci::Error as Oci;
        match error {
            Oci::InvalidImage { image, reason, .. } => Error::InvalidImage { image, reason },
            Oci::Authentication { registry, reason } => Error::Authentication { registry, reason },
            Oci::Registry { url, reason } => Error::Registry { url, reason },
            Oci::Credentials { secret, reason } => Error::Credentials { secret, reason },
            Oci::UrlNotAllowed { message, resolved } => Error::UrlNotAllowed { message, resolved },
            other @ (Oci::NotFound { .. } | Oci::Content { .. } | Oci::Io { .. }) => {
                Error::Registry {
                    url: String::new(),
                    reason: other.to_string(),
                }
            }
        }
    }
}

impl From<driftless_runtime::RuntimeError> for Error {
    fn from(error: driftless_runtime::RuntimeError) -> Self {
        Error::from_url_refusal(&error)
    }
}
