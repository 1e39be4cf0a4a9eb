//! The watch every reconciler starts from: a reflector store of its kind, and the stream of
//! objects whose changes should trigger a reconcile (see [`reconcile_trigger`]).

use std::fmt::Debug;

use futures::{Stream, TryStreamExt};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use crate::object::reconcile_trigger;
use crate::readiness::store_synced;

/// Watches `api` with `watch` (label selector), reflecting into a store. Feed the pair to
/// `Controller::for_stream`.
pub fn watched<K>(
    api: Api<K>,
    watch: watcher::Config,
) -> (
    impl Stream<Item = Result<K, watcher::Error>> + Send,
    Store<K>,
)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    observed(api, watch, |_| {})
}

/// [`watched`], calling `ready` once the store holds the initial list.
pub fn trigger_stream<K>(
    api: Api<K>,
    watch: watcher::Config,
    ready: impl FnOnce() + Send + 'static,
) -> (
    impl Stream<Item = Result<K, watcher::Error>> + Send,
    Store<K>,
)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    observed_trigger_stream(api, watch, ready, |_| {})
}

/// [`trigger_stream`], also calling `observe` with every object the watch applies (after
/// the store holds it, before the trigger filter): for reconcilers that requeue *other*
/// objects when one changes in ways the filter ignores (e.g. its status).
pub fn observed_trigger_stream<K>(
    api: Api<K>,
    watch: watcher::Config,
    ready: impl FnOnce() + Send + 'static,
    observe: impl Fn(&K) + Send + 'static,
) -> (
    impl Stream<Item = Result<K, watcher::Error>> + Send,
    Store<K>,
)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (stream, reader) = observed(api, watch, observe);
    let store = reader.clone();
    tokio::spawn(async move {
        store_synced(&store).await;
        ready();
    });
    (stream, reader)
}

/// The one watcher chain: watch, reflect into a store, `observe` each applied object, keep
/// the changes that should trigger a reconcile.
fn observed<K>(
    api: Api<K>,
    watch: watcher::Config,
    observe: impl Fn(&K) + Send + 'static,
) -> (
    impl Stream<Item = Result<K, watcher::Error>> + Send,
    Store<K>,
)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watch)
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .inspect_ok(move |obj| observe(obj))
        .predicate_filter(reconcile_trigger, Default::default());
    (stream, reader)
}

/// Unwraps kube's finalizer error into the reconciler's own, wrapping the finalizer
/// machinery's failures (adding or removing the finalizer) with `wrap`.
pub fn finalizer_error<E>(
    err: kube::runtime::finalizer::Error<E>,
    wrap: impl FnOnce(String) -> E,
) -> E
where
    E: std::error::Error + 'static,
{
    match err {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => wrap(other.to_string()),
    }
}
