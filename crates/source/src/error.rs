//! The one error type of this crate, classifiable into Flux condition reasons.

use std::path::PathBuf;

/// Everything that can go wrong while fetching, checking out or serving a source.
///
/// Messages never contain secrets: URLs are shown with their user info removed and
/// credentials are only ever held by [`crate::GitAuth`], whose `Debug` redacts them.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The remote rejected the credentials (or asked for some and none were given).
    #[error("authentication to {url} failed: {message}")]
    Authentication {
        /// Remote URL (without credentials).
        url: String,
        /// What the transport reported.
        message: String,
    },
    /// The remote could not be reached or the git protocol exchange failed.
    #[error("git operation on {url} failed: {message}")]
    Remote {
        /// Remote URL (without credentials).
        url: String,
        /// What the transport reported.
        message: String,
    },
    /// The URL could not be parsed or uses an unsupported scheme.
    #[error("invalid git URL {url}: {message}")]
    InvalidUrl {
        /// The offending URL (without credentials).
        url: String,
        /// Why it was rejected.
        message: String,
    },
    /// The requested reference does not exist on the remote (or no tag satisfies a semver range).
    #[error("{reference} not found on {url}")]
    ReferenceNotFound {
        /// Remote URL (without credentials).
        url: String,
        /// The reference as the user wrote it, e.g. `branch "main"` or `semver ">=1.0.0"`.
        reference: String,
    },
    /// The reference itself is malformed (e.g. an invalid semver range or commit id).
    #[error("invalid reference: {0}")]
    InvalidReference(String),
    /// The operation took longer than the request's timeout.
    #[error("git operation on {url} timed out after {seconds}s")]
    Timeout {
        /// Remote URL (without credentials).
        url: String,
        /// The timeout that elapsed.
        seconds: u64,
    },
    /// The authentication material was unusable (e.g. an unreadable CA bundle).
    #[error("invalid credentials for {url}: {message}")]
    InvalidAuth {
        /// Remote URL (without credentials).
        url: String,
        /// Why the material was rejected (never the material itself).
        message: String,
    },
    /// Reading the fetched objects from the local mirror failed.
    #[error("reading git objects of {url} from mirror {mirror} failed: {message}")]
    Mirror {
        /// Remote URL (without credentials).
        url: String,
        /// The bare mirror directory.
        mirror: PathBuf,
        /// What failed.
        message: String,
    },
    /// A filesystem operation in the cache directory failed.
    #[error("{action} {path}: {message}")]
    Storage {
        /// What was being done, e.g. `writing`.
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The I/O error text.
        message: String,
    },
    /// A tree entry of the commit has a name that could escape the artifact directory or
    /// plant git metadata in it (see the `entry_name` rules). Nothing was written.
    #[error("commit {commit} of {url}: refusing tree entry \"{path}\": {message}")]
    UnsafeTreeEntry {
        /// Remote URL (without credentials).
        url: String,
        /// The commit holding the entry.
        commit: String,
        /// The entry's path, raw bytes escaped (`\xNN`).
        path: String,
        /// Which rule it breaks.
        message: String,
    },
    /// The commit exceeds one of the configured [`crate::Limits`]. Nothing was written.
    #[error("commit {commit} of {url}: {message}")]
    LimitExceeded {
        /// Remote URL (without credentials).
        url: String,
        /// The commit (empty when the remote's pack was refused before it was resolved).
        commit: String,
        /// Which file or tree, and which limit.
        message: String,
    },
    /// An archive (an OCI layer) holds an entry whose path could escape the artifact
    /// directory or plant git metadata in it. Nothing of the archive was kept.
    #[error("{origin} ({revision}): refusing archive entry \"{path}\": {message}")]
    UnsafeArchiveEntry {
        /// Where the archive came from (URL without credentials).
        origin: String,
        /// The revision it was fetched for.
        revision: String,
        /// The entry's path, raw bytes escaped (`\xNN`).
        path: String,
        /// Which rule it breaks.
        message: String,
    },
    /// An archive is not a gzip-compressed tar, or is truncated.
    #[error("{origin} ({revision}): {message}")]
    Archive {
        /// Where the archive came from (URL without credentials).
        origin: String,
        /// The revision it was fetched for.
        revision: String,
        /// What is wrong with it.
        message: String,
    },
    /// `spec.verify`: a commit or tag is unsigned, or no trusted key signed it. Nothing of
    /// it was checked out.
    #[error("signature verification of {object} of {url} failed: {message}")]
    Verification {
        /// Remote URL (without credentials).
        url: String,
        /// `commit '<sha>'` or `tag '<name>'`.
        object: String,
        /// Flux's reason: `InvalidCommitSignature`, `InvalidTagSignature`,
        /// `InvalidGitObject` or `InvalidVerificationMode`.
        reason: &'static str,
        /// Why.
        message: String,
    },
    /// A `spec.sparseCheckout` directory is missing from the commit (or is a file).
    /// Nothing was checked out.
    #[error("commit {commit} of {url}: sparse checkout dir '{path}' {message}")]
    SparseCheckout {
        /// Remote URL (without credentials).
        url: String,
        /// The commit.
        commit: String,
        /// The directory as normalized.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A path named in the spec (`sparseCheckout`, `include[].fromPath`, `.toPath`) could
    /// leave the artifact root or name git metadata. Nothing was read or written.
    #[error("{field} '{path}': {message}")]
    IllegalPath {
        /// The spec field, e.g. `spec.sparseCheckout[1]`.
        field: String,
        /// The path as written (control characters escaped).
        path: String,
        /// Which rule it breaks.
        message: String,
    },
    /// Copying an included artifact (`spec.include`) into this one failed.
    #[error("failed to copy '{include}' include from '{from_path}' to '{to_path}': {message}")]
    Include {
        /// The included GitRepository's name.
        include: String,
        /// `fromPath` (normalized; empty for the root).
        from_path: String,
        /// `toPath` (normalized).
        to_path: String,
        /// What went wrong.
        message: String,
    },
    /// `spec.recurseSubmodules`: a submodule could not be resolved, was refused by the URL
    /// policy, or its commit is missing. Nothing was checked out.
    #[error("submodule '{path}' of {url}: {message}")]
    Submodule {
        /// The superproject's URL (without credentials).
        url: String,
        /// The submodule's path in the artifact.
        path: String,
        /// What went wrong (names the submodule URL).
        message: String,
        /// `URLNotAllowed` for a policy refusal, else `GitOperationFailed`.
        reason: &'static str,
    },
    /// The artifact is not (or no longer) in the cache.
    #[error("artifact {0} is not in the source cache")]
    ArtifactNotFound(String),
    /// A worker thread running blocking git work panicked or was cancelled.
    #[error("background git task failed: {0}")]
    Task(String),
}

impl Error {
    /// The Flux condition reason this error maps to (`AuthenticationFailed`,
    /// `GitOperationFailed`, `URLInvalid`, `StorageOperationFailed`, …).
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Authentication { .. } | Error::InvalidAuth { .. } => "AuthenticationFailed",
            Error::Remote { .. }
            | Error::ReferenceNotFound { .. }
            | Error::SparseCheckout { .. }
            | Error::Timeout { .. }
            | Error::Mirror { .. }
            | Error::Task(_) => "GitOperationFailed",
            Error::InvalidUrl { .. } => "URLInvalid",
            Error::InvalidReference(_) => "InvalidReference",
            Error::Storage { .. } | Error::ArtifactNotFound(_) => "StorageOperationFailed",
            Error::UnsafeTreeEntry { .. } => "UnsafeTreeEntry",
            Error::UnsafeArchiveEntry { .. } => "UnsafeArchiveEntry",
            Error::Archive { .. } => "ArchiveInvalid",
            Error::Verification { reason, .. } => reason,
            Error::LimitExceeded { .. } => "LimitExceeded",
            Error::IllegalPath { .. } => "IllegalPath",
            Error::Include { .. } => "CopyFailure",
            Error::Submodule { reason, .. } => reason,
        }
    }

    /// Whether retrying later without changing the spec may help (network trouble,
    /// timeouts, storage hiccups) as opposed to a spec or credential problem.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Remote { .. }
                | Error::Timeout { .. }
                | Error::Storage { .. }
                | Error::Task(_)
                | Error::Mirror { .. }
        )
    }

    /// Check and normalize a spec path (see [`crate::relative_path`]).
    pub(crate) fn checked_path(field: String, raw: &str) -> Result<String, Error> {
        crate::relative_path::normalize(raw).map_err(|why| Error::IllegalPath {
            field,
            path: raw.escape_debug().to_string(),
            message: why.to_string(),
        })
    }

    /// Build a [`Error::Storage`] from an I/O error.
    pub(crate) fn storage(
        action: &'static str,
        path: impl Into<PathBuf>,
        err: impl std::fmt::Display,
    ) -> Self {
        Error::Storage {
            action,
            path: path.into(),
            message: err.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_follow_flux() {
        let auth = Error::Authentication {
            url: "https://x/y".into(),
            message: "401".into(),
        };
        assert_eq!(auth.reason(), "AuthenticationFailed");
        assert!(!auth.is_transient());
        let missing = Error::ReferenceNotFound {
            url: "https://x/y".into(),
            reference: "branch \"nope\"".into(),
        };
        assert_eq!(missing.reason(), "GitOperationFailed");
        assert!(missing.to_string().contains("branch \"nope\""));
        let down = Error::Remote {
            url: "git://127.0.0.1:1/x".into(),
            message: "connection refused".into(),
        };
        assert!(down.is_transient());
        assert_eq!(
            Error::storage("writing", "/a/b", "disk full").reason(),
            "StorageOperationFailed"
        );
        let unsafe_entry = Error::UnsafeTreeEntry {
            url: "git://127.0.0.1/x".into(),
            commit: "abc".into(),
            path: "../x".into(),
            message: "no".into(),
        };
        assert_eq!(unsafe_entry.reason(), "UnsafeTreeEntry");
        assert!(!unsafe_entry.is_transient());
        assert!(unsafe_entry.to_string().contains("\"../x\""));
        let too_big = Error::LimitExceeded {
            url: "git://127.0.0.1/x".into(),
            commit: "abc".into(),
            message: "big.bin is 20 bytes".into(),
        };
        assert_eq!(too_big.reason(), "LimitExceeded");
        assert!(!too_big.is_transient());
    }
}
