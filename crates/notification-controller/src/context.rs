//! What the notification controller shares between its reconcilers, its event dispatcher
//! and the webhook handler.

use driftless_runtime::Metrics;
use kube::Client;

use crate::Error;
use crate::queue::{Deliveries, DeliveryOptions};
use crate::receiver_index::ReceiverIndex;

/// Shared state of the notification controller.
pub struct Context {
    /// Client acting as the controller itself.
    pub client: Client,
    /// Metrics registry.
    pub metrics: Metrics,
    /// The delivery workers of the ready Providers.
    pub deliveries: Deliveries,
    /// The ready Receivers, by webhook path.
    pub receivers: ReceiverIndex,
}

impl Context {
    /// A context with no providers or receivers yet.
    pub fn new(client: Client, metrics: Metrics, options: DeliveryOptions) -> Result<Self, Error> {
        let http = crate::send::http_client().map_err(|reason| Error::Delivery {
            provider: "*".to_owned(),
            reason,
        })?;
        Ok(Context {
            client,
            deliveries: Deliveries::new(http, metrics.clone(), options),
            metrics,
            receivers: ReceiverIndex::default(),
        })
    }
}
