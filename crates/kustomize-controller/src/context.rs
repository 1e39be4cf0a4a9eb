//! What the Kustomization reconciler needs.

use std::sync::Arc;

use driftless_apply::Resolver;
use driftless_runtime::{EventRecorder, Metrics};
use driftless_source::SourceCache;

use crate::clients::ClientCache;

/// Lockdown and defaults for multi-tenant clusters.
#[derive(Clone, Debug, Default)]
pub struct TenancyOptions {
    /// `--no-cross-namespace-refs`: sourceRef and dependsOn must stay in the object's namespace.
    pub no_cross_namespace_refs: bool,
    /// `--default-service-account`: impersonated when `spec.serviceAccountName` is empty.
    pub default_service_account: Option<String>,
    /// `--insecure-apply-as-controller`: a Kustomization without `spec.serviceAccountName`
    /// applies with the controller's own identity (Flux's default; unsafe with tenants).
    pub insecure_apply_as_controller: bool,
    /// `--apply-as-controller-namespace`: namespaces (of admins only) whose Kustomizations
    /// without `spec.serviceAccountName` apply with the controller's own identity.
    pub apply_as_controller_namespaces: Vec<String>,
}

/// Shared state of the Kustomization reconciler.
#[derive(Clone)]
pub struct Context {
    /// Controller and impersonating clients.
    pub clients: ClientCache,
    /// The process-wide source cache (artifacts are read in-process).
    pub cache: Arc<SourceCache>,
    /// Kind lookups, shared by every apply.
    pub resolver: Resolver,
    /// Event recorder.
    pub recorder: EventRecorder,
    /// Metrics registry.
    pub metrics: Metrics,
    /// Multi-tenancy options.
    pub tenancy: TenancyOptions,
    /// What one build may consume (`--max-file-bytes`, `--max-build-objects`, ...).
    pub build_limits: driftless_kustomize::Limits,
    /// `--full-resync-interval`: how long a Kustomization's record of what it applied is
    /// trusted before a reconcile reads and dry-runs every object again, drifted or not.
    pub full_resync: std::time::Duration,
    /// `--concurrent`: Kustomizations reconciled at once by one controller (0: no bound).
    /// More wait in the queue; a change to one queued is merged into its turn.
    pub concurrent: u16,
}
