//! Drift correction: metadata watches on every kind this controller applied, restricted to
//! objects carrying the owner labels. A manual edit, scale or delete of an applied object
//! requeues its Kustomization at once instead of at the next interval.
//!
//! The watches also keep each watched object's current fingerprint, and how far the watch
//! has got ([`DriftWatch::confirms`]), so a reconcile can tell that an object is still as its
//! last apply left it and skip it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use driftless_api::Kustomization;
use driftless_api::well_known::{KUSTOMIZE_NAME_LABEL, KUSTOMIZE_NAMESPACE_LABEL};
use driftless_apply::{
    Action, ChangeSet, ObjectRef as AppliedRef, Observed, fingerprint as fingerprint_of,
};
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
    /// Per (group, kind): the fingerprint of each watched object, while its watch is synced.
    live: Arc<Mutex<HashMap<(String, String), Live>>>,
}

/// What one kind's watch currently sees.
#[derive(Debug, Default)]
struct Live {
    /// Listed completely, and no re-list (after 410 Gone) under way since.
    synced: bool,
    /// `namespace/name` → fingerprint.
    objects: HashMap<String, String>,
    /// Filled during a (re-)list, swapped in when it completes.
    relisting: HashMap<String, String>,
    /// The `resourceVersion` of the last change event taken in since the last (re-)list:
    /// every change of this kind up to it has been seen, since a watch delivers them in
    /// order. Listed objects do not count: a list's own version is not known, and an object
    /// deleted between its last change and the list would otherwise look merely late.
    position: Option<u64>,
    /// `namespace/name` → fingerprint this controller's own last write left, until the
    /// watch delivers it: that event is no drift and requeues nobody.
    own: HashMap<String, String>,
}

impl Live {
    /// Takes in one event; true when it only shows this controller's own write.
    fn observe(&mut self, event: &watcher::Event<PartialObjectMeta<DynamicObject>>) -> bool {
        let own = match event {
            watcher::Event::InitApply(o) | watcher::Event::Apply(o) => {
                self.own.remove(&key(o)) == Some(fingerprint(o))
            }
            watcher::Event::Delete(o) => {
                self.own.remove(&key(o));
                false
            }
            watcher::Event::Init | watcher::Event::InitDone => false,
        };
        if let watcher::Event::Apply(o) | watcher::Event::Delete(o) = event
            && let Some(version) = numeric_version(o.metadata.resource_version.as_deref())
        {
            self.position = Some(self.position.map_or(version, |p| p.max(version)));
        }
        match event {
            // A (re-)list: until it completes, changes made meanwhile are not seen.
            watcher::Event::Init => {
                self.relisting.clear();
                self.synced = false;
                self.position = None;
            }
            watcher::Event::InitApply(o) => {
                self.relisting.insert(key(o), fingerprint(o));
            }
            watcher::Event::InitDone => {
                self.objects = std::mem::take(&mut self.relisting);
                self.synced = true;
            }
            watcher::Event::Apply(o) => {
                self.objects.insert(key(o), fingerprint(o));
            }
            watcher::Event::Delete(o) => {
                self.objects.remove(&key(o));
            }
        }
        own
    }

    fn confirms(&self, object: &AppliedRef, live: &Observed) -> bool {
        if !self.synced {
            return false;
        }
        let key = format!(
            "{}/{}",
            object.namespace.as_deref().unwrap_or_default(),
            object.name
        );
        if self.objects.get(&key) == Some(&live.fingerprint) {
            return true;
        }
        // Not delivered yet. Only numeric versions are compared (etcd's revisions, which
        // every built-in and custom resource has); for anything else, only equality counts.
        match (
            self.position,
            numeric_version(live.resource_version.as_deref()),
        ) {
            (Some(position), Some(written)) => position < written,
            _ => false,
        }
    }
}

fn numeric_version(version: Option<&str>) -> Option<u64> {
    version?.parse().ok()
}

fn key(o: &PartialObjectMeta<DynamicObject>) -> String {
    format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any())
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
                live: Arc::default(),
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
        let live = self.live.clone();
        let live_key = (resource.group.clone(), resource.kind.clone());
        tokio::spawn(async move {
            let mut seen = Seen::default();
            let mut events = std::pin::pin!(watcher(api, config).default_backoff());
            while let Some(event) = events.next().await {
                let mut table = live.lock().unwrap_or_else(|p| p.into_inner());
                let state = table.entry(live_key.clone()).or_default();
                let (event, own) = match event {
                    Ok(event) => {
                        let own = state.observe(&event);
                        (event, own)
                    }
                    Err(err) => {
                        // The watcher resumes from the last resourceVersion it saw, so no
                        // event is lost; when the server no longer has it (410 Gone), it
                        // re-lists, and `Init` unsyncs. Unsyncing here instead would last
                        // until the next 410 (a resumed watch sends no `InitDone`) and make
                        // every reconcile a full one.
                        drop(table);
                        tracing::debug!(kind, error = %err, "drift watch error");
                        continue;
                    }
                };
                drop(table);
                if let Some(object) = seen.observe(event)
                    && !own
                    && let Some(owner) = owner_of(&object)
                    && requeue.send(owner).is_err()
                {
                    return;
                }
            }
        });
    }
}

impl DriftWatch {
    /// Remembers what this controller's own writes left, so that their watch events requeue
    /// nobody (they are no drift).
    pub fn expect(&self, applied: &ChangeSet) {
        let mut table = self.live.lock().unwrap_or_else(|p| p.into_inner());
        for change in &applied.changes {
            if !matches!(change.action, Action::Created | Action::Configured) {
                continue;
            }
            let Some(live) = &change.live else { continue };
            let object = &change.object;
            table
                .entry((object.group.clone(), object.kind.clone()))
                .or_default()
                .own
                .insert(
                    format!(
                        "{}/{}",
                        object.namespace.as_deref().unwrap_or_default(),
                        object.name
                    ),
                    live.fingerprint.clone(),
                );
        }
    }

    /// Whether `object` is still as a read or write left it (`live`): the synced watch of
    /// its kind sees that fingerprint, or has not yet got to the `resourceVersion` that
    /// read or write returned. In the second case any later change is still to come, and
    /// its event will requeue the owner; this is what lets a reconcile right after its own
    /// writes (or a requeue by their events) trust them while the watch catches up.
    pub fn confirms(&self, object: &AppliedRef, live: &Observed) -> bool {
        let table = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let Some(state) = table.get(&(object.group.clone(), object.kind.clone())) else {
            return false;
        };
        state.confirms(object, live)
    }
}

/// Generation (or resourceVersion for kinds without one) last seen per object uid, so
/// status-only updates by other controllers do not count as drift. Holds exactly the objects
/// the watch currently sees: deletes remove their entry, and a re-list (after the watch
/// restarts) replaces the whole map, so objects deleted while the watch was down go too.
#[derive(Debug, Default)]
struct Seen {
    current: HashMap<String, String>,
    /// Filled during a re-list, swapped in when it completes.
    relisting: Option<HashMap<String, String>>,
}

impl Seen {
    /// Takes in one watch event; the object whose owner must be requeued, if any.
    fn observe(
        &mut self,
        event: watcher::Event<PartialObjectMeta<DynamicObject>>,
    ) -> Option<PartialObjectMeta<DynamicObject>> {
        match event {
            watcher::Event::Init => {
                self.relisting = Some(HashMap::new());
                None
            }
            watcher::Event::InitApply(object) => {
                let (id, print) = (uid(&object), fingerprint(&object));
                // Changed while the watch was down: drift too (first listing: nothing known).
                let changed = self
                    .current
                    .get(&id)
                    .is_some_and(|previous| *previous != print);
                self.relisting
                    .get_or_insert_with(HashMap::new)
                    .insert(id, print);
                changed.then_some(object)
            }
            watcher::Event::InitDone => {
                if let Some(listed) = self.relisting.take() {
                    self.current = listed;
                }
                None
            }
            watcher::Event::Apply(object) => {
                let print = fingerprint(&object);
                if self.current.insert(uid(&object), print.clone()).as_ref() == Some(&print) {
                    return None;
                }
                Some(object)
            }
            watcher::Event::Delete(object) => {
                self.current.remove(&uid(&object));
                Some(object)
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len()
    }
}

fn uid(o: &PartialObjectMeta<DynamicObject>) -> String {
    o.uid()
        .unwrap_or_else(|| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()))
}

fn fingerprint(o: &PartialObjectMeta<DynamicObject>) -> String {
    fingerprint_of(
        o.metadata.generation,
        o.metadata.resource_version.as_deref(),
    )
}

/// The Kustomization named by an object's owner labels.
fn owner_of(o: &PartialObjectMeta<DynamicObject>) -> Option<ObjectRef<Kustomization>> {
    let labels = o.labels();
    let name = labels.get(KUSTOMIZE_NAME_LABEL)?;
    let namespace = labels.get(KUSTOMIZE_NAMESPACE_LABEL)?;
    Some(ObjectRef::new(name).within(namespace))
}

#[cfg(test)]
mod tests {
    use kube::api::ObjectMeta;

    use super::*;

    fn object(uid: &str, generation: i64) -> PartialObjectMeta<DynamicObject> {
        PartialObjectMeta {
            types: None,
            metadata: ObjectMeta {
                name: Some(format!("cm-{uid}")),
                namespace: Some("team-a".into()),
                uid: Some(uid.into()),
                generation: Some(generation),
                labels: Some(
                    [
                        (KUSTOMIZE_NAME_LABEL.to_owned(), "apps".to_owned()),
                        (KUSTOMIZE_NAMESPACE_LABEL.to_owned(), "team-a".to_owned()),
                    ]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            _phantom: std::marker::PhantomData,
        }
    }

    #[test]
    fn only_spec_changes_and_deletes_requeue() {
        let mut seen = Seen::default();
        assert!(seen.observe(watcher::Event::Init).is_none());
        assert!(
            seen.observe(watcher::Event::InitApply(object("a", 1)))
                .is_none()
        );
        assert!(seen.observe(watcher::Event::InitDone).is_none());
        // The same generation again (a status update): no drift.
        assert!(
            seen.observe(watcher::Event::Apply(object("a", 1)))
                .is_none()
        );
        let drifted = seen.observe(watcher::Event::Apply(object("a", 2))).unwrap();
        assert_eq!(
            owner_of(&drifted),
            Some(ObjectRef::new("apps").within("team-a"))
        );
        assert!(
            seen.observe(watcher::Event::Delete(object("a", 2)))
                .is_some()
        );
        assert_eq!(seen.len(), 0, "deleted objects are forgotten");
    }

    #[test]
    fn live_fingerprints_count_only_while_synced() {
        let mut live = Live::default();
        live.observe(&watcher::Event::Init);
        live.observe(&watcher::Event::InitApply(object("a", 1)));
        assert!(!live.synced, "not listed completely yet");
        live.observe(&watcher::Event::InitDone);
        assert!(live.synced);
        assert_eq!(
            live.objects.get("team-a/cm-a").map(String::as_str),
            Some("g1")
        );
        live.observe(&watcher::Event::Apply(object("a", 2)));
        assert_eq!(
            live.objects.get("team-a/cm-a").map(String::as_str),
            Some("g2")
        );
        live.observe(&watcher::Event::Delete(object("a", 2)));
        assert!(live.objects.is_empty());
        // A re-list (after 410 Gone) unsyncs until it completes.
        live.observe(&watcher::Event::Init);
        assert!(!live.synced, "re-listing");
        live.observe(&watcher::Event::InitApply(object("a", 3)));
        assert!(!live.synced, "re-listing");
        live.observe(&watcher::Event::InitDone);
        assert!(live.synced);
        assert_eq!(
            live.objects.get("team-a/cm-a").map(String::as_str),
            Some("g3")
        );
    }

    fn with_version(uid: &str, version: &str) -> PartialObjectMeta<DynamicObject> {
        let mut o = object(uid, 1);
        o.metadata.generation = None;
        o.metadata.resource_version = Some(version.into());
        o
    }

    fn applied(name: &str) -> AppliedRef {
        AppliedRef {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("team-a".into()),
            name: format!("cm-{name}"),
        }
    }

    fn written(version: &str) -> Observed {
        Observed::new(None, Some(version))
    }

    #[test]
    fn writes_the_watch_has_not_delivered_yet_are_trusted_until_it_gets_there() {
        let mut live = Live::default();
        live.observe(&watcher::Event::Init);
        live.observe(&watcher::Event::InitApply(with_version("a", "5")));
        live.observe(&watcher::Event::InitDone);
        assert!(
            live.confirms(&applied("a"), &written("5")),
            "seen as written"
        );
        assert!(
            !live.confirms(&applied("b"), &written("20")),
            "no change event since the list: how far it got is unknown"
        );
        live.observe(&watcher::Event::Apply(with_version("c", "10")));
        assert!(
            live.confirms(&applied("b"), &written("20")),
            "written after everything the watch has delivered: its events are still to come"
        );
        assert!(
            !live.confirms(&applied("a"), &written("8")),
            "the watch got past version 8 and saw something else"
        );
        live.observe(&watcher::Event::Delete(with_version("b", "25")));
        assert!(
            !live.confirms(&applied("b"), &written("20")),
            "deleted after the write"
        );
        assert!(
            !live.confirms(&applied("d"), &Observed::new(None, Some("opaque"))),
            "versions that are not numbers are only ever compared for equality"
        );
        live.observe(&watcher::Event::Init);
        assert!(!live.confirms(&applied("c"), &written("10")), "re-listing");
        live.observe(&watcher::Event::InitApply(with_version("c", "10")));
        live.observe(&watcher::Event::InitDone);
        assert!(live.confirms(&applied("c"), &written("10")));
        assert!(
            !live.confirms(&applied("e"), &written("30")),
            "after a re-list, only change events say how far the watch got"
        );
    }

    #[test]
    fn only_the_event_of_an_own_write_is_own() {
        let mut live = Live::default();
        live.own.insert("team-a/cm-a".into(), "rv7".into());
        live.own.insert("team-a/cm-b".into(), "rv8".into());
        assert!(live.observe(&watcher::Event::Apply(with_version("a", "7"))));
        assert!(
            !live.observe(&watcher::Event::Apply(with_version("a", "7"))),
            "delivered once"
        );
        assert!(
            !live.observe(&watcher::Event::Apply(with_version("b", "9"))),
            "someone else's write after ours"
        );
        assert!(
            live.own.is_empty(),
            "every delivered event settles its entry"
        );
    }

    #[test]
    fn a_relist_forgets_objects_deleted_meanwhile_and_sees_changes() {
        let mut seen = Seen::default();
        for i in 0..100 {
            seen.observe(watcher::Event::Apply(object(&format!("o{i}"), 1)));
        }
        assert_eq!(seen.len(), 100);
        // The watch restarts; only two objects remain, one of them edited meanwhile.
        seen.observe(watcher::Event::Init);
        assert!(
            seen.observe(watcher::Event::InitApply(object("o1", 1)))
                .is_none()
        );
        assert!(
            seen.observe(watcher::Event::InitApply(object("o2", 5)))
                .is_some()
        );
        seen.observe(watcher::Event::InitDone);
        assert_eq!(seen.len(), 2);
    }
}
