//! Resource identity: group/version/kind plus name and namespace, as kustomize compares them.

use serde_json::{Map, Value};

/// Namespace kustomize uses for objects without one.
pub(crate) const DEFAULT_NAMESPACE: &str = "default";
/// Stand-in namespace of cluster-scoped objects.
pub(crate) const CLUSTER_NAMESPACE: &str = "_non_namespaceable_";

/// True for the kinds of the Kubernetes API served without a namespace, by
/// API group and kind (kustomize's built-in schema): a custom resource that
/// merely shares a kind name (`servicebus.azure.com` `Namespace`) is namespaced.
pub(crate) fn is_cluster_scoped_kind(group: &str, kind: &str) -> bool {
    match group {
        "" => matches!(
            kind,
            "ComponentStatus" | "Namespace" | "Node" | "NodeProxyOptions" | "PersistentVolume"
        ),
        "admissionregistration.k8s.io" => {
            kind == "MutatingWebhookConfiguration" || kind == "ValidatingWebhookConfiguration"
        }
        "apiextensions.k8s.io" => kind == "CustomResourceDefinition",
        "apiregistration.k8s.io" => kind == "APIService",
        "authentication.k8s.io" => kind == "TokenReview",
        "authorization.k8s.io" => matches!(
            kind,
            "SelfSubjectAccessReview" | "SelfSubjectRulesReview" | "SubjectAccessReview"
        ),
        "certificates.k8s.io" => kind == "CertificateSigningRequest",
        "flowcontrol.apiserver.k8s.io" => {
            kind == "FlowSchema" || kind == "PriorityLevelConfiguration"
        }
        "networking.k8s.io" => kind == "IngressClass",
        "node.k8s.io" => kind == "RuntimeClass",
        "policy" => kind == "PodSecurityPolicy",
        "rbac.authorization.k8s.io" => kind == "ClusterRole" || kind == "ClusterRoleBinding",
        "scheduling.k8s.io" => kind == "PriorityClass",
        "storage.k8s.io" => matches!(
            kind,
            "CSIDriver" | "CSINode" | "StorageClass" | "VolumeAttachment"
        ),
        _ => false,
    }
}

/// The API group of an apiVersion (`apps/v1` -> `apps`, `v1` -> ``).
pub(crate) fn group_of(api_version: &str) -> &str {
    match api_version.find('/') {
        Some(i) => &api_version[..i],
        None => "",
    }
}

/// Borrowed identity key of an object (apiVersion, kind, name, effective
/// namespace): equal keys mean kustomize considers the objects the same.
pub(crate) fn id_key(obj: &Map<String, Value>) -> (&str, &str, &str, &str) {
    fn text(v: Option<&Value>) -> &str {
        v.and_then(Value::as_str).unwrap_or("")
    }
    let kind = text(obj.get("kind"));
    let meta = obj.get("metadata").and_then(Value::as_object);
    let name = text(meta.and_then(|m| m.get("name")));
    let namespace = text(meta.and_then(|m| m.get("namespace")));
    let api_version = text(obj.get("apiVersion"));
    let effective = if is_cluster_scoped_kind(group_of(api_version), kind) {
        CLUSTER_NAMESPACE
    } else if namespace.is_empty() {
        DEFAULT_NAMESPACE
    } else {
        namespace
    };
    (api_version, kind, name, effective)
}

/// Group, version and kind of an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    /// Splits an apiVersion into group and version.
    pub fn from_api_version(api_version: &str, kind: &str) -> Gvk {
        let (group, version) = match api_version.find('/') {
            Some(i) => (&api_version[..i], &api_version[i + 1..]),
            None => ("", api_version),
        };
        Gvk {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
        }
    }

    /// True when `selector`'s non-empty fields all equal ours.
    pub fn is_selected_by(&self, selector: &Gvk) -> bool {
        (selector.group.is_empty() || selector.group == self.group)
            && (selector.version.is_empty() || selector.version == self.version)
            && (selector.kind.is_empty() || selector.kind == self.kind)
    }

    /// True for kinds served without a namespace.
    pub fn is_cluster_scoped(&self) -> bool {
        is_cluster_scoped_kind(&self.group, &self.kind)
    }

    /// kustomize's `Kind.version.group` rendering.
    pub fn display(&self) -> String {
        let or = |s: &str, d: &str| {
            if s.is_empty() {
                d.to_string()
            } else {
                s.to_string()
            }
        };
        format!(
            "{}.{}.{}",
            or(&self.kind, "[noKind]"),
            or(&self.version, "[noVer]"),
            or(&self.group, "[noGrp]")
        )
    }
}

/// Identity of an object: kind plus name and namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct ResId {
    pub gvk: Gvk,
    pub name: String,
    pub namespace: String,
}

impl ResId {
    /// The identity of a JSON object.
    pub fn of(obj: &Map<String, Value>) -> ResId {
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let meta = obj.get("metadata").and_then(Value::as_object);
        let field = |k: &str| {
            meta.and_then(|m| m.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        ResId {
            gvk: Gvk::from_api_version(api_version, kind),
            name: field("name"),
            namespace: field("namespace"),
        }
    }

    /// The namespace used for comparisons: `default` for an empty one,
    /// a marker for cluster-scoped kinds.
    pub fn effective_namespace(&self) -> &str {
        if self.gvk.is_cluster_scoped() {
            CLUSTER_NAMESPACE
        } else if self.namespace.is_empty() {
            DEFAULT_NAMESPACE
        } else {
            &self.namespace
        }
    }

    /// Same effective namespace.
    pub fn ns_equals(&self, other: &ResId) -> bool {
        self.effective_namespace() == other.effective_namespace()
    }

    /// Same kind, name and effective namespace.
    pub fn equals(&self, other: &ResId) -> bool {
        self.name == other.name && self.gvk == other.gvk && self.ns_equals(other)
    }

    /// True when the non-empty parts of `selector` match this identity exactly.
    pub fn is_selected_by(&self, selector: &ResId) -> bool {
        (selector.name.is_empty() || selector.name == self.name)
            && (selector.namespace.is_empty() || selector.ns_equals(self))
            && self.gvk.is_selected_by(&selector.gvk)
    }

    /// kustomize's rendering, e.g. `ConfigMap.v1.[noGrp]/name.namespace`.
    pub fn display(&self) -> String {
        let ns = if self.namespace.is_empty() {
            "[noNs]"
        } else {
            &self.namespace
        };
        let name = if self.name.is_empty() {
            "[noName]"
        } else {
            &self.name
        };
        format!("{}/{}.{}", self.gvk.display(), name, ns)
    }
}

impl std::fmt::Display for ResId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}
