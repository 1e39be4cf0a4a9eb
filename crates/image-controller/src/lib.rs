//! The image automation controllers: ImageRepository scans a registry's tags, ImagePolicy
//! picks the newest by a policy, ImageUpdateAutomation writes it back to git.
//!
//! - [`policy`]: pure policy evaluation (semver ranges, alphabetical, numerical, tag filters).
//! - [`setters`]: pure rewriting of `# {"$imagepolicy": "<ns>:<name>"}` markers in YAML.
//! - [`registry`]: the OCI distribution API (tag listing, auth flows).

mod commit_message;
mod conditions;
mod context;
mod error;
pub mod git;
pub mod image_policy;
pub mod image_repository;
pub mod image_update_automation;
mod label_selector;
pub mod policy;
pub mod registry;
mod secret_credentials;
pub mod setters;
pub mod tag_store;

pub use context::Context;
pub use error::Error;
