//! The reconcile scaffolding every controller shares: one span per reconcile, dispatch through
//! the finalizer to the kind's apply or cleanup, the reconcile metrics, and the error policy.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
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
use crate::backoff::{Backoffs, Schedule, random_unit};
use crate::watch::finalizer_error;

/// What an apply step decided: when to look again, and whether the sync succeeded.
///
/// A failure the step recorded in the object's status still returns `Ok` (it keeps its own
/// requeue), but counts as an error in `driftless_reconcile_total`, and its retry follows
/// [`Retry`] (by default the shared per-object backoff, see [`crate::backoff`]).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When to reconcile again after a success.
    pub action: Action,
    /// Whether the sync did what the spec asked (a suspended object counts as done).
    pub succeeded: bool,
    /// How a failure is retried (ignored on success).
    pub retry: Retry,
}

/// How a failed sync is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The shared per-object backoff: 5 s, doubling, capped at 5 min, ±20 % jitter.
    Backoff,
    /// The shared backoff, but never later than this (e.g. the object's own interval).
    BackoffAtMost(Duration),
    /// This delay, ±20 % jitter: the user asked for it (a Kustomization's `retryInterval`),
    /// or the object is waiting for another one rather than failing.
    Fixed(Duration),
}

impl Outcome {
    /// An outcome whose success is that of `result`; a failure retries with the backoff.
    pub fn of<T, E>(action: Action, result: &Result<T, E>) -> Self {
        Outcome {
            action,
            succeeded: result.is_ok(),
            retry: Retry::Backoff,
        }
    }

    /// A successful outcome.
    pub fn done(action: Action) -> Self {
        Outcome {
            action,
            succeeded: true,
            retry: Retry::Backoff,
        }
    }

    /// The same outcome, retrying a failure as `retry` says.
    #[must_use]
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }
}

/// The backoff table every controller of this process shares.
pub fn backoffs() -> &'static Backoffs {
    static BACKOFFS: OnceLock<Backoffs> = OnceLock::new();
    BACKOFFS.get_or_init(|| Backoffs::new(Schedule::DEFAULT))
}

/// The key of `obj` in [`backoffs`]: its uid, or `kind/namespace/name` without one.
pub fn backoff_key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    obj.uid().unwrap_or_else(|| {
        format!(
            "{}/{}/{}",
            K::kind(&()),
            obj.namespace().unwrap_or_default(),
            obj.name_any()
        )
    })
}

/// The delay before retrying a failure recorded in status, following `retry`.
fn retry_delay(key: &str, retry: Retry) -> Duration {
    let table = backoffs();
    let schedule = table.schedule();
    match retry {
        Retry::Backoff => table.fail(key),
        Retry::BackoffAtMost(limit) => {
            let (nominal, _) = table.fail_at(key, Instant::now());
            schedule.jittered(nominal.min(limit), random_unit())
        }
        Retry::Fixed(delay) => schedule.jittered(delay, random_unit()),
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
    let key = backoff_key(obj.as_ref());
    let span = info_span!("reconcile", kind = %kind, namespace = %namespace, name = %obj.name_any(), revision = tracing::field::Empty);
    let started = Instant::now();
    let api: Api<K> = Api::namespaced(client, &namespace);
    let succeeded = AtomicBool::new(true);
    let flag = &succeeded;
    // Cleanup done: the object is going, its backoff entry goes with it.
    let cleaned = AtomicBool::new(false);
    let cleaned_flag = &cleaned;
    let retry = Mutex::new(Retry::Backoff);
    let retry_slot = &retry;
    let result = finalizer(&api, FINALIZER, obj, move |event| async move {
        match event {
            Event::Apply(obj) => apply(obj).await.map(|outcome| {
                flag.store(outcome.succeeded, Ordering::Relaxed);
                *retry_slot.lock().unwrap_or_else(|p| p.into_inner()) = outcome.retry;
                outcome.action
            }),
            Event::Cleanup(obj) => cleanup(obj).await.inspect(|_| {
                cleaned_flag.store(true, Ordering::Relaxed);
            }),
        }
    })
    .instrument(span)
    .await
    .map_err(|e| finalizer_error(e, wrap));
    let ok = result.is_ok() && succeeded.load(Ordering::Relaxed);
    metrics.observe_reconcile(&kind, started.elapsed(), ok);
    match result {
        // Errors are counted (and their retry chosen) by `retry_after_error`.
        Err(err) => Err(err),
        Ok(action) if cleaned.load(Ordering::Relaxed) || ok => {
            backoffs().reset(&key);
            Ok(action)
        }
        Ok(_) => {
            let retry = *retry.lock().unwrap_or_else(|p| p.into_inner());
            Ok(Action::requeue(retry_delay(&key, retry)))
        }
    }
}

/// The error policy of every controller: log the failure naming the object, and retry
/// after the object's next backoff delay (5 s, doubling, capped at 5 min, ±20 % jitter; the
/// count resets when a reconcile succeeds).
pub fn retry_after_error<K, E, C>(obj: Arc<K>, err: &E, _ctx: Arc<C>) -> Action
where
    K: Resource<DynamicType = ()>,
    E: Display,
{
    let key = backoff_key(obj.as_ref());
    let delay = backoffs().fail(&key);
    tracing::warn!(kind = %K::kind(&()), namespace = %obj.namespace().unwrap_or_default(), name = %obj.name_any(), error = %err, retry_in = ?delay, failures = backoffs().failures(&key), "reconcile failed");
    Action::requeue(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_failures_follow_their_retry_policy() {
        let key = format!("test-{}", random_unit());
        let second = Duration::from_secs(1);
        // Fixed: the requested delay ±20 %, however often it failed, and not counted.
        for _ in 0..3 {
            let d = retry_delay(&key, Retry::Fixed(second));
            assert!(
                d >= second.mul_f64(0.8) && d <= second.mul_f64(1.2),
                "{d:?}"
            );
        }
        assert_eq!(backoffs().failures(&key), 0, "waiting is not failing");
        // Backoff: 5, 10, 20, 40 s (±20 %) for consecutive failures.
        for nominal in [5, 10, 20, 40].map(Duration::from_secs) {
            let d = retry_delay(&key, Retry::Backoff);
            assert!(
                d >= nominal.mul_f64(0.8) && d <= nominal.mul_f64(1.2),
                "{d:?} vs {nominal:?}"
            );
        }
        assert_eq!(backoffs().failures(&key), 4);
        // BackoffAtMost: the fifth failure would wait 80 s; the limit wins.
        let d = retry_delay(&key, Retry::BackoffAtMost(2 * second));
        assert!(d <= (2 * second).mul_f64(1.2), "{d:?}");
        assert_eq!(backoffs().failures(&key), 5);
        backoffs().reset(&key);
        assert_eq!(backoffs().failures(&key), 0);
    }
}
