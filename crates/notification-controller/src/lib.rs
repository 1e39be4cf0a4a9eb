//! The notification controller: Providers (Slack, generic and HMAC-signed webhooks, SMTP
//! email), Alerts that route the events the controllers publish in-process to them (with
//! retries, backoff and a rate limit that folds identical events), and Receivers, webhooks
//! that request an immediate reconcile of the objects they list.

mod alert;
mod context;
mod controller;
mod dispatch;
mod error;
mod fold;
mod kinds;
pub mod matching;
pub mod payload;
mod provider;
pub mod provider_config;
pub mod queue;
mod receiver;
mod receiver_http;
pub mod receiver_index;
mod send;
pub mod signature;
mod status;
mod trigger;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use driftless_api::{Alert, Provider, Receiver};
use driftless_runtime::events::PublishedEvent;
use futures::FutureExt;
use kube::Api;
use kube::runtime::watcher;
use tokio::sync::broadcast;

pub use context::Context;
pub use error::Error;
pub use queue::DeliveryOptions;
pub use receiver_http::{DEFAULT_MAX_WEBHOOK_BODY_BYTES, receiver_routes, receiver_routes_limited};

/// Runs the Provider, Alert and Receiver controllers and the event dispatcher until
/// `shutdown` resolves. `events` comes from [`driftless_runtime::EventRecorder::subscribe`];
/// the `Api`s choose the namespaces to watch, `watch` the label selector. `ready` is called
/// once the three watch caches have synced.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    ctx: Arc<Context>,
    events: broadcast::Receiver<PublishedEvent>,
    providers: Api<Provider>,
    alerts: Api<Alert>,
    receivers: Api<Receiver>,
    watch: watcher::Config,
    ready: impl FnOnce() + Send + 'static,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown: Pin<Box<dyn Future<Output = ()> + Send + Sync>> = Box::pin(shutdown);
    let shutdown = shutdown.shared();
    let (provider_store, provider_loop) =
        controller::controller(ctx.clone(), providers, watch.clone(), shutdown.clone());
    let (alert_store, alert_loop) =
        controller::controller(ctx.clone(), alerts, watch.clone(), shutdown.clone());
    let (receiver_store, receiver_loop) =
        controller::controller(ctx.clone(), receivers, watch, shutdown.clone());
    let synced = (provider_store, alert_store.clone(), receiver_store);
    tokio::spawn(async move {
        driftless_runtime::readiness::store_synced(&synced.0).await;
        driftless_runtime::readiness::store_synced(&synced.1).await;
        driftless_runtime::readiness::store_synced(&synced.2).await;
        ready();
    });
    let dispatcher = dispatch::dispatch(ctx, events, alert_store, shutdown);
    futures::join!(provider_loop, alert_loop, receiver_loop, dispatcher);
}
