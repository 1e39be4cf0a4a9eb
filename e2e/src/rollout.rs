//! Waiting for a Deployment's real rollout on the node cluster (a controller manager and
//! a kubelet run there, so nothing is patched by hand).

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::ListParams;
use kube::{Api, Client};

use crate::error::{Error, Result};
use crate::poll::poll_until;

/// Polls until Deployment `namespace/name` has rolled out (status observed at its
/// generation; updated, ready, available and total replicas all equal to
/// `spec.replicas`; exactly that many pods of it not being deleted) and returns one of
/// its Ready pods. On the deadline the error lists the namespace's events.
pub async fn wait_rollout(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<Pod> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let what = format!("Deployment {namespace}/{name} rolled out");
    let rolled_out = poll_until(&what, timeout, || async {
        let deployment = deployments
            .get(name)
            .await
            .map_err(Error::kube(format!("get Deployment {namespace}/{name}")))?;
        let Some(wanted) = rolled_out_replicas(&deployment) else {
            return Ok(None);
        };
        let listed = pods
            .list(&ListParams::default().labels(&selector_of(&deployment)))
            .await
            .map_err(Error::kube(format!("list pods of {namespace}/{name}")))?;
        let live: Vec<Pod> = listed
            .items
            .into_iter()
            .filter(|pod| pod.metadata.deletion_timestamp.is_none())
            .collect();
        if i32::try_from(live.len()).ok() != Some(wanted) {
            return Ok(None);
        }
        Ok(live.into_iter().find(is_ready))
    })
    .await;
    match rolled_out {
        Ok(pod) => Ok(pod),
        Err(Error::Timeout {
            what,
            timeout,
            last,
        }) => {
            let events = namespace_events(client, namespace).await;
            Err(Error::Timeout {
                what,
                timeout,
                last: format!("{last}\nevents in {namespace}:\n{events}"),
            })
        }
        Err(other) => Err(other),
    }
}

/// `spec.replicas` when the Deployment's status says its rollout is complete.
fn rolled_out_replicas(deployment: &Deployment) -> Option<i32> {
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.replicas)
        .unwrap_or(1);
    let generation = deployment.metadata.generation.unwrap_or_default();
    let status = deployment.status.as_ref()?;
    let done = status.observed_generation.unwrap_or_default() >= generation
        && status.updated_replicas.unwrap_or_default() == wanted
        && status.ready_replicas.unwrap_or_default() == wanted
        && status.available_replicas.unwrap_or_default() == wanted
        && status.replicas.unwrap_or_default() == wanted;
    done.then_some(wanted)
}

/// The Deployment's `matchLabels` as a label selector string.
fn selector_of(deployment: &Deployment) -> String {
    deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.selector.match_labels.as_ref())
        .map(|labels| {
            labels
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Whether the pod's `Ready` condition is `True`.
fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|condition| condition.type_ == "Ready" && condition.status == "True")
        })
}

/// The events of `namespace`, one `reason message` a line (for failure messages).
async fn namespace_events(client: &Client, namespace: &str) -> String {
    Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map(|list| {
            list.items
                .iter()
                .map(|event| {
                    format!(
                        "{} {}",
                        event.reason.clone().unwrap_or_default(),
                        event.message.clone().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_else(|error| format!("(listing events failed: {error})"))
}
