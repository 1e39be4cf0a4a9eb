//! What the GitRepository reconciler needs: the client, the shared cache, events, metrics.

use std::sync::Arc;

use driftless_runtime::url_policy::UrlPolicy;
use driftless_runtime::{EventRecorder, Metrics};
use driftless_source::SourceCache;
use kube::Client;

/// Shared state of the GitRepository reconciler.
#[derive(Clone)]
pub struct Context {
    /// Client acting as the controller itself.
    pub client: Client,
    /// The process-wide source cache, shared with the Kustomization controller.
    pub cache: Arc<SourceCache>,
    /// Event recorder.
    pub recorder: EventRecorder,
    /// Metrics registry.
    pub metrics: Metrics,
    /// Base of the artifact URLs written in status, e.g. `http://driftless.driftless-system.svc:9090`.
    pub artifact_base_url: String,
    /// The URL policy `spec.url` must pass before anything connects: schemes, `file://`
    /// only with `--allow-file-urls` (a tenant could otherwise read repositories on the
    /// controller's own disk, other tenants' mirrors included), `--allowed-hosts`,
    /// `--denied-cidrs`.
    pub url_policy: Arc<UrlPolicy>,
    /// The registry HTTP client (URL policy enforced on every host and redirect).
    pub http: reqwest::Client,
    /// Bytes of one registry JSON answer (manifest, tag page, token) read at most.
    pub max_registry_response_bytes: u64,
    /// Largest OCI layer downloaded, in bytes (`--max-artifact-bytes`); the extracted files
    /// are bounded by the cache's own limits.
    pub max_artifact_bytes: u64,
    /// What each watched GitRepository publishes, for the artifact server; [`crate::run`]
    /// registers its watch here.
    pub published: crate::PublishedArtifacts,
}
