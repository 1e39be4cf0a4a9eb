//! The Kustomization reconciler: builds a path of a GitRepository's artifact with the native
//! kustomize engine, applies it with server-side apply (as the tenant's ServiceAccount),
//! prunes what left git, checks health, corrects drift and reports status as Flux does.

mod applied;
mod build;
mod clients;
mod context;
mod deletion;
mod drift;
mod error;
mod identity;
mod reconcile;
mod status;
mod substitute;

pub use clients::ClientCache;
pub use context::{Context, TenancyOptions};
pub use error::Error;
pub use identity::{Identity, identity_of};
pub use reconcile::run;
