//! The controller loop shared by Provider, Alert and Receiver: watch, finalizer dispatch to
//! the kind's apply/cleanup, metrics.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use driftless_api::well_known::FINALIZER;
use driftless_runtime::object::reconcile_trigger;
use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::Store;
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{Instrument, info_span};

use crate::{Context, Error};

/// A notification kind the controller reconciles.
pub trait Reconciled:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
    + Send
    + Sync
    + 'static
{
    /// The kind's name, for metrics and logs.
    const KIND: &'static str;

    /// Brings the in-process state and the status in line with the object.
    fn apply(
        obj: Arc<Self>,
        ctx: Arc<Context>,
    ) -> impl Future<Output = Result<Action, Error>> + Send;

    /// Forgets the object (it is being deleted).
    fn cleanup(
        obj: Arc<Self>,
        ctx: Arc<Context>,
    ) -> impl Future<Output = Result<Action, Error>> + Send;
}

/// The watch cache of `K` and the future running its controller until `shutdown`.
pub fn controller<K: Reconciled>(
    ctx: Arc<Context>,
    api: Api<K>,
    watch: watcher::Config,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> (Store<K>, impl Future<Output = ()> + Send) {
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watch)
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(reconcile_trigger, Default::default());
    let run = Controller::for_stream(stream, reader.clone())
        .graceful_shutdown_on(shutdown)
        .run(reconcile::<K>, error_policy::<K>, ctx)
        .for_each(|_| futures::future::ready(()));
    (reader, run)
}

async fn reconcile<K: Reconciled>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = obj.namespace().unwrap_or_default();
    let span =
        info_span!("reconcile", kind = K::KIND, namespace = %namespace, name = %obj.name_any());
    let started = Instant::now();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(obj) => K::apply(obj, ctx.clone()).await,
            FinalizerEvent::Cleanup(obj) => K::cleanup(obj, ctx.clone()).await,
        }
    })
    .instrument(span)
    .await
    .map_err(|e| driftless_runtime::watch::finalizer_error(e, Error::Finalizer));
    ctx.metrics
        .observe_reconcile(K::KIND, started.elapsed(), result.is_ok());
    result
}

fn error_policy<K: Reconciled>(obj: Arc<K>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(kind = K::KIND, namespace = %obj.namespace().unwrap_or_default(), name = %obj.name_any(), error = %err, "reconcile failed");
    Action::requeue(Duration::from_secs(10))
}
