//! Waiting until objects are healthy (kstatus `Current`), polling with a deadline.

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use kube::Client;

use crate::applier::Applier;
use crate::error::{ApplyError, Failures, ObjectFailure, server_reason};
use crate::health::{Health, HealthStatus, health_of};
use crate::object::ObjectRef;
use crate::poll::POLL_INTERVAL;
use crate::resolve::Resolver;
use crate::target::{api_for, to_json};

/// How many objects are read at once.
const CONCURRENT_READS: usize = 8;

impl Applier {
    /// Polls `objects` until every one is `Current`, for at most `timeout`.
    ///
    /// Returns early with an error when an object is `Failed` (a terminal state such as a
    /// failed Job or a Deployment past its progress deadline). On the deadline the error
    /// lists every object that is not `Current`, with its status and why.
    pub async fn wait_healthy(
        &self,
        objects: &[ObjectRef],
        timeout: Duration,
    ) -> Result<(), ApplyError> {
        let started = Instant::now();
        let deadline = started + timeout;
        let mut pending: Vec<&ObjectRef> = objects.iter().collect();
        loop {
            // Futures collected first (not built in a combinator's closure) so the caller's
            // future stays `Send`.
            let reads: Vec<_> = pending.iter().map(|object| self.health(object)).collect();
            let observed: Vec<Health> = stream::iter(reads)
                .buffered(CONCURRENT_READS)
                .collect()
                .await;
            let remaining: Vec<(&ObjectRef, Health)> = pending
                .iter()
                .copied()
                .zip(observed)
                .filter(|(_, health)| health.status != HealthStatus::Current)
                .collect();
            if remaining.is_empty() {
                return Ok(());
            }
            let failed = remaining
                .iter()
                .any(|(_, health)| health.status == HealthStatus::Failed);
            let now = Instant::now();
            if failed || now >= deadline {
                let failures = remaining
                    .iter()
                    .filter(|(_, health)| !failed || health.status == HealthStatus::Failed)
                    .map(|(object, health)| ObjectFailure {
                        object: object.to_string(),
                        reason: format!("{}: {}", health.status, health.message),
                    })
                    .collect();
                return Err(ApplyError::Unhealthy {
                    timeout,
                    elapsed: now - started,
                    failures: Failures(failures),
                });
            }
            pending = remaining.into_iter().map(|(object, _)| object).collect();
            tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
        }
    }

    /// The current health of one object, read from the API server.
    pub async fn health(&self, object: &ObjectRef) -> Health {
        let unknown = |message: String| Health {
            status: HealthStatus::Unknown,
            message,
        };
        let not_found = |message: String| Health {
            status: HealthStatus::NotFound,
            message,
        };
        let resolved = match self.resolver.resolve(&self.client, object).await {
            Ok(Some(resolved)) => resolved,
            Ok(None) => {
                return not_found(format!(
                    "kind {} in {} is not served",
                    object.kind,
                    object.api_version()
                ));
            }
            Err(error) => return unknown(format!("kind lookup failed: {}", server_reason(&error))),
        };
        match api_for(&self.client, &resolved, object)
            .get_opt(&object.name)
            .await
        {
            Ok(Some(live)) => {
                let json = to_json(&live);
                self.custom_health
                    .as_ref()
                    .and_then(|custom| custom.judge(&json))
                    .unwrap_or_else(|| health_of(&json))
            }
            Ok(None) => not_found("the object does not exist".into()),
            Err(error) => unknown(format!("get failed: {}", server_reason(&error))),
        }
    }
}

/// [`Applier::wait_healthy`] with a fresh kind cache: polls `objects` until each is
/// `Current`, at most for `timeout`.
pub async fn wait_healthy(
    client: &Client,
    objects: &[ObjectRef],
    timeout: Duration,
) -> Result<(), ApplyError> {
    Applier::new(client.clone(), Resolver::new())
        .wait_healthy(objects, timeout)
        .await
}
