//! Kubernetes Events for every applied change and every failure, also fanned out in-process
//! (for alerting) through a broadcast channel.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::broadcast;

/// Largest note an event carries (the API server refuses more than 1 KiB).
pub const MAX_NOTE_BYTES: usize = 1024;

/// Severity of a published event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Something changed as asked.
    Info,
    /// Something failed.
    Error,
}

/// An event as published, for in-process subscribers.
#[derive(Clone, Debug)]
pub struct PublishedEvent {
    /// The object the event is about.
    pub regarding: ObjectReference,
    /// Info or error.
    pub severity: Severity,
    /// PascalCase reason.
    pub reason: String,
    /// The (truncated) message.
    pub message: String,
    /// Extra key/values, e.g. the source revision.
    pub revision: Option<String>,
}

/// Publishes events to the API server and to in-process subscribers.
#[derive(Clone)]
pub struct EventRecorder {
    recorder: Recorder,
    fanout: broadcast::Sender<PublishedEvent>,
}

impl EventRecorder {
    /// A recorder reporting as `controller` (e.g. `driftless`).
    pub fn new(client: Client, controller: &str) -> Self {
        let reporter = Reporter {
            controller: controller.to_owned(),
            instance: std::env::var("POD_NAME").ok(),
        };
        let (fanout, _) = broadcast::channel(1024);
        EventRecorder {
            recorder: Recorder::new(client, reporter),
            fanout,
        }
    }

    /// Receives every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<PublishedEvent> {
        self.fanout.subscribe()
    }

    /// Publishes an event about `regarding`. Failures to publish are logged, never returned:
    /// an event must not fail a reconcile.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        severity: Severity,
        reason: &str,
        message: &str,
        revision: Option<&str>,
    ) {
        let (event, published) = self.prepare(regarding, severity, reason, message, revision);
        if let Err(err) = self.recorder.publish(&event, regarding).await {
            tracing::warn!(
                reason,
                object = regarding.name.as_deref().unwrap_or_default(),
                error = %err,
                "publishing event failed"
            );
        }
        let _ = self.fanout.send(published);
    }

    /// Publishes an event about `regarding`, returning the API server's refusal (e.g. the
    /// namespace is terminating) so the caller can tell someone else. In-process
    /// subscribers only see it when it was recorded.
    pub async fn try_publish(
        &self,
        regarding: &ObjectReference,
        severity: Severity,
        reason: &str,
        message: &str,
        revision: Option<&str>,
    ) -> Result<(), kube::Error> {
        let (event, published) = self.prepare(regarding, severity, reason, message, revision);
        self.recorder.publish(&event, regarding).await?;
        let _ = self.fanout.send(published);
        Ok(())
    }

    fn prepare(
        &self,
        regarding: &ObjectReference,
        severity: Severity,
        reason: &str,
        message: &str,
        revision: Option<&str>,
    ) -> (Event, PublishedEvent) {
        let note = driftless_api::condition::truncate(message, MAX_NOTE_BYTES);
        let event = Event {
            type_: match severity {
                Severity::Info => EventType::Normal,
                Severity::Error => EventType::Warning,
            },
            reason: reason.to_owned(),
            note: Some(note.clone()),
            action: reason.to_owned(),
            secondary: None,
        };
        let published = PublishedEvent {
            regarding: regarding.clone(),
            severity,
            reason: reason.to_owned(),
            message: note,
            revision: revision.map(str::to_owned),
        };
        (event, published)
    }
}
