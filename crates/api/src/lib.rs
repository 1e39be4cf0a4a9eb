//! Custom resource types of every Driftless kind.
//!
//! The spec and status fields follow Flux v2's v1 APIs by name and meaning, under
//! Driftless's own API groups, so a Flux user migrates by changing `apiVersion`.
//! Where Flux has a field Driftless does not support yet, the type leaves it out
//! rather than accepting and ignoring it.
//!
//! This crate does no I/O: it holds types, well-known names and pure helpers.

// kube-derive takes one `printcolumn(...)` per column, which this lint mistakes for duplicates.
#![allow(clippy::duplicated_attributes)]

pub mod condition;
pub mod crds;
pub mod duration;
mod error;
pub mod image;
pub mod kustomize;
pub mod meta;
pub mod notification;
pub mod oci;
pub mod schema;
pub mod source;
pub mod well_known;

pub use error::ApiError;
pub use image::{ImagePolicy, ImageRepository, ImageUpdateAutomation};
pub use kustomize::Kustomization;
pub use notification::{Alert, Provider, Receiver};
pub use oci::OCIRepository;
pub use source::GitRepository;
