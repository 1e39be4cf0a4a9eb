//! Reference and artifact types shared by several kinds (Flux's `meta` package).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A reference to an object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct LocalObjectReference {
    /// Name of the referent.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A reference to an object, by name and optional namespace (defaults to the referrer's).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NamespacedObjectReference {
    /// Name of the referent.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the referent; when empty, the namespace of the object holding the reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// A reference to an object of any kind, by apiVersion, kind, name and optional namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedObjectKindReference {
    /// API version of the referent, e.g. `apps/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent, e.g. `Deployment`.
    pub kind: String,
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent; when empty, the namespace of the object holding the reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Kinds a Kustomization or an ImageUpdateAutomation may take its source from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SourceKind {
    /// A `source.driftless.dev/v1` GitRepository.
    #[default]
    GitRepository,
    /// A `source.driftless.dev/v1` OCIRepository (Kustomizations only).
    #[serde(rename = "OCIRepository")]
    OCIRepository,
}

impl SourceKind {
    /// The kind's name, as written in `sourceRef.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::GitRepository => "GitRepository",
            SourceKind::OCIRepository => "OCIRepository",
        }
    }
}

/// A reference to a source object, possibly in another namespace (when the controller allows it).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceSourceReference {
    /// API version of the referent; defaults to `source.driftless.dev/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent: `GitRepository`, or `OCIRepository` for a Kustomization.
    pub kind: SourceKind,
    /// Name of the referent.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the referent; defaults to the namespace of the object holding the reference.
    /// Refused when the controller runs with `--no-cross-namespace-refs` and it differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// The output of a source reconcile: one revision of the source, stored in the source cache.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Path of the artifact relative to the cache's HTTP root:
    /// `<kind>/<namespace>/<name>/<digest>.tar.gz`.
    pub path: String,
    /// HTTP address the artifact tarball is served at by `driftless run`.
    pub url: String,
    /// Human-readable revision of the source, e.g. `main@sha1:<commit>`.
    pub revision: String,
    /// Digest of the artifact's content, `sha256:<hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"))]
    pub digest: Option<String>,
    /// When the artifact last changed, RFC 3339.
    pub last_update_time: String,
    /// Size of the artifact tarball in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Metadata of the upstream source, e.g. an OCI artifact's `org.opencontainers.image.*`
    /// annotations.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// Records the last `reconcile.driftless.dev/requestedAt` value the controller handled.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileRequestStatus {
    /// The value of the requestedAt annotation handled last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}
