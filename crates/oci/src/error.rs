use thiserror::Error;

/// Errors of registry operations. Messages never carry credentials nor the registry's
/// free-text error bodies (only status codes and well-formed OCI error codes).
#[derive(Debug, Error)]
pub enum Error {
    /// An image or repository reference could not be parsed.
    #[error("{field}: invalid image name '{image}': {reason}")]
    InvalidImage {
        /// The field holding it, e.g. `spec.image` or `spec.url`.
        field: String,
        /// The reference as written.
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
    /// A registry request failed.
    #[error("registry request {url}: {reason}")]
    Registry {
        /// The URL requested.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A tag or digest the request names does not exist in the repository.
    #[error("{what} not found in {repository}: {reason}")]
    NotFound {
        /// `tag 'v1'` or `digest 'sha256:…'`.
        what: String,
        /// `registry/repository`.
        repository: String,
        /// The registry's answer (status and OCI error codes).
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
    /// A URL (the registry's, a redirect, `Link` or token realm) is refused by the URL
    /// policy; nothing connected to it.
    #[error("{message}")]
    UrlNotAllowed {
        /// The refusal, naming the field and the rule.
        message: String,
        /// Refused for what the host resolved to (may change) rather than as written.
        resolved: bool,
    },
    /// A manifest or blob is malformed, over a limit, or does not match its digest.
    #[error("{what}: {reason}")]
    Content {
        /// The manifest or blob, e.g. `manifest sha256:…` or `layer sha256:…`.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Error {
    /// The error for a refusal of the URL policy (other runtime errors, such as a failed
    /// resolution, are registry failures of the URL in question).
    pub fn from_url_refusal(error: &driftless_runtime::RuntimeError) -> Error {
        match error {
            driftless_runtime::RuntimeError::UrlNotAllowed { resolved, .. } => {
                Error::UrlNotAllowed {
                    message: error.to_string(),
                    resolved: *resolved,
                }
            }
            other => Error::Registry {
                url: String::new(),
                reason: other.to_string(),
            },
        }
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

impl From<driftless_runtime::RuntimeError> for Error {
    fn from(error: driftless_runtime::RuntimeError) -> Self {
        Error::from_url_refusal(&error)
    }
}
