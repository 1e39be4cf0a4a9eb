//! Routes every published event to the providers of the Alerts it matches.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use driftless_api::Alert;
use driftless_runtime::events::PublishedEvent;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::DynamicObject;
use kube::runtime::reflector::Store;
use kube::{Api, ResourceExt};
use tokio::sync::broadcast;

use crate::matching::CompiledAlert;
use crate::payload::Notification;
use crate::queue::Enqueued;
use crate::{Context, kinds};

/// Longest wait for an object's labels (for `matchLabels`).
const LABEL_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads `events` until `shutdown` and queues a notification per matching Alert.
pub async fn dispatch(
    ctx: Arc<Context>,
    mut events: broadcast::Receiver<PublishedEvent>,
    alerts: Store<Alert>,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            received = events.recv() => match received {
                Ok(event) => route(&ctx, &alerts, event).await,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "alerting fell behind; some events were not matched");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

async fn route(ctx: &Context, alerts: &Store<Alert>, event: PublishedEvent) {
    let Some(namespace) = event.regarding.namespace.clone() else {
        return;
    };
    let candidates: Vec<CompiledAlert> = alerts
        .state()
        .iter()
        .filter(|a| {
            a.namespace().as_deref() == Some(namespace.as_str())
                && !a.spec.suspend
                && a.metadata.deletion_timestamp.is_none()
        })
        .filter_map(|a| CompiledAlert::compile(a).ok())
        .collect();
    if candidates.is_empty() {
        return;
    }
    let labels = if candidates.iter().any(|a| a.needs_labels(&event)) {
        object_labels(ctx, &event.regarding).await
    } else {
        None
    };
    let timestamp = Timestamp::now().to_string();
    for alert in candidates
        .iter()
        .filter(|a| a.matches(&event, labels.as_ref()))
    {
        let provider = format!("{namespace}/{}", alert.provider);
        let n = Notification {
            event: event.clone(),
            summary: alert.summary.clone(),
            timestamp: timestamp.clone(),
        };
        if ctx.deliveries.enqueue(&provider, n) == Enqueued::NoProvider {
            tracing::debug!(alert = %alert.name, provider, "the Alert's Provider is not ready; event not sent");
        }
    }
}

async fn object_labels(ctx: &Context, r: &ObjectReference) -> Option<BTreeMap<String, String>> {
    let ar = kinds::api_resource(r.kind.as_deref()?)?;
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), r.namespace.as_deref()?, &ar);
    let name = r.name.as_deref()?;
    match tokio::time::timeout(LABEL_LOOKUP_TIMEOUT, api.get_opt(name)).await {
        Ok(Ok(Some(obj))) => Some(obj.labels().clone()),
        Ok(Ok(None)) => None,
        Ok(Err(err)) => {
            tracing::debug!(name, error = %err, "reading labels for alert matching failed");
            None
        }
        Err(_) => None,
    }
}
