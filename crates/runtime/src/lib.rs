//! What every Driftless controller shares: the Prometheus metrics registry, the Kubernetes
//! event recorder, the readiness flag, Lease-based leader election and the HTTP server for
//! `/metrics`, `/healthz`, `/readyz` (and routes other crates add, such as `/artifacts`).

pub mod backoff;
mod error;
pub mod events;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod object;
pub mod readiness;
pub mod reconcile;
pub mod request_limit;
pub mod url_policy;
pub mod watch;

pub use error::RuntimeError;
pub use events::EventRecorder;
pub use metrics::Metrics;
pub use readiness::Readiness;
pub use request_limit::RequestLimit;
