//! One module per subcommand.

pub mod bootstrap;
pub mod build_limits;
pub mod crds;
pub mod create;
pub mod deploy_key;
pub mod install_manifests;
pub mod kube_args;
pub mod kustomize;
pub mod run;
pub mod tenant;
pub mod version;
