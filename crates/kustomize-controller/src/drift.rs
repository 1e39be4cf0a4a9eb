//! Drift correction: metadata watches on every kind this controller applied, restricted to
//! objects carrying the owner labels. A manual edit, scale or delete of an applied object
//! requeues its Kustomization at once instead of at the next interval.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use driftless_api::Kustomization;
use driftless_api::well_known::{KUSTOMIZE_NAME_LABEL, KUSTOMIZE_NAMESPACE_LABEL};
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::discovery::ApiResource;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::mpsc;

/// Starts watches lazily, one per applied kind, and sends owners to requeue.
#[derive(Clone)]
pub struct DriftWatch {
    client: Client,
    watched: Arc<Mutex<HashSet<String>>>,
    requeue: mpsc::UnboundedSender<ObjectRef<Kustomization>>,
}

impl DriftWatch {
    /// A watch set using `client` (the controller's own: it needs list/watch on every kind
    /// it applies), and the stream of owners to requeue.
    pub fn new(client: Client) -> (Self, mpsc::UnboundedReceiver<ObjectRef<Kustomization>>) {
        let (requeue, rx) = mpsc::unbounded_channel();
        (
            DriftWatch {
                client,
                watched: Arc::default(),
                requeue,
            },
            rx,
        )
    }

    /// Makes sure objects of `resource` are watched.
    pub fn ensure(&self, resource: &ApiResource) {
        let key = format!("{}/{}", resource.api_version, resource.kind);
        if !self
            .watched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key)
        {
            return;
        }
        let api: Api<PartialObjectMeta<DynamicObject>> =
            Api::all_with(self.client.clone(), resource);
        let config = watcher::Config::default().labels(KUSTOMIZE_NAME_LABEL);
        let requeue = self.requeue.clone();
        let kind = resource.kind.clone();
        tokio::spawn(async move {
            // Generation (or resourceVersion for kinds without one) last seen per object:
            // status-only updates by other controllers do not count as drift.
            let mut seen: HashMap<String, String> = HashMap::new();
            let mut events = std::pin::pin!(watcher(api, config).default_backoff());
            while let Some(event) = events.next().await {
                let (object, deleted) = match event {
                    Ok(watcher::Event::InitApply(o)) => {
                        seen.insert(uid(&o), fingerprint(&o));
                        continue;
                    }
                    Ok(watcher::Event::Apply(o)) => (o, false),
                    Ok(watcher::Event::Delete(o)) => (o, true),
                    Ok(_) => continue,
                    Err(err) => {
                        tracing::debug!(kind, error = %err, "drift watch error");
                        continue;
                    }
                };
                let id = uid(&object);
                if deleted {
                    seen.remove(&id);
                } else {
                    let print = fingerprint(&object);
                    if seen.insert(id, print.clone()).as_ref() == Some(&print) {
                        continue;
                    }
                }
                if let Some(owner) = owner_of(&object)
                    && requeue.send(owner).is_err()
                {
                    return;
                }
            }
        });
    }
}

fn uid(o: &PartialObjectMeta<DynamicObject>) -> String {
    o.uid()
        .unwrap_or_else(|| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()))
}

fn fingerprint(o: &PartialObjectMeta<DynamicObject>) -> String {
    match o.metadata.generation {
        Some(generation) => format!("g{generation}"),
        None => format!("rv{}", o.resource_version().unwrap_or_default()),
    }
}

/// The Kustomization named by an object's owner labels.
fn owner_of(o: &PartialObjectMeta<DynamicObject>) -> Option<ObjectRef<Kustomization>> {
    let labels = o.labels();
    let name = labels.get(KUSTOMIZE_NAME_LABEL)?;
    let namespace = labels.get(KUSTOMIZE_NAMESPACE_LABEL)?;
    Some(ObjectRef::new(name).within(namespace))
}
