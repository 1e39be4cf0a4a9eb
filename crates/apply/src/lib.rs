//! The server-side apply engine the Kustomization controller calls.
//!
//! Given already-built manifests, a client (possibly impersonating a tenant's
//! ServiceAccount: the engine never assumes more rights than that) and the owning
//! Kustomization, [`Applier::apply`]:
//!
//! 1. resolves each object's kind through a shared discovery cache ([`Resolver`]),
//!    defaults the namespace of namespaced objects and drops it from cluster-scoped ones;
//! 2. labels every object with its owner ([`Owner`]);
//! 3. dry-runs the whole set with server-side apply; any refusal fails the apply with
//!    every refused object named, before anything is written;
//! 4. applies CRDs and Namespaces first, waits until they are Established/Active, dry-runs
//!    what needed them, then applies the rest with field manager `driftless`, reporting
//!    created / configured / unchanged / skipped per object ([`ChangeSet`]).
//!
//! Fields of `spec.ignore` ([`IgnoreRules`], set in [`ApplyOptions::ignore`]) are left out
//! of drift detection and correction on existing objects.
//!
//! [`Applier::preview`] runs the same preparation and dry-run and returns, per object, the
//! live object and what the server would make of it, without writing anything (`driftless
//! diff`).
//!
//! After a fully successful apply the reconciler computes the new [`inventory`], the
//! stale entries with [`diff`], deletes them with [`Applier::prune`], and waits for health
//! with [`Applier::wait_healthy`] (kstatus rules, [`status_of`]). [`Owner::selector`] is
//! the label selector of the reconciler's drift watches.

mod applier;
mod drift;
mod error;
mod health;
mod ignore;
mod inventory;
mod object;
mod owner;
mod policy;
mod poll;
mod preview;
mod prune;
mod resolve;
mod stage;
mod target;
mod wait;

pub use applier::{Action, Applier, ApplyOptions, Change, ChangeSet};
pub use drift::{Observed, fingerprint, has_drifted, manifest_digest};
pub use error::{ApplyError, Failures, ObjectFailure, server_reason};
pub use health::{CustomHealth, Health, HealthStatus, health_of, status_of};
pub use ignore::{
    IgnoreRuleError, IgnoreRules, JsonPointer, MAX_PATH_BYTES, MAX_PATHS, MAX_PATTERN_BYTES,
    MAX_RULES,
};
pub use inventory::{diff, inventory};
pub use object::{ObjectRef, split_api_version};
pub use owner::Owner;
pub use policy::SsaPolicy;
pub use preview::Preview;
pub use prune::{PruneAction, PruneEntry};
pub use resolve::{Resolved, Resolver};
pub use stage::{DefinedKind, Stage, defined_kinds};
pub use wait::wait_healthy;
