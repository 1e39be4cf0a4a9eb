//! The GitRepository reconciler: fetches each repository into the shared
//! [`SourceCache`](driftless_source::SourceCache), publishes the artifact in the object's
//! status (Flux's fields and conditions) and serves artifact tarballs over HTTP.

mod artifacts;
mod context;
mod credentials;
mod error;
mod include;
mod oci_pull;
mod oci_repository;
mod reconcile;
mod status;

pub use artifacts::{PublishedArtifacts, routes as artifact_routes};
pub use context::Context;
pub use error::Error;
pub use oci_repository::run_oci;
pub use reconcile::run;
