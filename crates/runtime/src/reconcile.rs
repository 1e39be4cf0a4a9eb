//! The reconcile scaffolding every controller shares: one span per reconcile, dispatch through
//! the finalizer to the kind's apply or cleanup, the reconcile metrics, and the error policy.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use driftless_api::well_known::FINALIZER;
use k8s_openapi::NamespaceResourceScope;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event, finalizer};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{Instrument, info_span};

use crate::Metrics;
use crate::watch::finalizer_error;

/// What an apply step decided: when to look again, and whether the sync succeeded.
///
/// A failure the step recorded in the object's status still returns `Ok` (it keeps its own
/// requeue), but counts as an error in `driftless_reconcile_total`.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When to reconcile again.
    pub action: Action,
    /// Whether the sync did what the spec asked (a suspended object counts as done).
    pub succeeded: bool,
}

impl Outcome {
    /// An outcome whose success is that of `result`.
    pub fn of<T, E>(action: Action, result: &Result<T, E>) -> Self {
        Outcome {
            action,
            succeeded: result.is_ok(),
        }
    }

    /// A successful outcome.
    pub fn done(action: Action) -> Self {
        Outcome {
            action,
            succeeded: true,
        }
    }
}

/// Reconciles `obj` of `kind`: inside a span carrying kind, namespace, name (and the
/// revision the step records), adds the finalizer or runs `cleanup` on deletion, runs
/// `apply` otherwise, and records the reconcile in `metrics`. Failures of the finalizer
/// machinery are wrapped into the controller's error with `wrap`.
pub async fn finalized<K, E, A, AF, C, CF>(
    client: Client,
    obj: Arc<K>,
    metrics: &Metrics,
    wrap: impl FnOnce(String) -> E,
    apply: A,
    cleanup: C,
) -> Result<Action, E>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug
        + Send
        + Sync
        + 'static,
    E: std::error::Error + Send + 'static,
    A: FnOnce(Arc<K>) -> AF,
    AF: Future<Output = Result<Outcome, E>>,
    C: FnOnce(Arc<K>) -> CF,
    CF: Future<Output = Result<Action, E>>,
{
    let kind = K::kind(&());
    let namespace = obj.namespace().unwrap_or_default();
    let span = info_span!("reconcile", kind = %kind, namespace = %namespace, name = %obj.name_any(), revision = tracing::field::Empty);
    let started = Instant::now();
    let api: Api<K> = Api::namespaced(client, &namespace);
    let succeeded = AtomicBool::new(true);
    let flag = &succeeded;
    let result = finalizer(&api, FINALIZER, obj, move |event| async move {
        match event {
            Event::Apply(obj) => apply(obj).await.map(|outcome| {
                flag.store(outcome.succeeded, Ordering::Relaxed);
                outcome.action
            }),
            Event::Cleanup(obj) => cleanup(obj).await,
        }
    })
    .instrument(span)
    .await
    .map_err(|e| finalizer_error(e, wrap));
    let ok = result.is_ok() && succeeded.load(Ordering::Relaxed);
    metrics.observe_reconcile(&kind, started.elapsed(), ok);
    result
}

/// The error policy of every controller: log the failure naming the object, retry in 10 s.
pub fn retry_after_error<K, E, C>(obj: Arc<K>, err: &E, _ctx: Arc<C>) -> Action
where
    K: Resource<DynamicType = ()>,
    E: Display,
{
    tracing::warn!(kind = %K::kind(&()), namespace = %obj.namespace().unwrap_or_default(), name = %obj.name_any(), error = %err, "reconcile failed");
    Action::requeue(Duration::from_secs(10))
}
