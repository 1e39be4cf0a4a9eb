//! The Kustomization that owns applied objects: its labels on every object, and the
//! label selector the reconciler watches to notice drift.

use driftless_api::well_known::{KUSTOMIZE_NAME_LABEL, KUSTOMIZE_NAMESPACE_LABEL};
use serde_json::{Map, Value};

use crate::error::ApplyError;

/// The Kustomization (name and namespace) that applies a set of objects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Owner {
    /// The Kustomization's name.
    pub name: String,
    /// The Kustomization's namespace.
    pub namespace: String,
}

impl Owner {
    /// An owner from the Kustomization's name and namespace.
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
        }
    }

    /// The label selector matching every object this owner applied:
    /// `kustomize.driftless.dev/name=<name>,kustomize.driftless.dev/namespace=<namespace>`.
    /// Use it for the reconciler's watches (drift detection).
    pub fn selector(&self) -> String {
        format!(
            "{KUSTOMIZE_NAME_LABEL}={},{KUSTOMIZE_NAMESPACE_LABEL}={}",
            self.name, self.namespace
        )
    }

    /// Parses a selector written by [`Owner::selector`] back into the owner.
    /// The two terms may come in either order; anything else is refused.
    pub fn from_selector(selector: &str) -> Result<Self, ApplyError> {
        let invalid = |reason: &str| ApplyError::InvalidSelector {
            selector: selector.to_owned(),
            reason: reason.to_owned(),
        };
        let mut name = None;
        let mut namespace = None;
        for term in selector.split(',') {
            let (key, value) = term
                .trim()
                .split_once('=')
                .ok_or_else(|| invalid("expected key=value terms"))?;
            if value.is_empty() || value.starts_with('=') {
                return Err(invalid("expected non-empty values with a single ="));
            }
            let slot = match key {
                KUSTOMIZE_NAME_LABEL => &mut name,
                KUSTOMIZE_NAMESPACE_LABEL => &mut namespace,
                _ => return Err(invalid(&format!("unexpected label {key:?}"))),
            };
            if slot.replace(value.to_owned()).is_some() {
                return Err(invalid(&format!("label {key:?} given twice")));
            }
        }
        match (name, namespace) {
            (Some(name), Some(namespace)) => Ok(Self { name, namespace }),
            _ => Err(invalid(&format!(
                "both {KUSTOMIZE_NAME_LABEL} and {KUSTOMIZE_NAMESPACE_LABEL} are required"
            ))),
        }
    }

    /// The owner an object's labels name, if both owner labels are present. Use it to map
    /// a watched object back to the Kustomization to requeue.
    pub fn from_labels(object: &Value) -> Option<Self> {
        let labels = object.pointer("/metadata/labels")?;
        let name = labels.get(KUSTOMIZE_NAME_LABEL)?.as_str()?;
        let namespace = labels.get(KUSTOMIZE_NAMESPACE_LABEL)?.as_str()?;
        Some(Self::new(name, namespace))
    }

    /// Sets the two owner labels on a manifest, keeping its other labels.
    pub fn label(&self, manifest: &mut Value) {
        let Some(object) = manifest.as_object_mut() else {
            return;
        };
        let metadata = object
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(metadata) = metadata.as_object_mut() else {
            return;
        };
        let labels = metadata
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if !labels.is_object() {
            *labels = Value::Object(Map::new());
        }
        if let Some(labels) = labels.as_object_mut() {
            labels.insert(KUSTOMIZE_NAME_LABEL.into(), self.name.clone().into());
            labels.insert(
                KUSTOMIZE_NAMESPACE_LABEL.into(),
                self.namespace.clone().into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn selector_round_trips() {
        let owner = Owner::new("apps", "team-a");
        let selector = owner.selector();
        assert_eq!(
            selector,
            "kustomize.driftless.dev/name=apps,kustomize.driftless.dev/namespace=team-a"
        );
        assert_eq!(Owner::from_selector(&selector).unwrap(), owner);
        let reversed = "kustomize.driftless.dev/namespace=team-a,kustomize.driftless.dev/name=apps";
        assert_eq!(Owner::from_selector(reversed).unwrap(), owner);
    }

    #[test]
    fn foreign_or_partial_selectors_are_refused() {
        for selector in [
            "kustomize.driftless.dev/name=apps",
            "app=web,kustomize.driftless.dev/name=apps,kustomize.driftless.dev/namespace=a",
            "kustomize.driftless.dev/name==apps,kustomize.driftless.dev/namespace=a",
            "kustomize.driftless.dev/name=a,kustomize.driftless.dev/name=b",
            "kustomize.driftless.dev/name",
        ] {
            let error = Owner::from_selector(selector).unwrap_err();
            assert!(error.to_string().contains(selector), "{selector}: {error}");
        }
    }

    #[test]
    fn labels_are_added_and_read_back() {
        let owner = Owner::new("apps", "team-a");
        let mut manifest = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"app": "web"}}});
        owner.label(&mut manifest);
        assert_eq!(manifest["metadata"]["labels"]["app"], "web");
        assert_eq!(Owner::from_labels(&manifest), Some(owner.clone()));

        let mut bare = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(Owner::from_labels(&bare), None);
        owner.label(&mut bare);
        assert_eq!(Owner::from_labels(&bare), Some(owner));
    }
}
