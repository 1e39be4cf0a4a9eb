//! One module per subcommand.

pub mod build_limits;
pub mod crds;
pub mod kustomize;
pub mod push;
pub mod run;
pub mod tenant;
pub mod version;
