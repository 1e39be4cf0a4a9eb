//! One module per subcommand.

pub mod crds;
pub mod kustomize;
pub mod run;
pub mod tenant;
pub mod version;
