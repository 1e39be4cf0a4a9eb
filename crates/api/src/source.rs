//! `GitRepository` (`source.driftless.dev/v1`): a git repository and ref to fetch on an interval.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{Artifact, LocalObjectReference, ReconcileRequestStatus};

/// API group of source kinds.
pub const GROUP: &str = "source.driftless.dev";

fn default_timeout() -> String {
    "60s".to_owned()
}

/// Fetches a git repository at a reference on an interval and publishes the resulting tree
/// as an artifact in the shared source cache.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "source.driftless.dev",
    version = "v1",
    kind = "GitRepository",
    plural = "gitrepositories",
    namespaced,
    status = "GitRepositoryStatus",
    shortname = "gitrepo",
    category = "driftless",
    doc = "GitRepository fetches a git repository at a branch, tag, semver range or commit on an interval and publishes the tree as an artifact for Kustomizations.",
    annotation("kustomize.driftless.dev/substitute", "disabled"),
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.url"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    ),
    printcolumn(
        name = "Revision",
        type_ = "string",
        json_path = ".status.artifact.revision"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositorySpec {
    /// URL of the git repository: `https://`, `http://`, `ssh://`, `git://` or `file://`.
    #[schemars(regex(pattern = r"^(http|https|ssh|git|file)://.*$"))]
    pub url: String,

    /// Secret in the same namespace holding credentials: `username` and `password` for basic
    /// auth, or `bearerToken`, over HTTP(S); `identity` and `known_hosts` for SSH; `ca.crt`
    /// for a custom certificate authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,

    /// How often to check the repository for a new revision, e.g. `1m`, `5m0s`.
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: String,

    /// Timeout for git operations (clone, fetch, checkout). Defaults to `60s`.
    #[serde(default = "default_timeout")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"))]
    pub timeout: String,

    /// The git reference to check out. Defaults to the `master` branch, as in Flux.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<GitRepositoryRef>,

    /// Ignore rules in `.gitignore` syntax, applied on top of the repository's `.sourceignore`
    /// files and the default excludes (`.git/`, CI configs, images and archives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,

    /// Stop fetching new revisions. The last artifact stays available. Defaults to false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,

    /// Verify OpenPGP or SSH signatures of the commit (and/or the tag) before it is checked
    /// out. An unsigned or untrusted object is refused (Ready=False naming it) and the last
    /// verified artifact stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<GitRepositoryVerification>,

    /// Directories to check out, e.g. `[charts, ./kustomize]`: only their contents go
    /// into the artifact (paths relative to the repository root; a leading `./` is
    /// trimmed; a directory matches at path component boundaries, so `charts` does not
    /// take `charts2/`). A directory missing from the commit makes the GitRepository
    /// Ready=False naming it; `..`, absolute paths and `.git` are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub sparse_checkout: Vec<String>,

    /// Check out the submodules the commit names (recursively, at most 5 deep and 32 in
    /// all), as in Flux. Every submodule URL (relative ones resolved against `url`, never
    /// above its host) must pass the same URL policy as `url`; the credentials of
    /// `secretRef` are sent only to submodules on the same scheme, host and port as `url`.
    /// Defaults to false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recurse_submodules: bool,

    /// Other GitRepositories of the same namespace whose artifacts are copied into this
    /// one's, each at `toPath`. A new artifact of an included repository makes a new
    /// artifact (digest) here; the revision stays this repository's commit. An include that
    /// does not exist or has no artifact yet makes this one Ready=False
    /// (`IncludeUnavailable`), keeping the last artifact. Self-includes and cycles are
    /// refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub include: Vec<GitRepositoryInclude>,
}

/// `spec.include[]`: which GitRepository's artifact (sub)tree to copy, and where to.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryInclude {
    /// The GitRepository (same namespace) whose artifact is included.
    pub repository: LocalObjectReference,
    /// Path in the included artifact to copy from (a directory or a file); defaults to its
    /// root. Relative, no `..`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from_path: String,
    /// Path in this artifact to copy to; defaults to the included repository's name. It
    /// must not exist in the checkout already. Relative, no `..`, not the root.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub to_path: String,
}

impl GitRepositoryInclude {
    /// `toPath`, or the repository's name when empty (Flux's default).
    pub fn to_path(&self) -> &str {
        if self.to_path.is_empty() {
            &self.repository.name
        } else {
            &self.to_path
        }
    }
}

/// `spec.verify`: which objects must be signed, and by whom.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryVerification {
    /// What to verify: `HEAD` (the commit checked out; `head` is accepted too), `Tag` (the
    /// annotated tag `ref.tag`, `ref.semver` or a `refs/tags/` `ref.name` resolved
    /// through) or `TagAndHEAD` (both). Defaults to `HEAD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<GitVerificationMode>,
    /// Secret in the same namespace with the trusted public keys: armored OpenPGP key rings
    /// under keys ending in `.asc` (or any other key), SSH public keys in `authorized_keys`
    /// format under keys ending in `.sshpub`.
    pub secret_ref: LocalObjectReference,
}

/// `spec.verify.mode`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum GitVerificationMode {
    /// The commit checked out.
    #[default]
    #[serde(rename = "HEAD", alias = "head")]
    Head,
    /// The annotated tag the ref resolved through.
    Tag,
    /// The tag and the commit it points to.
    #[serde(rename = "TagAndHEAD")]
    TagAndHead,
}

/// The git reference to check out. Precedence, as in Flux: `commit`, then `name`,
/// then `semver`, then `tag`, then `branch`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryRef {
    /// Branch to check out; defaults to `master` when no other field is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Tag to check out; takes precedence over `branch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Semver range (e.g. `>=1.0.0 <2.0.0`) over the repository's tags; the highest
    /// matching tag is checked out. Takes precedence over `tag`.
    #[serde(default, rename = "semver", skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// Full reference name, e.g. `refs/heads/main`, `refs/tags/v1`, `refs/pull/42/head`.
    /// Takes precedence over `semver`, `tag` and `branch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Commit SHA to check out; takes precedence over everything. With `branch`, the
    /// branch is fetched and the commit must be on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// Observed state of a GitRepository.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryStatus {
    /// The last generation of the spec the controller acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled, FetchFailed, ArtifactInStorage, (with
    /// `spec.verify`) SourceVerified and (with `spec.include`) IncludeUnavailable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// The artifact of the last successful fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// The ignore rules the current artifact was built with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_ignore: Option<String>,
    /// The artifacts of `spec.include`, in its order, that the current artifact holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included_artifacts: Vec<Artifact>,
    /// The `spec.include` the current artifact was built with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed_include: Vec<GitRepositoryInclude>,
    /// The `spec.recurseSubmodules` the current artifact was built with.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observed_recurse_submodules: bool,
    /// The `spec.sparseCheckout` the current artifact was built with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed_sparse_checkout: Vec<String>,
    /// The `spec.verify.mode` the current artifact was verified with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_verification_mode: Option<GitVerificationMode>,
    /// Last handled reconcile request.
    #[serde(flatten)]
    pub reconcile_request: ReconcileRequestStatus,
}
