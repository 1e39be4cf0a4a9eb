//! The Kustomization reconciler: builds a path of a GitRepository's or OCIRepository's artifact with the native
//! kustomize engine, applies it with server-side apply (as the tenant's ServiceAccount),
//! prunes what left git, checks health, corrects drift and reports status as Flux does.

mod applied;
mod build;
mod clients;
mod context;
mod decryption;
mod deletion;
mod drift;
mod error;
mod health_exprs;
mod identity;
mod reconcile;
mod remote;
mod status;
mod substitute;
mod written;

pub use clients::ClientCache;
pub use context::{Context, TenancyOptions};
pub use error::Error;
pub use identity::{Identity, identity_of};
pub use reconcile::{run, substitution_vars};

/// Builds a Kustomization's manifests from a source tree exactly as the reconciler does:
/// `spec.path` inside `root`, spec overlays, the native build and `commonMetadata`
/// (`driftless build` and `driftless diff` use it on a local directory).
pub use build::build as build_manifests;
/// `postBuild` substitution as the reconciler applies it.
pub use substitute::substitute_all;
