//! Driftless source handling: a shared, content-addressed [`SourceCache`] that fetches
//! git repositories with gix into per-URL bare mirrors, resolves Flux `spec.ref`s,
//! checks commits out after ignore rules into artifacts, and serves them as
//! directories (in-process) or deterministic tarballs (HTTP).
//!
//! The reconciler builds a [`FetchRequest`] from a GitRepository spec and calls
//! [`SourceCache::fetch`]; errors map to Flux reasons with [`Error::reason`].

mod auth;
mod cache;
mod checkout;
mod compose;
pub mod digest;
pub mod entry_name;
mod error;
mod git_remote;
mod ignore_rules;
mod limits;
mod lru_index;
mod reference;
pub mod relative_path;
pub mod signature;
pub mod ssh;
pub mod submodules;
mod tar_import;
mod tarball;
pub use tarball::write_tarball;

pub use auth::{BasicAuth, GitAuth};
pub use cache::{
    Artifact, CacheOptions, CacheStats, ComposeRequest, DEFAULT_MIRROR_GRACE, DEFAULT_TIMEOUT,
    FetchRequest, ImportRequest, RemoteRevision, SourceCache, Verification, VerifyMode,
};
pub use compose::IncludedArtifact;
pub use digest::Digest;
pub use error::Error;
pub use ignore_rules::{DEFAULT_EXCLUDES, IgnoreRules, SOURCEIGNORE_FILE};
pub use limits::{
    DEFAULT_MAX_ARTIFACT_BYTES, DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_TREE_DEPTH,
    DEFAULT_MAX_TREE_ENTRIES, FETCH_ALLOC_FLOOR, Limits,
};
pub use lru_index::OwnerKey;
pub use reference::{DEFAULT_BRANCH, GitRef, RemoteRef, highest_semver_tag};
pub use signature::TrustedKeys;
