//! Identity of one Kubernetes object: group, version, kind, namespace and name.

use std::fmt;

use driftless_api::kustomize::ResourceRef;
use kube::api::GroupVersionKind;
use serde_json::Value;

/// Identifies one object. Displays as Flux does: `Kind/namespace/name`, or `Kind/name`
/// for cluster-scoped objects.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    /// API group, empty for the core group.
    pub group: String,
    /// API version within the group, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects (or namespaced ones not yet defaulted).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// Reads the identity of a manifest: `apiVersion`, `kind`, `metadata.name` and
    /// `metadata.namespace`. Returns what is missing or malformed as the error.
    pub fn from_manifest(manifest: &Value) -> Result<Self, String> {
        let api_version = manifest
            .get("apiVersion")
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
            .ok_or("no apiVersion")?;
        let kind = manifest
            .get("kind")
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
            .ok_or("no kind")?;
        let metadata = manifest.get("metadata");
        let name = metadata
            .and_then(|metadata| metadata.get("name"))
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
            .ok_or("no metadata.name")?;
        let namespace = metadata
            .and_then(|metadata| metadata.get("namespace"))
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty());
        let (group, version) = split_api_version(api_version);
        Ok(Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        })
    }

    /// The object an inventory entry names, or `None` when its ID is malformed.
    pub fn from_inventory(entry: &ResourceRef) -> Option<Self> {
        let (namespace, name, group, kind) = entry.parts()?;
        Some(Self {
            group: group.to_owned(),
            version: entry.v.clone(),
            kind: kind.to_owned(),
            namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
            name: name.to_owned(),
        })
    }

    /// The inventory entry of this object (`<ns>_<name>_<group>_<kind>`, `v` = version).
    pub fn to_inventory(&self) -> ResourceRef {
        ResourceRef::new(
            self.namespace.as_deref().unwrap_or_default(),
            &self.name,
            &self.group,
            &self.kind,
            &self.version,
        )
    }

    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The group, version and kind.
    pub fn gvk(&self) -> GroupVersionKind {
        GroupVersionKind::gvk(&self.group, &self.version, &self.kind)
    }

    /// True for `CustomResourceDefinition` objects of `apiextensions.k8s.io`.
    pub fn is_crd(&self) -> bool {
        self.group == "apiextensions.k8s.io" && self.kind == "CustomResourceDefinition"
    }

    /// True for core `Namespace` objects.
    pub fn is_namespace(&self) -> bool {
        self.group.is_empty() && self.kind == "Namespace"
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{}/{}/{}", self.kind, namespace, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// Splits `group/version` (or a bare core `version`) into group and version.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// A best-effort description of a manifest for error messages, even a malformed one.
pub(crate) fn describe_manifest(manifest: &Value) -> String {
    let text = |pointer: &str| {
        manifest
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    format!(
        "{}/{}",
        text("/kind"),
        if manifest.pointer("/metadata/namespace").is_some() {
            format!("{}/{}", text("/metadata/namespace"), text("/metadata/name"))
        } else {
            text("/metadata/name")
        }
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_identity_and_formats_like_flux() {
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "apps"}
        });
        let object = ObjectRef::from_manifest(&deployment).unwrap();
        assert_eq!(object.group, "apps");
        assert_eq!(object.version, "v1");
        assert_eq!(object.to_string(), "Deployment/apps/web");
        assert_eq!(object.api_version(), "apps/v1");

        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}});
        let object = ObjectRef::from_manifest(&namespace).unwrap();
        assert_eq!(object.group, "");
        assert!(object.is_namespace());
        assert_eq!(object.to_string(), "Namespace/apps");
        assert_eq!(object.api_version(), "v1");
    }

    #[test]
    fn refuses_manifests_without_identity() {
        let no_name = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
        assert_eq!(
            ObjectRef::from_manifest(&no_name),
            Err("no metadata.name".into())
        );
        let no_kind = json!({"apiVersion": "v1", "metadata": {"name": "x"}});
        assert_eq!(ObjectRef::from_manifest(&no_kind), Err("no kind".into()));
        assert_eq!(describe_manifest(&no_kind), "?/x");
    }

    #[test]
    fn inventory_entries_round_trip() {
        let object = ObjectRef {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: Some("apps".into()),
            name: "web".into(),
        };
        let entry = object.to_inventory();
        assert_eq!(entry.id, "apps_web_apps_Deployment");
        assert_eq!(entry.v, "v1");
        assert_eq!(ObjectRef::from_inventory(&entry), Some(object));

        let namespace = ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "Namespace".into(),
            namespace: None,
            name: "apps".into(),
        };
        assert_eq!(namespace.to_inventory().id, "_apps__Namespace");
        assert_eq!(
            ObjectRef::from_inventory(&namespace.to_inventory()),
            Some(namespace)
        );
    }
}
