//! The inventory: which objects a Kustomization applied, and which of them are stale.

use std::collections::BTreeSet;

use driftless_api::kustomize::ResourceRef;

use crate::object::ObjectRef;

/// The inventory entries of `objects`, sorted by ID and without duplicates.
pub fn inventory<'a>(objects: impl IntoIterator<Item = &'a ObjectRef>) -> Vec<ResourceRef> {
    let entries: BTreeSet<ResourceRef> = objects.into_iter().map(ObjectRef::to_inventory).collect();
    entries.into_iter().collect()
}

/// The entries of `old` whose object is no longer in `new`: the objects to prune.
///
/// Objects are compared by ID only (namespace, name, group, kind), so a new API version of
/// the same object is not stale. The result is sorted by ID.
pub fn diff(old: &[ResourceRef], new: &[ResourceRef]) -> Vec<ResourceRef> {
    let current: BTreeSet<&str> = new.iter().map(|entry| entry.id.as_str()).collect();
    let stale: BTreeSet<&ResourceRef> = old
        .iter()
        .filter(|entry| !current.contains(entry.id.as_str()))
        .collect();
    stale.into_iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(namespace: Option<&str>, name: &str, group: &str, kind: &str) -> ObjectRef {
        ObjectRef {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: namespace.map(Into::into),
            name: name.into(),
        }
    }

    #[test]
    fn inventory_is_sorted_and_deduplicated() {
        let objects = [
            object(Some("apps"), "web", "apps", "Deployment"),
            object(None, "apps", "", "Namespace"),
            object(Some("apps"), "web", "", "Service"),
            object(Some("apps"), "web", "apps", "Deployment"),
        ];
        let ids: Vec<String> = inventory(&objects).into_iter().map(|e| e.id).collect();
        assert_eq!(
            ids,
            [
                "_apps__Namespace",
                "apps_web__Service",
                "apps_web_apps_Deployment"
            ]
        );
    }

    #[test]
    fn diff_returns_only_entries_that_left() {
        let old = inventory(&[
            object(Some("apps"), "web", "apps", "Deployment"),
            object(Some("apps"), "old", "", "ConfigMap"),
            object(None, "gone", "", "Namespace"),
        ]);
        let mut moved = object(Some("apps"), "web", "apps", "Deployment");
        moved.version = "v2".into();
        let new = inventory(&[moved, object(Some("apps"), "fresh", "", "ConfigMap")]);
        let stale: Vec<String> = diff(&old, &new).into_iter().map(|e| e.id).collect();
        assert_eq!(stale, ["_gone__Namespace", "apps_old__ConfigMap"]);
        assert!(diff(&new, &new).is_empty());
        assert_eq!(diff(&[], &new), Vec::<ResourceRef>::new());
    }
}
