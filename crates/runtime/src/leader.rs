//! Leader election through a `coordination.k8s.io/v1` Lease, as controller-runtime does it:
//! one replica holds the Lease and reconciles, the others wait; the holder renews every
//! retry period and gives up leadership when it cannot renew within the renew deadline; a
//! holder that stops renewing is replaced once the lease duration passes without a renewal.
//!
//! Every write is a `replace` carrying the `resourceVersion` that was read, so two candidates
//! racing for a free Lease cannot both win: the API server refuses the second write with a
//! conflict.
//!
//! Typical use in a controller process:
//!
//! ```no_run
//! # async fn example(client: kube::Client) -> Result<(), driftless_runtime::RuntimeError> {
//! use driftless_runtime::leader::{
//!     DEFAULT_LEASE_NAME, LeaderElector, LeaseTimings, default_identity, default_lease_namespace,
//! };
//! let elector = LeaderElector::new(
//!     client, &default_lease_namespace(), DEFAULT_LEASE_NAME, default_identity(),
//!     LeaseTimings::default(),
//! )?;
//! elector.acquire().await;                    // blocks until this replica leads
//! // ... start the controllers ...
//! // Renew until shutdown, and keep renewing while in-flight work drains: the Lease must
//! // not expire while this replica still applies.
//! let mut renewing = std::pin::pin!(elector.keep_leading());
//! tokio::select! {
//!     lost = &mut renewing => {               // resolves only when leadership is lost
//!         eprintln!("{lost}");
//!         std::process::exit(1);              // let Kubernetes restart the pod
//!     }
//!     _ = tokio::signal::ctrl_c() => {}
//! }
//! let drain = async { /* stop the controllers, wait for in-flight reconciles */ };
//! tokio::select! {
//!     lost = &mut renewing => { eprintln!("{lost}"); std::process::exit(1); }
//!     () = drain => {}
//! }
//! // Stop renewing, then hand over at once:
//! drop(renewing);
//! elector.release().await?;
//! # Ok(()) }
//! ```

mod decision;
pub(crate) mod identity;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

pub use decision::{Decision, Observer, RecordVersion, decide};
pub use identity::default_identity;

use crate::RuntimeError;

/// Name of the Lease `driftless run --leader-elect` competes for.
pub const DEFAULT_LEASE_NAME: &str = "driftless-leader-election";

/// Namespace of the leader-election Lease: `$POD_NAMESPACE` (set from the downward API in
/// config/manager), else the in-cluster ServiceAccount's namespace, else `driftless-system`.
pub fn default_lease_namespace() -> String {
    std::env::var("POD_NAMESPACE")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok()
        })
        .map(|namespace| namespace.trim().to_owned())
        .filter(|namespace| !namespace.is_empty())
        .unwrap_or_else(|| String::from("driftless-system"))
}

/// How long a Lease lasts, how long a leader keeps trying to renew, and how often it tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTimings {
    /// How long others wait after the last renewal they saw before taking the Lease (15 s).
    pub lease_duration: Duration,
    /// How long the leader keeps retrying a failing renewal before it steps down (10 s).
    pub renew_deadline: Duration,
    /// Pause between two attempts to acquire or renew (2 s).
    pub retry_period: Duration,
}

impl Default for LeaseTimings {
    fn default() -> Self {
        LeaseTimings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl LeaseTimings {
    /// Checks `retry_period < renew_deadline < lease_duration` and whole seconds for the
    /// lease duration (the Lease stores seconds).
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let fail = |reason: &str| {
            Err(RuntimeError::LeaseTimings {
                timings: format!("{self:?}"),
                reason: reason.to_owned(),
            })
        };
        if self.retry_period.is_zero() {
            return fail("retry_period must be positive");
        }
        if self.retry_period >= self.renew_deadline {
            return fail("retry_period must be shorter than renew_deadline");
        }
        if self.renew_deadline >= self.lease_duration {
            return fail("renew_deadline must be shorter than lease_duration");
        }
        if self.lease_duration.subsec_nanos() != 0
            || self.lease_duration.as_secs() > i32::MAX as u64
        {
            return fail("lease_duration must be a whole number of seconds");
        }
        Ok(())
    }
}

/// Why a leader stopped leading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeadershipLost {
    /// What happened, naming the Lease.
    pub reason: String,
}

impl std::fmt::Display for LeadershipLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "leadership lost: {}", self.reason)
    }
}

/// The outcome of one attempt to acquire or renew.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Attempt {
    /// This candidate holds the Lease (just created, taken or renewed).
    Leading,
    /// Another candidate holds a live Lease.
    HeldBy(String),
    /// The write lost a race (the record changed since it was read).
    Conflict,
}

/// One candidate for leadership, identified by `identity`, competing for one Lease.
#[derive(Debug)]
pub struct LeaderElector {
    api: Api<Lease>,
    namespace: String,
    lease_name: String,
    identity: String,
    timings: LeaseTimings,
    observer: Mutex<Observer>,
    leading: AtomicBool,
}

impl LeaderElector {
    /// A candidate for Lease `namespace/lease_name` (created on first acquisition).
    pub fn new(
        client: Client,
        namespace: &str,
        lease_name: &str,
        identity: String,
        timings: LeaseTimings,
    ) -> Result<Self, RuntimeError> {
        timings.validate()?;
        Ok(LeaderElector {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            lease_name: lease_name.to_owned(),
            identity,
            timings,
            observer: Mutex::new(Observer::default()),
            leading: AtomicBool::new(false),
        })
    }

    /// This candidate's identity, as written into `spec.holderIdentity`.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Whether this candidate currently believes it leads (set by [`Self::acquire`] and
    /// successful renewals; cleared on loss or [`Self::release`]).
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// Blocks until this candidate holds the Lease, trying every retry period (with a little
    /// jitter). API errors are logged and retried: waiting is all a candidate can do.
    pub async fn acquire(&self) {
        tracing::info!(lease = %self.lease_ref(), identity = %self.identity, "waiting to acquire the leader lease");
        loop {
            match self.attempt().await {
                Ok(Attempt::Leading) => {
                    tracing::info!(lease = %self.lease_ref(), identity = %self.identity, "acquired the leader lease");
                    return;
                }
                Ok(Attempt::HeldBy(holder)) => {
                    tracing::debug!(lease = %self.lease_ref(), %holder, "leader lease held by another candidate");
                }
                Ok(Attempt::Conflict) => {
                    tracing::debug!(lease = %self.lease_ref(), "lost a race for the leader lease");
                }
                Err(error) => {
                    tracing::warn!(lease = %self.lease_ref(), %error, "could not acquire the leader lease");
                }
            }
            let jitter = self
                .timings
                .retry_period
                .mul_f64(0.1 * identity::random_fraction());
            tokio::time::sleep(self.timings.retry_period + jitter).await;
        }
    }

    /// One attempt to take or renew the Lease; `Ok(true)` when this candidate holds it after.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, RuntimeError> {
        Ok(self.attempt().await? == Attempt::Leading)
    }

    /// Renews the Lease every retry period while leading; resolves when leadership is lost:
    /// another candidate holds the Lease, or no renewal succeeded within the renew deadline.
    /// The process should then stop reconciling at once (exit, and let Kubernetes restart it).
    ///
    /// Dropping this future stops renewing; call [`Self::release`] afterwards on a graceful
    /// shutdown so the next candidate need not wait for expiry.
    pub async fn keep_leading(&self) -> LeadershipLost {
        let mut last_renewal = Instant::now();
        loop {
            tokio::time::sleep(self.timings.retry_period).await;
            let remaining = (last_renewal + self.timings.renew_deadline)
                .saturating_duration_since(Instant::now());
            match tokio::time::timeout(remaining, self.attempt()).await {
                Ok(Ok(Attempt::Leading)) => last_renewal = Instant::now(),
                Ok(Ok(Attempt::HeldBy(holder))) => {
                    return self.lost(format!(
                        "lease {} is now held by {holder}",
                        self.lease_ref()
                    ));
                }
                Ok(Ok(Attempt::Conflict)) => {
                    tracing::warn!(lease = %self.lease_ref(), "renewing the leader lease hit a conflict; retrying");
                }
                Ok(Err(error)) => {
                    tracing::warn!(lease = %self.lease_ref(), %error, "renewing the leader lease failed; retrying");
                }
                Err(_) => {}
            }
            if Instant::now() >= last_renewal + self.timings.renew_deadline {
                return self.lost(format!(
                    "could not renew lease {} within the renew deadline of {:?}",
                    self.lease_ref(),
                    self.timings.renew_deadline
                ));
            }
        }
    }

    /// Steps down: clears `spec.holderIdentity` (when this candidate still holds the Lease)
    /// so the next candidate takes over at its next attempt instead of after expiry.
    pub async fn release(&self) -> Result<(), RuntimeError> {
        self.leading.store(false, Ordering::SeqCst);
        let Some(mut lease) = self
            .api
            .get_opt(&self.lease_name)
            .await
            .map_err(|source| self.error("get", source))?
        else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        let now = MicroTime(Timestamp::now());
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.acquire_time = Some(now.clone());
        spec.renew_time = Some(now);
        self.api
            .replace(&self.lease_name, &PostParams::default(), &lease)
            .await
            .map_err(|source| self.error("release", source))?;
        tracing::info!(lease = %self.lease_ref(), identity = %self.identity, "released the leader lease");
        Ok(())
    }

    async fn attempt(&self) -> Result<Attempt, RuntimeError> {
        let attempt = self.attempt_once().await;
        self.leading
            .store(matches!(attempt, Ok(Attempt::Leading)), Ordering::SeqCst);
        attempt
    }

    async fn attempt_once(&self) -> Result<Attempt, RuntimeError> {
        let existing = self
            .api
            .get_opt(&self.lease_name)
            .await
            .map_err(|source| self.error("get", source))?;
        let Some(mut lease) = existing else {
            return self.create().await;
        };
        let observed_at = self.observe(&lease);
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let duration = spec
            .lease_duration_seconds
            .and_then(|secs| u64::try_from(secs).ok())
            .filter(|secs| *secs > 0)
            .map_or(self.timings.lease_duration, Duration::from_secs);
        let now = MicroTime(Timestamp::now());
        match decide(
            spec.holder_identity.as_deref(),
            &self.identity,
            observed_at,
            duration,
            Instant::now(),
        ) {
            Decision::Wait { holder, .. } => return Ok(Attempt::HeldBy(holder)),
            Decision::Renew => {}
            Decision::Take => {
                spec.holder_identity = Some(self.identity.clone());
                spec.acquire_time = Some(now.clone());
                spec.lease_transitions =
                    Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
            }
        }
        spec.renew_time = Some(now);
        spec.lease_duration_seconds = Some(self.lease_duration_seconds());
        // `lease` still carries the resourceVersion that was read: a concurrent write wins.
        match self
            .api
            .replace(&self.lease_name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                self.observe(&written);
                Ok(Attempt::Leading)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::Conflict),
            Err(source) => Err(self.error("update", source)),
        }
    }

    async fn create(&self) -> Result<Attempt, RuntimeError> {
        let now = MicroTime(Timestamp::now());
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.lease_name.clone()),
                namespace: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(self.lease_duration_seconds()),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(created) => {
                self.observe(&created);
                Ok(Attempt::Leading)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Attempt::Conflict),
            Err(source) => Err(self.error("create", source)),
        }
    }

    /// Notes the record in the observer; returns when this record was first seen.
    fn observe(&self, lease: &Lease) -> Instant {
        let spec = lease.spec.as_ref();
        let version = RecordVersion {
            holder: spec.and_then(|spec| spec.holder_identity.clone()),
            renew_time: spec
                .and_then(|spec| spec.renew_time.as_ref())
                .map(|time| time.0.to_string()),
            resource_version: lease.metadata.resource_version.clone(),
        };
        let mut observer = self
            .observer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        observer.observe(version, Instant::now())
    }

    fn lost(&self, reason: String) -> LeadershipLost {
        self.leading.store(false, Ordering::SeqCst);
        tracing::error!(lease = %self.lease_ref(), identity = %self.identity, %reason, "leadership lost");
        LeadershipLost { reason }
    }

    fn lease_duration_seconds(&self) -> i32 {
        // validate() guarantees whole seconds that fit in an i32.
        i32::try_from(self.timings.lease_duration.as_secs()).unwrap_or(i32::MAX)
    }

    fn lease_ref(&self) -> String {
        format!("{}/{}", self.namespace, self.lease_name)
    }

    fn error(&self, action: &'static str, source: kube::Error) -> RuntimeError {
        RuntimeError::Lease {
            lease: self.lease_ref(),
            action,
            source: Box::new(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_timings_are_controller_runtimes_and_valid() {
        let timings = LeaseTimings::default();
        assert_eq!(timings.lease_duration, Duration::from_secs(15));
        assert_eq!(timings.renew_deadline, Duration::from_secs(10));
        assert_eq!(timings.retry_period, Duration::from_secs(2));
        assert!(timings.validate().is_ok());
    }

    #[test]
    fn inconsistent_timings_are_refused() {
        let base = LeaseTimings::default();
        let cases = [
            LeaseTimings {
                renew_deadline: base.lease_duration,
                ..base
            },
            LeaseTimings {
                retry_period: base.renew_deadline,
                ..base
            },
            LeaseTimings {
                retry_period: Duration::ZERO,
                ..base
            },
            LeaseTimings {
                lease_duration: Duration::from_millis(15_500),
                ..base
            },
        ];
        for timings in cases {
            let error = timings.validate().expect_err("invalid timings");
            assert!(error.to_string().contains("lease timings"), "{error}");
        }
    }
}
