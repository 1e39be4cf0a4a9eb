//! Well-known labels, annotations, finalizers and field managers.

/// Annotation whose change requests an immediate reconcile (value: any string, usually a timestamp).
pub const RECONCILE_REQUESTED_AT: &str = "reconcile.driftless.dev/requestedAt";

/// Label put on every object a Kustomization applies: the Kustomization's name.
pub const KUSTOMIZE_NAME_LABEL: &str = "kustomize.driftless.dev/name";

/// Label put on every object a Kustomization applies: the Kustomization's namespace.
pub const KUSTOMIZE_NAMESPACE_LABEL: &str = "kustomize.driftless.dev/namespace";

/// Annotation opting an object out of `postBuild` substitution (value `disabled`).
pub const SUBSTITUTE_ANNOTATION: &str = "kustomize.driftless.dev/substitute";

/// Annotation opting an object out of pruning (value `disabled`).
pub const PRUNE_ANNOTATION: &str = "kustomize.driftless.dev/prune";

/// Annotation choosing how an object is applied: `Override` (default), `Merge`, `IfNotPresent`, `Ignore`.
pub const SSA_ANNOTATION: &str = "kustomize.driftless.dev/ssa";

/// Value that disables a per-object behaviour (`substitute`, `prune`).
pub const DISABLED: &str = "disabled";

/// Finalizer every Driftless controller puts on the objects it reconciles.
pub const FINALIZER: &str = "finalizers.driftless.dev";

/// Field manager used for server-side apply.
pub const FIELD_MANAGER: &str = "driftless";

/// Label marking a namespace as a Driftless tenant (value: the tenant name).
pub const TENANT_LABEL: &str = "toolkit.driftless.dev/tenant";
