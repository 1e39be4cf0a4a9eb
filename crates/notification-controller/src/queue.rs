//! One bounded queue and one worker per Provider: a dead or hanging provider only delays
//! its own notifications, never event publishing, reconciles or other providers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftless_runtime::Metrics;
use tokio::sync::{mpsc, watch};

use crate::fold::{FoldKey, Folder};
use crate::payload::Notification;
use crate::provider_config::ProviderConfig;
use crate::send;

/// Tunables of delivery.
#[derive(Clone, Debug)]
pub struct DeliveryOptions {
    /// Notifications waiting per provider; more are dropped (and counted).
    pub queue_capacity: usize,
    /// Attempts per notification, the first included.
    pub attempts: u32,
    /// Wait before the first retry; doubles each retry.
    pub initial_backoff: Duration,
    /// Longest wait between retries.
    pub max_backoff: Duration,
    /// Identical notifications within this window are folded (Flux: 5 minutes).
    pub fold_window: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            queue_capacity: 100,
            attempts: 4,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            fold_window: Duration::from_secs(300),
        }
    }
}

/// The wait before retry number `retry` (1-based).
pub fn backoff(options: &DeliveryOptions, retry: u32) -> Duration {
    let factor = 2u32.saturating_pow(retry.saturating_sub(1));
    options
        .initial_backoff
        .saturating_mul(factor)
        .min(options.max_backoff)
}

/// What happened to a notification handed to [`Deliveries::enqueue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// Waiting for the provider's worker.
    Queued,
    /// An identical notification went out within the window.
    Folded,
    /// The provider's queue is full.
    Dropped,
    /// No ready, unsuspended provider of that name.
    NoProvider,
}

struct Worker {
    queue: mpsc::Sender<Notification>,
    config: watch::Sender<Arc<ProviderConfig>>,
}

/// The workers of every ready Provider, by `<namespace>/<name>`.
pub struct Deliveries {
    workers: Mutex<HashMap<String, Worker>>,
    folder: Mutex<Folder>,
    http: reqwest::Client,
    metrics: Metrics,
    options: DeliveryOptions,
}

impl Deliveries {
    /// No workers yet.
    pub fn new(http: reqwest::Client, metrics: Metrics, options: DeliveryOptions) -> Self {
        Deliveries {
            workers: Mutex::new(HashMap::new()),
            folder: Mutex::new(Folder::new(options.fold_window)),
            http,
            metrics,
            options,
        }
    }

    /// Starts the worker of `provider`, or hands it the new config.
    pub fn upsert(&self, provider: &str, config: ProviderConfig) {
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = workers.get(provider)
            && !w.queue.is_closed()
        {
            w.config.send_if_modified(|current| {
                if **current == config {
                    return false;
                }
                *current = Arc::new(config);
                true
            });
            return;
        }
        let (queue, rx) = mpsc::channel(self.options.queue_capacity.max(1));
        let (config_tx, config_rx) = watch::channel(Arc::new(config));
        tokio::spawn(work(
            provider.to_owned(),
            rx,
            config_rx,
            self.http.clone(),
            self.metrics.clone(),
            self.options.clone(),
        ));
        workers.insert(
            provider.to_owned(),
            Worker {
                queue,
                config: config_tx,
            },
        );
    }

    /// Stops the worker of `provider` once its queue is drained.
    pub fn remove(&self, provider: &str) {
        self.workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(provider);
    }

    /// Hands `n` to the worker of `provider` without waiting.
    pub fn enqueue(&self, provider: &str, n: Notification) -> Enqueued {
        let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        let Some(worker) = workers.get(provider) else {
            return Enqueued::NoProvider;
        };
        let key = FoldKey {
            provider: provider.to_owned(),
            object: n.object(),
            reason: n.event.reason.clone(),
            message: n.event.message.clone(),
        };
        let admitted = self
            .folder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(key, Instant::now());
        let outcome = if !admitted {
            Enqueued::Folded
        } else if worker.queue.try_send(n).is_ok() {
            Enqueued::Queued
        } else {
            Enqueued::Dropped
        };
        match outcome {
            Enqueued::Folded => self.count(provider, "folded"),
            Enqueued::Dropped => {
                tracing::warn!(provider, "notification queue full; dropping a notification");
                self.count(provider, "dropped");
            }
            _ => {}
        }
        outcome
    }

    fn count(&self, provider: &str, result: &str) {
        self.metrics
            .notification_deliveries_total
            .with_label_values(&[provider, result])
            .inc();
    }
}

async fn work(
    provider: String,
    mut queue: mpsc::Receiver<Notification>,
    config: watch::Receiver<Arc<ProviderConfig>>,
    http: reqwest::Client,
    metrics: Metrics,
    options: DeliveryOptions,
) {
    while let Some(n) = queue.recv().await {
        let mut attempt = 1;
        let result = loop {
            let current = config.borrow().clone();
            match send::send(&http, &current, &n).await {
                Ok(()) => break "success",
                Err(reason) if attempt >= options.attempts.max(1) => {
                    tracing::warn!(provider, object = %n.object(), reason = %n.event.reason, error = %reason, attempts = attempt, "giving up delivering a notification");
                    break "error";
                }
                Err(reason) => {
                    tracing::debug!(provider, error = %reason, attempt, "delivery failed; retrying");
                    tokio::time::sleep(backoff(&options, attempt)).await;
                    attempt += 1;
                }
            }
        };
        metrics
            .notification_deliveries_total
            .with_label_values(&[&provider, result])
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::StatusCode;
    use driftless_api::notification::ProviderType;
    use driftless_runtime::events::{PublishedEvent, Severity};
    use k8s_openapi::api::core::v1::ObjectReference;

    /// A webhook on loopback failing the first `failures` calls with 500; counts calls.
    async fn flaky_sink(failures: usize) -> (String, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let app = axum::Router::new().fallback(move || {
            let seen = seen.clone();
            async move {
                if seen.fetch_add(1, Ordering::SeqCst) < failures {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}/hook"), calls)
    }

    fn config(address: String) -> ProviderConfig {
        ProviderConfig {
            type_: ProviderType::Generic,
            address,
            token: None,
            channel: None,
            username: None,
            timeout: Duration::from_secs(5),
            email: None,
        }
    }

    fn notification(message: &str) -> Notification {
        Notification {
            event: PublishedEvent {
                regarding: ObjectReference {
                    kind: Some("Kustomization".into()),
                    namespace: Some("apps".into()),
                    name: Some("web".into()),
                    ..Default::default()
                },
                severity: Severity::Error,
                reason: "HealthCheckFailed".into(),
                message: message.into(),
                revision: None,
            },
            summary: None,
            timestamp: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn deliveries(metrics: &Metrics, attempts: u32, capacity: usize) -> Deliveries {
        Deliveries::new(
            send::http_client().unwrap(),
            metrics.clone(),
            DeliveryOptions {
                queue_capacity: capacity,
                attempts,
                initial_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(20),
                ..Default::default()
            },
        )
    }

    async fn wait_for_count(metrics: &Metrics, provider: &str, result: &str, want: u64) {
        let counter = metrics
            .notification_deliveries_total
            .with_label_values(&[provider, result]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while counter.get() < want {
            assert!(Instant::now() < deadline, "{result} never reached {want}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(counter.get(), want);
    }

    #[tokio::test]
    async fn retries_until_success_then_gives_up_after_the_bound() {
        let metrics = Metrics::new().unwrap();
        let (address, calls) = flaky_sink(2).await;
        let d = deliveries(&metrics, 3, 10);
        d.upsert("apps/p", config(address));
        assert_eq!(d.enqueue("apps/p", notification("one")), Enqueued::Queued);
        wait_for_count(&metrics, "apps/p", "success", 1).await;
        assert_eq!(calls.load(Ordering::SeqCst), 3, "two failures, one success");

        let (address, calls) = flaky_sink(usize::MAX).await;
        d.upsert("apps/p", config(address));
        assert_eq!(d.enqueue("apps/p", notification("two")), Enqueued::Queued);
        wait_for_count(&metrics, "apps/p", "error", 1).await;
        assert_eq!(calls.load(Ordering::SeqCst), 3, "attempts are bounded");
        assert_eq!(
            d.enqueue("apps/p", notification("two")),
            Enqueued::Folded,
            "an identical event within the window is folded"
        );
        d.remove("apps/p");
        assert_eq!(
            d.enqueue("apps/p", notification("three")),
            Enqueued::NoProvider
        );
    }

    #[tokio::test]
    async fn a_full_queue_drops_instead_of_waiting() {
        let metrics = Metrics::new().unwrap();
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let d = deliveries(&metrics, 1, 1);
        d.upsert("apps/hang", config(format!("http://{addr}/")));
        let started = Instant::now();
        let outcomes: Vec<Enqueued> = (0..5)
            .map(|i| d.enqueue("apps/hang", notification(&format!("event {i}"))))
            .collect();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "enqueue never waits"
        );
        let dropped = outcomes.iter().filter(|o| **o == Enqueued::Dropped).count();
        assert!(
            dropped >= 3,
            "one in flight and one queued at most: {outcomes:?}"
        );
        assert_eq!(
            metrics
                .notification_deliveries_total
                .with_label_values(&["apps/hang", "dropped"])
                .get(),
            dropped as u64
        );
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let o = DeliveryOptions {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            ..Default::default()
        };
        assert_eq!(backoff(&o, 1), Duration::from_millis(100));
        assert_eq!(backoff(&o, 2), Duration::from_millis(200));
        assert_eq!(backoff(&o, 3), Duration::from_millis(400));
        assert_eq!(backoff(&o, 4), Duration::from_millis(500));
        assert_eq!(backoff(&o, 100), Duration::from_millis(500));
    }
}
