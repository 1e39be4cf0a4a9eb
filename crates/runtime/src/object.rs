//! Helpers every reconciler uses on its own objects: reconcile triggers, reconcile requests
//! and status writes.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use driftless_api::well_known::{FIELD_MANAGER, RECONCILE_REQUESTED_AT};
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The value of the `reconcile.driftless.dev/requestedAt` annotation, if set.
pub fn requested_at<K: Resource>(obj: &K) -> Option<String> {
    obj.annotations().get(RECONCILE_REQUESTED_AT).cloned()
}

/// Watch predicate: a hash of what should trigger a reconcile — the spec's generation, a
/// reconcile request, deletion and finalizers (kube's finalizer helper adds ours, then
/// waits for the resulting event) — so the controller's own status writes do not.
pub fn reconcile_trigger<K: Resource>(obj: &K) -> Option<u64> {
    let mut h = DefaultHasher::new();
    obj.meta().generation.hash(&mut h);
    requested_at(obj).hash(&mut h);
    obj.meta().deletion_timestamp.is_some().hash(&mut h);
    obj.finalizers().hash(&mut h);
    Some(h.finish())
}

/// Writes `status` with server-side apply on the status subresource (field manager
/// `driftless`), so fields dropped from the status are removed, not left stale.
pub async fn apply_status<K, S>(api: &Api<K>, name: &str, status: &S) -> Result<K, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    #[test]
    fn trigger_ignores_status_but_sees_requests_and_generation() {
        let mut cm = ConfigMap::default();
        cm.metadata.generation = Some(1);
        let base = reconcile_trigger(&cm);
        cm.data = Some([("k".to_owned(), "v".to_owned())].into());
        assert_eq!(
            reconcile_trigger(&cm),
            base,
            "non-generation changes do not trigger"
        );
        cm.annotations_mut().insert(
            RECONCILE_REQUESTED_AT.to_owned(),
            "2026-01-01T00:00:00Z".to_owned(),
        );
        let requested = reconcile_trigger(&cm);
        assert_ne!(requested, base);
        assert_eq!(requested_at(&cm).as_deref(), Some("2026-01-01T00:00:00Z"));
        cm.metadata.generation = Some(2);
        assert_ne!(reconcile_trigger(&cm), requested);
        let before = reconcile_trigger(&cm);
        cm.finalizers_mut()
            .push("finalizers.driftless.dev".to_owned());
        assert_ne!(
            reconcile_trigger(&cm),
            before,
            "adding the finalizer must trigger the next step"
        );
    }
}
