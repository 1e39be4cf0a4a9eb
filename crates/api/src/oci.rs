//! `OCIRepository` (`source.driftless.dev/v1`): an OCI artifact (as `flux push artifact` or
//! `driftless push artifact` writes it) to pull on an interval.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{Artifact, LocalObjectReference, ReconcileRequestStatus};

fn default_timeout() -> String {
    "60s".to_owned()
}

/// Pulls an OCI artifact from a container registry on an interval and publishes the
/// content of one of its layers as an artifact in the shared source cache.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "source.driftless.dev",
    version = "v1",
    kind = "OCIRepository",
    plural = "ocirepositories",
    namespaced,
    status = "OCIRepositoryStatus",
    shortname = "ocirepo",
    category = "driftless",
    doc = "OCIRepository pulls an OCI artifact (a tag, semver range or digest of a repository in a container registry) on an interval and publishes the content of its layer as an artifact for Kustomizations.",
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
pub struct OCIRepositorySpec {
    /// Address of the repository: `oci://<host>[:<port>]/<path>`, without tag or digest
    /// (`spec.ref` chooses them).
    #[schemars(regex(pattern = r"^oci://.*$"))]
    pub url: String,

    /// The tag, semver range or digest to pull. Defaults to the `latest` tag.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<OCIRepositoryRef>,

    /// Which layer to take the content from, and how. Defaults to extracting the first layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_selector: Option<OCILayerSelector>,

    /// How to authenticate: only `generic` (anonymous, or `spec.secretRef`) is supported;
    /// `aws`, `azure` and `gcp` (workload identity) are refused with a Stalled condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<OCIProvider>,

    /// A `kubernetes.io/dockerconfigjson` Secret in the same namespace with credentials for
    /// the registry (as `kubectl create secret docker-registry` writes it). Credentials are
    /// only sent to the registry's own scheme, host and port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,

    /// Signature verification (Flux: cosign or notation). Not supported by Driftless yet: an
    /// OCIRepository with `verify` is refused (Ready=False, Stalled) and nothing is pulled,
    /// rather than pulled unverified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<OCIRepositoryVerification>,

    /// Connect over plain HTTP instead of HTTPS. Defaults to false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,

    /// How often to check the repository for a new digest, e.g. `1m`, `5m0s`.
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: String,

    /// Timeout for registry operations (resolving, pulling). Defaults to `60s`.
    #[serde(default = "default_timeout")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"))]
    pub timeout: String,

    /// Ignore rules in `.gitignore` syntax, applied on top of the artifact's `.sourceignore`
    /// files and the default excludes when the layer is extracted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,

    /// Stop pulling new digests. The last artifact stays available. Defaults to false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// The OCI reference to pull. Precedence, as in Flux: `digest`, then `semver`, then `tag`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositoryRef {
    /// Digest of the manifest to pull, `sha256:<hex>`; takes precedence over everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Semver range (e.g. `>=1.0.0 <2.0.0`) over the repository's tags; the highest matching
    /// tag is pulled. Takes precedence over `tag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// Regular expression the tags must match to be considered by `semver`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver_filter: Option<String>,
    /// Tag to pull. Defaults to `latest` when no other field is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// Which layer of the artifact to use.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCILayerSelector {
    /// Media type of the layer to use; the first layer with this type is taken. Defaults to
    /// the first layer. The layer must be a gzip-compressed tar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// `extract` (default) unpacks the layer into the artifact; `copy` also unpacks it for
    /// Kustomizations, and serves the layer's own bytes unchanged as the artifact tarball.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OCILayerOperation>,
}

/// What to do with the selected layer.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OCILayerOperation {
    /// Unpack the layer.
    #[default]
    Extract,
    /// Keep the layer's bytes as the artifact tarball.
    Copy,
}

/// Authentication providers, as in Flux.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OCIProvider {
    /// Anonymous or `spec.secretRef` credentials.
    #[default]
    Generic,
    /// AWS ECR workload identity (not supported: refused).
    Aws,
    /// Azure ACR workload identity (not supported: refused).
    Azure,
    /// GCP Artifact Registry workload identity (not supported: refused).
    Gcp,
}

/// Flux's signature verification settings; accepted by the schema so that Flux manifests
/// apply, and refused by the controller (verification is not implemented yet).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositoryVerification {
    /// `cosign` or `notation`.
    pub provider: String,
    /// Secret with the trusted public keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// OIDC identities for keyless verification.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_oidc_identity: Vec<OIDCIdentityMatch>,
}

/// An OIDC issuer and subject (regular expressions) for keyless verification.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OIDCIdentityMatch {
    /// Regular expression matching the OIDC issuer.
    pub issuer: String,
    /// Regular expression matching the identity's subject.
    pub subject: String,
}

/// Observed state of an OCIRepository.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositoryStatus {
    /// The last generation of the spec the controller acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled, FetchFailed and ArtifactInStorage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// The artifact of the last successful pull; `revision` is `<tag>@sha256:<manifest
    /// digest>` (or `sha256:<digest>` for `ref.digest`), `metadata` the manifest's annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// The ignore rules the current artifact was built with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_ignore: Option<String>,
    /// The layer selector the current artifact was built with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_layer_selector: Option<OCILayerSelector>,
    /// Last handled reconcile request.
    #[serde(flatten)]
    pub reconcile_request: ReconcileRequestStatus,
}

/// Annotations of a manifest as kept in `status.artifact.metadata`.
pub type ArtifactMetadata = BTreeMap<String, String>;
