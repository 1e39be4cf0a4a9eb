//! Staging: CustomResourceDefinitions and Namespaces are applied first (stage one), since
//! the other objects may need them to exist before they can even be dry-run.

use serde_json::Value;

use crate::object::ObjectRef;

/// Which apply stage an object belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// CustomResourceDefinitions and Namespaces.
    One,
    /// Everything else.
    Two,
}

impl Stage {
    /// The stage of an object.
    pub fn of(object: &ObjectRef) -> Self {
        if object.is_crd() || object.is_namespace() {
            Self::One
        } else {
            Self::Two
        }
    }
}

/// A kind served by a CustomResourceDefinition manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefinedKind {
    /// `spec.group`.
    pub group: String,
    /// One of `spec.versions[].name`.
    pub version: String,
    /// `spec.names.kind`.
    pub kind: String,
    /// `spec.scope == "Namespaced"`.
    pub namespaced: bool,
}

/// The kinds (one per served version) a CustomResourceDefinition manifest defines.
pub fn defined_kinds(crd: &Value) -> Vec<DefinedKind> {
    let text = |pointer: &str| crd.pointer(pointer).and_then(Value::as_str);
    let (Some(group), Some(kind)) = (text("/spec/group"), text("/spec/names/kind")) else {
        return Vec::new();
    };
    let namespaced = text("/spec/scope") != Some("Cluster");
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|version| version.get("served").and_then(Value::as_bool) != Some(false))
        .filter_map(|version| version.get("name").and_then(Value::as_str))
        .map(|version| DefinedKind {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            namespaced,
        })
        .collect()
}

/// The order in which stale objects are deleted: everything else first, then Namespaces,
/// then CustomResourceDefinitions (deleting those deletes what lives in them).
pub(crate) fn prune_rank(object: &ObjectRef) -> u8 {
    if object.is_crd() {
        2
    } else if object.is_namespace() {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(group: &str, kind: &str) -> ObjectRef {
        ObjectRef {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: None,
            name: "x".into(),
        }
    }

    #[test]
    fn crds_and_namespaces_go_first() {
        assert_eq!(
            Stage::of(&object("apiextensions.k8s.io", "CustomResourceDefinition")),
            Stage::One
        );
        assert_eq!(Stage::of(&object("", "Namespace")), Stage::One);
        assert_eq!(Stage::of(&object("", "ConfigMap")), Stage::Two);
        assert_eq!(Stage::of(&object("example.com", "Namespace")), Stage::Two);
        assert_eq!(Stage::of(&object("apps", "Deployment")), Stage::Two);
    }

    #[test]
    fn prune_deletes_namespaces_and_crds_last() {
        let mut objects = [
            object("apiextensions.k8s.io", "CustomResourceDefinition"),
            object("", "Namespace"),
            object("apps", "Deployment"),
        ];
        objects.sort_by_key(prune_rank);
        let kinds: Vec<&str> = objects.iter().map(|o| o.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["Deployment", "Namespace", "CustomResourceDefinition"]
        );
    }

    #[test]
    fn reads_kinds_a_crd_defines() {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster",
                "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true}, {"name": "v0", "served": false},
                             {"name": "v2", "served": true}]}
        });
        let kinds = defined_kinds(&crd);
        let versions: Vec<&str> = kinds.iter().map(|k| k.version.as_str()).collect();
        assert_eq!(versions, ["v1", "v2"]);
        assert!(kinds.iter().all(|k| k.kind == "Widget" && !k.namespaced));
        assert!(defined_kinds(&json!({"spec": {}})).is_empty());
    }
}
