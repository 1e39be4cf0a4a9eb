//! One module per subcommand, plus what the cluster-facing ones share (`kube_args`, `kinds`,
//! `output`, `local_build`, `exit`, `deploy_key`, `install_manifests`).

pub mod bootstrap;
pub mod build;
pub mod build_limits;
pub mod check;
pub mod completion;
pub mod crds;
pub mod create;
pub mod deploy_key;
pub mod diff;
pub mod docs;
pub mod events;
pub mod exit;
pub mod export;
pub mod get;
pub mod install_manifests;
pub mod kinds;
pub mod kube_args;
pub mod kustomize;
pub mod local_build;
pub mod logs;
pub mod output;
pub mod push;
pub mod reconcile;
pub mod run;
pub mod suspend;
pub mod tenant;
pub mod trace;
pub mod tree;
pub mod version;
