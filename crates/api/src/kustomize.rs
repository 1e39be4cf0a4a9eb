//! `Kustomization` (`kustomize.driftless.dev/v1`): build a path of a source's artifact and
//! make the cluster match it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{
    CrossNamespaceSourceReference, LocalObjectReference, NamespacedObjectKindReference,
    ReconcileRequestStatus,
};

/// API group of the Kustomization kind.
pub const GROUP: &str = "kustomize.driftless.dev";

/// Builds a kustomize overlay from a source artifact, applies it with server-side apply,
/// prunes what left git, waits for health and reports status.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "kustomize.driftless.dev",
    version = "v1",
    kind = "Kustomization",
    plural = "kustomizations",
    namespaced,
    status = "KustomizationStatus",
    shortname = "ks",
    category = "driftless",
    doc = "Kustomization builds a path of a GitRepository's artifact with kustomize, applies it with server-side apply, prunes objects removed from git, checks health and corrects drift.",
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
        json_path = ".status.lastAppliedRevision"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationSpec {
    /// Labels and annotations added to every applied object, overriding existing keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_metadata: Option<CommonMetadata>,

    /// Fields other controllers own: for the objects a rule's `target` selects (every object
    /// when it has none), the rule's `paths` are left out of drift detection and correction.
    /// When an existing object has drifted elsewhere, an ignored field that differs is left
    /// out of the apply (another server-side apply manager owns it) or applied with its
    /// in-cluster value, so it is never reverted. Objects are created with the fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub ignore: Vec<IgnoreRule>,

    /// Kustomizations that must be Ready before this one is reconciled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependencyReference>,

    /// Decrypt SOPS-encrypted resources and generator inputs before applying them. Only the
    /// `sops` provider with age keys is supported; the plaintext stays in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decryption: Option<Decryption>,

    /// CEL health checks for custom resources kstatus cannot judge, per apiVersion (group)
    /// and kind. Used when `wait` or `healthChecks` is set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_check_exprs: Vec<CustomHealthCheck>,

    /// Apply, prune, health-check and correct drift in another cluster, with the kubeconfig
    /// of a Secret in this namespace. With `serviceAccountName`, that account (in this
    /// namespace of the remote cluster) is impersonated there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_config: Option<KubeConfigReference>,

    /// How often to reconcile (re-apply and correct drift), e.g. `10m`.
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: String,

    /// How soon to retry after a failed reconcile. Defaults to `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub retry_interval: Option<String>,

    /// Path inside the source artifact to the directory holding `kustomization.yaml`, or the
    /// plain YAML files one is generated for. Defaults to the artifact root. Must stay inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,

    /// Actions on the built manifests before they are applied: variable substitution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_build: Option<PostBuild>,

    /// Delete objects that were applied before and are no longer in the build (garbage
    /// collection). Also decides, on deletion of the Kustomization, whether its objects are
    /// deleted (true) or orphaned (false).
    pub prune: bool,

    /// Objects whose health to check after applying (when `wait` is false).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<NamespacedObjectKindReference>,

    /// Prefix added to the names of all applied objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub name_prefix: Option<String>,

    /// Suffix added to the names of all applied objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub name_suffix: Option<String>,

    /// Strategic merge and JSON 6902 patches, inline, each with an optional target selector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,

    /// Image name, tag and digest overrides, as kustomize's `images` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,

    /// ServiceAccount (in this namespace) to impersonate when building, applying, pruning and
    /// checking health. When empty, the controller's `--default-service-account` applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,

    /// The source whose artifact holds the manifests.
    pub source_ref: CrossNamespaceSourceReference,

    /// Stop reconciling (and correcting drift). Defaults to false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,

    /// Namespace set on every namespaced object, overriding the kustomization's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub target_namespace: Option<String>,

    /// Timeout for the dry-run, apply and health-check steps. Defaults to `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub timeout: Option<String>,

    /// Recreate objects whose immutable fields changed instead of failing. Defaults to false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,

    /// Wait for every applied object to become healthy (then `healthChecks` is ignored).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,

    /// Paths, relative to `path`, of kustomize Components to add to the build.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
}

/// Decryption of SOPS-encrypted manifests.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decryption {
    /// The decryption engine: `sops`.
    pub provider: DecryptionProvider,
    /// Secret (in this namespace) whose `.agekey` entries hold the age identities to decrypt
    /// with. PGP (`.asc`) and cloud KMS entries are refused, naming the key type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
}

/// Decryption engines.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DecryptionProvider {
    /// Mozilla SOPS (age keys).
    #[serde(rename = "sops")]
    Sops,
}

/// CEL expressions judging the health of one kind of custom resource. Each sees the object's
/// top-level fields (`metadata`, `spec`, `status`, …) as variables. Evaluated in the order
/// `inProgress`, `failed`, `current`; the first true one decides.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomHealthCheck {
    /// API version of the custom resource; only its group is matched.
    #[schemars(length(min = 1))]
    pub api_version: String,
    /// Kind of the custom resource; when empty, every kind of the group. An entry with a kind
    /// takes precedence over a group-only entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// CEL expression true when the resource is healthy (Current).
    #[schemars(length(min = 1, max = 4096))]
    pub current: String,
    /// CEL expression true while the resource is still being reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub in_progress: Option<String>,
    /// CEL expression true when the resource failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub failed: Option<String>,
}

/// Where the kubeconfig of a remote cluster is.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubeConfigReference {
    /// Secret (in this namespace) holding a self-contained kubeconfig: client certificates
    /// or a token, no exec or auth-provider plugins, no file paths.
    pub secret_ref: SecretKeyReference,
}

/// A key of a Secret in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyReference {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Data key of the kubeconfig; when empty, `value`, else `value.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Labels and annotations added to every applied object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CommonMetadata {
    /// Annotations to add.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Labels to add.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A Kustomization that must be Ready first.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct DependencyReference {
    /// Name of the Kustomization.
    pub name: String,
    /// Namespace of the Kustomization; defaults to this one's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Variable substitution on the built manifests.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostBuild {
    /// Variables: `${name}` in the manifests becomes the value; `${name:=default}` falls back
    /// to the default; `$${name}` is left as the literal `${name}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub substitute: BTreeMap<String, String>,
    /// ConfigMaps and Secrets (in this namespace) whose data keys are variables.
    /// Inline `substitute` values take precedence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substitute_from: Vec<SubstituteReference>,
}

/// Kinds `substituteFrom` may read.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SubstituteKind {
    /// A ConfigMap's `data`.
    ConfigMap,
    /// A Secret's `data` (decoded).
    Secret,
}

/// A ConfigMap or Secret holding substitution variables.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SubstituteReference {
    /// `ConfigMap` or `Secret`.
    pub kind: SubstituteKind,
    /// Name of the object, in the Kustomization's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Tolerate a missing object (as if it were empty). Defaults to false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// An inline patch with an optional target.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct Patch {
    /// The patch: a strategic merge patch (a partial object) or a JSON 6902 patch (a list of
    /// operations), as YAML or JSON.
    pub patch: String,
    /// Which objects to patch; a strategic merge patch without a target patches the object it names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

/// Selects objects by group, version, kind, name and namespace (anchored regular
/// expressions) and by label and annotation selectors.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// API group, regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// API version, regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Kind, regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name, regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace, regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Annotation selector, in label-selector syntax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,
    /// Label selector, e.g. `app=web,tier!=db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
}

/// Fields to leave out of drift detection and correction, on some or all objects.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct IgnoreRule {
    /// JSON Pointers (RFC 6901) to the ignored fields, e.g. `/spec/replicas`; `/` inside a
    /// key is written `~1` and `~` is written `~0`, as in
    /// `/metadata/annotations/example.com~1owner`. Pointers to the object's identity
    /// (`/apiVersion`, `/kind`, `/metadata/name`, `/metadata/namespace`) or to the owner
    /// labels are refused.
    #[schemars(length(min = 1, max = 64), inner(length(min = 1, max = 1024)))]
    pub paths: Vec<String>,
    /// The objects the rule applies to; every object of the Kustomization when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

/// An image override.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// The image name to match in containers and initContainers (without tag).
    pub name: String,
    /// Replacement image name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// Replacement tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_tag: Option<String>,
    /// Replacement digest (`sha256:…`); takes precedence over `newTag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Observed state of a Kustomization.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationStatus {
    /// The last generation of the spec the controller acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled and Healthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// The source revision applied last with success, e.g. `main@sha1:<commit>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// The source revision of the last reconcile attempt, successful or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// The objects applied by the last successful reconcile: what pruning compares against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<ResourceInventory>,
    /// Last handled reconcile request.
    #[serde(flatten)]
    pub reconcile_request: ReconcileRequestStatus,
}

/// The set of objects a Kustomization applied.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ResourceInventory {
    /// One entry per object.
    #[serde(default)]
    pub entries: Vec<ResourceRef>,
}

/// An applied object: its ID and API version.
#[derive(
    Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
pub struct ResourceRef {
    /// `<namespace>_<name>_<group>_<kind>`; namespace is empty for cluster-scoped objects.
    pub id: String,
    /// The object's API version, e.g. `v1` or `v1beta1`.
    pub v: String,
}

impl ResourceRef {
    /// Builds the inventory ID of an object, as Flux formats it.
    pub fn new(namespace: &str, name: &str, group: &str, kind: &str, version: &str) -> Self {
        ResourceRef {
            id: format!("{namespace}_{name}_{group}_{kind}"),
            v: version.to_owned(),
        }
    }

    /// Splits the ID into (namespace, name, group, kind).
    ///
    /// Names and namespaces cannot contain `_` in Kubernetes, so the split is unambiguous
    /// from the left for namespace and name; the kind never contains `_`.
    pub fn parts(&self) -> Option<(&str, &str, &str, &str)> {
        let mut it = self.id.splitn(3, '_');
        let namespace = it.next()?;
        let name = it.next()?;
        let rest = it.next()?;
        let (group, kind) = rest.rsplit_once('_')?;
        Some((namespace, name, group, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_ids_round_trip() {
        let r = ResourceRef::new("apps", "web", "apps", "Deployment", "v1");
        assert_eq!(r.id, "apps_web_apps_Deployment");
        assert_eq!(r.parts(), Some(("apps", "web", "apps", "Deployment")));
        let core = ResourceRef::new("", "team-a", "", "Namespace", "v1");
        assert_eq!(core.id, "_team-a__Namespace");
        assert_eq!(core.parts(), Some(("", "team-a", "", "Namespace")));
        let crd = ResourceRef::new(
            "",
            "x.example.com",
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "v1",
        );
        assert_eq!(
            crd.parts(),
            Some((
                "",
                "x.example.com",
                "apiextensions.k8s.io",
                "CustomResourceDefinition"
            ))
        );
    }
}
