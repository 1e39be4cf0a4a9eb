//! The controller loop shared by Provider, Alert and Receiver: watch, finalizer dispatch to
//! the kind's apply/cleanup, metrics.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use driftless_runtime::reconcile::{Outcome, finalized, retry_after_error};
use driftless_runtime::watch::watched;
use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

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

    /// Brings the in-process state and the status in line with the object; the outcome
    /// says whether it worked (a failure recorded in status is still `Ok`).
    fn apply(
        obj: Arc<Self>,
        ctx: Arc<Context>,
    ) -> impl Future<Output = Result<Outcome, Error>> + Send;

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
    let (stream, reader) = watched(api, watch);
    let run = Controller::for_stream(stream, reader.clone())
        .graceful_shutdown_on(shutdown)
        .run(reconcile::<K>, retry_after_error::<K, Error, Context>, ctx)
        .for_each(|_| futures::future::ready(()));
    (reader, run)
}

async fn reconcile<K: Reconciled>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    finalized(
        ctx.client.clone(),
        obj,
        &ctx.metrics,
        Error::Finalizer,
        |obj| K::apply(obj, ctx.clone()),
        |obj| K::cleanup(obj, ctx.clone()),
    )
    .await
}
