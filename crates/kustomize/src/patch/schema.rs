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
