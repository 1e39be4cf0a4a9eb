//! Requesting reconciles: the `reconcile.driftless.dev/requestedAt` annotation on each
//! resource a Receiver lists.

use driftless_api::well_known::RECONCILE_REQUESTED_AT;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DynamicObject, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};

use crate::matching::name_matches;
use crate::receiver_index::ReceiverEntry;
use crate::{Error, kinds};

/// Annotates every resource of `entry` with `requestedAt: <now>`; returns how many.
pub async fn request_reconciles(client: &Client, entry: &ReceiverEntry) -> Result<usize, Error> {
    let receiver = format!("Receiver {}/{}", entry.namespace, entry.name);
    let patch = serde_json::json!({
        "metadata": {"annotations": {RECONCILE_REQUESTED_AT: Timestamp::now().to_string()}}
    });
    let mut count = 0;
    for (i, resource) in entry.resources.iter().enumerate() {
        let ar = kinds::api_resource(&resource.kind).ok_or_else(|| {
            Error::InvalidSpec(format!(
                "{receiver}: spec.resources[{i}].kind {:?} is not a Driftless kind",
                resource.kind
            ))
        })?;
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &entry.namespace, &ar);
        let names = if resource.name.contains('*') {
            let selector = resource
                .match_labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            let list = api
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|source| Error::Kube {
                    action: format!(
                        "{receiver}: listing {} in {}",
                        resource.kind, entry.namespace
                    ),
                    source,
                })?;
            list.items
                .iter()
                .map(ResourceExt::name_any)
                .filter(|n| name_matches(&resource.name, n))
                .collect()
        } else {
            vec![resource.name.clone()]
        };
        for name in names {
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|source| Error::Kube {
                    action: format!(
                        "{receiver}: requesting a reconcile of {} {}/{name}",
                        resource.kind, entry.namespace
                    ),
                    source,
                })?;
            count += 1;
        }
    }
    Ok(count)
}
