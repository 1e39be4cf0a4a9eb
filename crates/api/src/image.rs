//! Image automation kinds (`image.driftless.dev/v1`): scan a registry's tags
//! (`ImageRepository`), pick the newest by a policy (`ImagePolicy`) and commit the new tag
//! back to git (`ImageUpdateAutomation`).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{
    CrossNamespaceSourceReference, LocalObjectReference, NamespacedObjectReference,
    ReconcileRequestStatus,
};
use crate::source::GitRepositoryRef;

/// API group of the image kinds.
pub const GROUP: &str = "image.driftless.dev";

fn default_exclusion_list() -> Vec<String> {
    vec![r"^.*\.sig$".to_owned()]
}

/// Scans the tags of an image in an OCI registry on an interval.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "image.driftless.dev",
    version = "v1",
    kind = "ImageRepository",
    plural = "imagerepositories",
    namespaced,
    status = "ImageRepositoryStatus",
    shortname = "imagerepo",
    shortname = "imgrepo",
    category = "driftless",
    doc = "ImageRepository scans the tags of an image in an OCI registry on an interval, for ImagePolicies to choose from.",
    printcolumn(name = "Image", type_ = "string", json_path = ".spec.image"),
    printcolumn(
        name = "Tags",
        type_ = "integer",
        json_path = ".status.lastScanResult.tagCount"
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
        name = "Last scan",
        type_ = "string",
        json_path = ".status.lastScanResult.scanTime",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepositorySpec {
    /// Image to scan, without tag: `registry.example.com/team/web` or `team/web` (Docker Hub).
    #[schemars(length(min = 1))]
    pub image: String,
    /// How often to scan, e.g. `5m`.
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: String,
    /// Timeout of one scan. Defaults to `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"))]
    pub timeout: Option<String>,
    /// A `kubernetes.io/dockerconfigjson` Secret in this namespace with registry credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Stop scanning; the last scan result stays. Defaults to false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Regular expressions of tags to ignore. Defaults to `^.*\.sig$` (cosign signatures).
    #[serde(default = "default_exclusion_list")]
    #[schemars(length(max = 25))]
    pub exclusion_list: Vec<String>,
    /// Allow plain HTTP to the registry. Defaults to false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

/// Result of the last scan.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanResult {
    /// Digest of the scanned tag list; changes when the tags change.
    pub revision: String,
    /// Number of tags found (after the exclusion list).
    pub tag_count: i64,
    /// When the scan finished, RFC 3339.
    pub scan_time: String,
    /// The ten most recent tags in reverse alphabetical order, for a quick look.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latest_tags: Vec<String>,
}

/// Observed state of an ImageRepository.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepositoryStatus {
    /// The last generation of the spec the controller acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling and Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// The image name in canonical form, e.g. `docker.io/library/nginx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_image_name: Option<String>,
    /// The last scan's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan_result: Option<ScanResult>,
    /// The exclusion list the last scan used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed_exclusion_list: Vec<String>,
    /// Last handled reconcile request.
    #[serde(flatten)]
    pub reconcile_request: ReconcileRequestStatus,
}

/// Picks the newest tag of an ImageRepository by a policy.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "image.driftless.dev",
    version = "v1",
    kind = "ImagePolicy",
    plural = "imagepolicies",
    namespaced,
    status = "ImagePolicyStatus",
    shortname = "imagepol",
    shortname = "imgpol",
    category = "driftless",
    doc = "ImagePolicy chooses the newest tag of an ImageRepository by semver range, alphabetical or numerical order, after an optional tag filter.",
    printcolumn(name = "Latest", type_ = "string", json_path = ".status.latestRef.tag"),
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
        name = "Image",
        type_ = "string",
        json_path = ".status.latestRef.name",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ImagePolicySpec {
    /// The ImageRepository whose tags to choose from (same namespace unless the controller allows otherwise).
    pub image_repository_ref: NamespacedObjectReference,
    /// How to order tags; exactly one of `semver`, `alphabetical`, `numerical`.
    pub policy: ImagePolicyChoice,
    /// Keep only tags matching `pattern` and order by the value `extract` builds from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_tags: Option<TagFilter>,
}

/// The ordering policy; exactly one field is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImagePolicyChoice {
    /// The highest tag within a semver range.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "semver")]
    pub semver: Option<SemVerPolicy>,
    /// The first or last tag in alphabetical order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alphabetical: Option<AlphabeticalPolicy>,
    /// The first or last tag in numerical order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerical: Option<NumericalPolicy>,
}

/// Semver policy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SemVerPolicy {
    /// A range such as `>=1.0.0 <2.0.0`, `^1.2`, `~1.2` or `1.x`. Pre-releases only match
    /// when the range names one.
    pub range: String,
}

/// Sort order for alphabetical and numerical policies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// Ascending: the newest is the last.
    #[default]
    Asc,
    /// Descending: the newest is the first.
    Desc,
}

/// Alphabetical policy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct AlphabeticalPolicy {
    /// `asc` (default): the last tag in order wins; `desc`: the first.
    #[serde(default)]
    pub order: SortOrder,
}

/// Numerical policy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NumericalPolicy {
    /// `asc` (default): the highest number wins; `desc`: the lowest.
    #[serde(default)]
    pub order: SortOrder,
}

/// Tag filter.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct TagFilter {
    /// Regular expression a tag must match, with optional named groups, e.g. `^main-[a-f0-9]+-(?P<ts>[0-9]+)$`.
    pub pattern: String,
    /// Value to order by, built from the match's groups, e.g. `$ts`. Defaults to the whole tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<String>,
}

/// A chosen image.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ImageRef {
    /// Image name without tag.
    pub name: String,
    /// The tag.
    pub tag: String,
    /// The manifest digest, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Observed state of an ImagePolicy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImagePolicyStatus {
    /// The last generation of the spec the controller acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling and Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// The image the policy chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_ref: Option<ImageRef>,
    /// The image chosen before the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_previous_ref: Option<ImageRef>,
    /// Last handled reconcile request.
    #[serde(flatten)]
    pub reconcile_request: ReconcileRequestStatus,
}

/// Rewrites image references marked with `# {"$imagepolicy": "<ns>:<policy>"}` in a git
/// repository, commits and pushes.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "image.driftless.dev",
    version = "v1",
    kind = "ImageUpdateAutomation",
    plural = "imageupdateautomations",
    namespaced,
    status = "ImageUpdateAutomationStatus",
    shortname = "iua",
    category = "driftless",
    doc = "ImageUpdateAutomation rewrites the image references marked with $imagepolicy setters in a git repository to the tags the policies chose, then commits and pushes.",
    annotation("kustomize.driftless.dev/substitute", "disabled"),
    printcolumn(
        name = "Last run",
        type_ = "string",
        json_path = ".status.lastAutomationRunTime"
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
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpdateAutomationSpec {
    /// The GitRepository to check out, update and push to.
    pub source_ref: CrossNamespaceSourceReference,
    /// Checkout, commit and push settings.
    pub git: GitSpec,
    /// How often to run, e.g. `5m`.
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: String,
    /// Which ImagePolicies (in this namespace) to apply; all when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::label_selector")]
    pub policy_selector: Option<LabelSelector>,
    /// Where and how to update files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdateStrategy>,
    /// Stop running. Defaults to false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// Git settings of an automation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct GitSpec {
    /// Ref to check out; defaults to the GitRepository's ref.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout: Option<GitCheckoutSpec>,
    /// Commit author and message.
    pub commit: CommitSpec,
    /// Where to push; defaults to the checked-out branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushSpec>,
}

/// Checkout settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct GitCheckoutSpec {
    /// The ref to check out.
    #[serde(rename = "ref")]
    pub reference: GitRepositoryRef,
}

/// Commit settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitSpec {
    /// Commit author.
    pub author: CommitUser,
    /// Message template; `{{ range .Changed.Changes }}` style values list what changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_template: Option<String>,
}

/// A commit author.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CommitUser {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email.
    pub email: String,
}

/// Push settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct PushSpec {
    /// Branch to push to; another branch than the checkout's gives a reviewable branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

/// Update strategies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum UpdateStrategyName {
    /// Rewrite fields marked with `$imagepolicy` setter comments.
    #[default]
    Setters,
}

/// Update settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct UpdateStrategy {
    /// The strategy; only `Setters`.
    #[serde(default)]
    pub strategy: UpdateStrategyName,
    /// Path inside the repository to update; defaults to the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Observed state of an ImageUpdateAutomation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpdateAutomationStatus {
    /// The last generation of the spec the controller acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling and Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// When the automation last ran, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_automation_run_time: Option<String>,
    /// SHA of the last commit pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push_commit: Option<String>,
    /// When the last commit was pushed, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push_time: Option<String>,
    /// The policies applied by the last run, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub observed_policies: BTreeMap<String, ImageRef>,
    /// Last handled reconcile request.
    #[serde(flatten)]
    pub reconcile_request: ReconcileRequestStatus,
}
