//! End-to-end test support for Driftless: real parts on loopback, no mocks.
//!
//! - [`ControlPlane`]: kube-apiserver + etcd built from the Go module proxy
//!   (`e2e/scripts/build-controlplane.sh`) and started once per machine by
//!   `e2e/scripts/cluster-up.sh`; tests get a [`kube::Client`] with admin rights.
//! - [`GitServer`]: `git daemon` (git://, push enabled) and `git http-backend`
//!   behind lighttpd (anonymous read under `/git/`, basic auth and push under
//!   `/private/`), stopped on drop.
//! - [`Registry`]: Debian's `docker-registry` with a throw-away storage
//!   directory, and [`Registry::push_image`] to publish tiny images by tag.
//! - [`SshServer`]: Debian's sshd on loopback serving a [`GitServer`]'s repositories over
//!   `ssh://` (key-only, `git-shell` only, a host key per server), stopped on drop.
//! - [`TestNamespace`]: a fresh namespace per test, deleted on drop.
//! - [`mark_deployment_available`]: writes a Deployment's status the way a
//!   controller manager would, since none runs here.
//! - [`NodeCluster`]: a separate cluster with a real node (`NODE=1 cluster-up.sh`):
//!   containerd, kubelet, kube-proxy, pods on a local bridge; with
//!   [`NodeGitServer`] (git for pods) and the image build/push helpers; [`NodeRegistry`]
//!   (a registry both pods and the node's containerd use, for image automation);
//!   [`wait_rollout`] waits for a Deployment's real rollout there.

mod control_plane;
mod crd_manifests;
mod deployment_status;
mod driftless;
mod error;
mod git_server;
mod node;
mod node_port;
mod node_registry;
mod paths;
mod poll;
mod process;
pub mod readme;
mod registry;
mod rollout;
mod schema_sample;
mod sops;
mod ssh_server;
mod test_namespace;

pub use control_plane::ControlPlane;
pub use crd_manifests::{load_crds, wait_established};
pub use deployment_status::mark_deployment_available;
pub use driftless::{Driftless, driftless_binary};
pub use error::{Error, Result};
pub use git_server::GitServer;
pub use node::{
    NODE_TESTS_VARIABLE, NodeCluster, NodeGitServer, NodeLease, assert_local_route,
    build_and_push_driftless_image, build_and_push_hello_images, http_get,
};
pub use node_port::{ServiceAddresses, wait_node_port_serves};
pub use node_registry::{NodeRegistry, build_hello_archives};
pub use paths::{crds_dir, repo_root};
pub use poll::poll_until;
pub use registry::Registry;
pub use rollout::wait_rollout;
pub use schema_sample::sample_from_schema;
pub use sops::{AgeKey, SopsTools};
pub use ssh_server::{SshServer, generate_key};
pub use test_namespace::TestNamespace;
