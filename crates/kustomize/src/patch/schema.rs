//! The part of the Kubernetes OpenAPI schema strategic merge needs: which
//! lists of built-in kinds merge by key (everything else is replaced).

/// How a list field combines with a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListStrategy {
    /// The patch list replaces the original.
    Replace,
    /// Elements are matched by these keys and merged.
    MergeByKeys(&'static [&'static str]),
    /// A list of scalars merged as a set.
    MergePrimitives,
    /// Elements are matched by these keys (from a custom schema) and merged.
    MergeByOwnedKeys(Vec<String>),
}

/// The strategy for the list at `path` of an object of kind `gvk` under `schema`.
pub(crate) fn strategy_in(
    schema: &crate::openapi::Schema,
    gvk: &crate::resid::Gvk,
    path: &[String],
) -> ListStrategy {
    match schema {
        crate::openapi::Schema::Builtin => list_strategy(&gvk.group, &gvk.kind, path),
        crate::openapi::Schema::Custom(custom) => custom.list_strategy(gvk, path),
    }
}

/// API groups whose kinds kustomize has a schema for.
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "node.k8s.io",
    "certificates.k8s.io",
    "flowcontrol.apiserver.k8s.io",
];

/// True for API groups kustomize's built-in schema covers.
pub(crate) fn is_builtin_group(group: &str) -> bool {
    BUILTIN_GROUPS.contains(&group)
}

/// Where the pod spec sits in a workload kind.
fn pod_spec_path(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    match (group, kind) {
        ("", "Pod") => Some(&["spec"]),
        ("", "PodTemplate") => Some(&["template", "spec"]),
        ("", "ReplicationController")
        | ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job") => Some(&["spec", "template", "spec"]),
        ("batch", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

/// The strategy for the list at `path` (field names from the object root).
pub(crate) fn list_strategy(group: &str, kind: &str, path: &[String]) -> ListStrategy {
    if !BUILTIN_GROUPS.contains(&group) {
        return ListStrategy::Replace;
    }
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["metadata", "ownerReferences"] => return ListStrategy::MergeByKeys(&["uid"]),
        ["metadata", "finalizers"] => return ListStrategy::MergePrimitives,
        _ => {}
    }
    if group.is_empty() && kind == "Service" && p == ["spec", "ports"] {
        return ListStrategy::MergeByKeys(&["port", "protocol"]);
    }
    if group.is_empty() && kind == "ServiceAccount" && p == ["secrets"] {
        return ListStrategy::MergeByKeys(&["name"]);
    }
    let Some(base) = pod_spec_path(group, kind) else {
        return ListStrategy::Replace;
    };
    let Some(rest) = p.strip_prefix(base) else {
        return ListStrategy::Replace;
    };
    match rest {
        ["containers" | "initContainers" | "ephemeralContainers"] => {
            ListStrategy::MergeByKeys(&["name"])
        }
        [
            "containers" | "initContainers" | "ephemeralContainers",
            field,
        ] => match *field {
            "ports" => ListStrategy::MergeByKeys(&["containerPort", "protocol"]),
            "env" => ListStrategy::MergeByKeys(&["name"]),
            "volumeMounts" => ListStrategy::MergeByKeys(&["mountPath"]),
            "volumeDevices" => ListStrategy::MergeByKeys(&["devicePath"]),
            _ => ListStrategy::Replace,
        },
        ["volumes" | "imagePullSecrets"] => ListStrategy::MergeByKeys(&["name"]),
        ["hostAliases"] => ListStrategy::MergeByKeys(&["ip"]),
        ["topologySpreadConstraints"] => {
            ListStrategy::MergeByKeys(&["topologyKey", "whenUnsatisfiable"])
        }
        _ => ListStrategy::Replace,
    }
}

/// The strategy for the list at `rel` inside a built-in Kubernetes type named
/// by its OpenAPI definition (what a custom schema's `$ref` may point to when
/// kustomize has the built-in schema loaded beside it).
pub(crate) fn builtin_type_strategy(type_name: &str, rel: &[String]) -> ListStrategy {
    let prefixed = |first: &[&str]| -> Vec<String> {
        first
            .iter()
            .map(|s| s.to_string())
            .chain(rel.iter().cloned())
            .collect()
    };
    match type_name {
        "io.k8s.api.core.v1.PodTemplateSpec" => {
            if rel.first().is_some_and(|f| f == "metadata") {
                list_strategy("", "Pod", rel)
            } else {
                list_strategy("", "PodTemplate", &prefixed(&["template"]))
            }
        }
        "io.k8s.api.core.v1.PodSpec" => list_strategy("", "Pod", &prefixed(&["spec"])),
        "io.k8s.api.core.v1.Container" => {
            list_strategy("", "Pod", &prefixed(&["spec", "containers"]))
        }
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" => {
            list_strategy("", "Pod", &prefixed(&["metadata"]))
        }
        _ => ListStrategy::Replace,
    }
}
