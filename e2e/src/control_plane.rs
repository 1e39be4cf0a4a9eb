//! The shared loopback control plane (etcd + kube-apiserver).

use std::path::{Path, PathBuf};
use std::process::Command;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::sync::OnceCell;

use crate::error::{Error, Result};
use crate::paths::e2e_dir;
use crate::process::run_to_completion;

static SHARED: OnceCell<ControlPlane> = OnceCell::const_new();
static REMOTE: OnceCell<ControlPlane> = OnceCell::const_new();

/// A running kube-apiserver + etcd on loopback, started (or reused) by
/// `e2e/scripts/cluster-up.sh` and addressed through `.dev/kubeconfig`.
///
/// The plane outlives the test process: later test binaries and runs reuse
/// it; `e2e/scripts/cluster-down.sh` stops it. There is no controller manager
/// and no kubelet: see `e2e/README.md` for what that means for tests.
#[derive(Debug)]
pub struct ControlPlane {
    kubeconfig_path: PathBuf,
    config: Config,
}

impl ControlPlane {
    /// The plane of this test process: the first call runs `cluster-up.sh`
    /// (which reuses a healthy plane) and loads its kubeconfig; later calls
    /// return the same value. A failed start is retried by the next call.
    pub async fn shared() -> Result<&'static ControlPlane> {
        SHARED.get_or_try_init(Self::start).await
    }

    /// A second plane beside the shared one, for tests of `spec.kubeConfig` (a remote
    /// cluster): `cluster-up.sh` with `DRIFTLESS_PLANE=remote`, state under
    /// `.dev/plane-remote`, reused like the shared one and stopped with it by
    /// `cluster-down.sh`.
    pub async fn remote() -> Result<&'static ControlPlane> {
        REMOTE
            .get_or_try_init(|| Self::start_named(Some("remote")))
            .await
    }

    /// The admin kubeconfig's text (certificates embedded: usable from a Secret).
    pub fn kubeconfig_text(&self) -> Result<String> {
        std::fs::read_to_string(&self.kubeconfig_path).map_err(|source| Error::Io {
            action: "read",
            path: self.kubeconfig_path.clone(),
            source,
        })
    }

    async fn start() -> Result<ControlPlane> {
        Self::start_named(None).await
    }

    async fn start_named(name: Option<&'static str>) -> Result<ControlPlane> {
        let script = e2e_dir().join("scripts/cluster-up.sh");
        let printed = tokio::task::spawn_blocking(move || {
            let mut command = Command::new(&script);
            if let Some(name) = name {
                command.env("DRIFTLESS_PLANE", name);
            }
            run_to_completion(&mut command)
        })
        .await
        .map_err(|join| Error::Command {
            command: String::from("cluster-up.sh"),
            status: String::from("panicked"),
            output: join.to_string(),
        })??;
        let kubeconfig_path = PathBuf::from(printed.trim());
        let config = load_config(&kubeconfig_path).await?;
        Ok(ControlPlane {
            kubeconfig_path,
            config,
        })
    }

    /// The admin kubeconfig file (`.dev/kubeconfig`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The admin client configuration (user in group `system:masters`).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A new admin client. Each call builds its own client, so that it is
    /// bound to the calling test's tokio runtime rather than to a finished one.
    pub fn client(&self) -> Result<Client> {
        Client::try_from(self.config.clone())
            .map_err(Error::kube("build a client from .dev/kubeconfig"))
    }

    /// A client that impersonates `user` (for example
    /// `system:serviceaccount:<namespace>:<name>`), so requests are
    /// authorized by RBAC as that user.
    pub fn client_as(&self, user: &str) -> Result<Client> {
        let mut config = self.config.clone();
        config.auth_info.impersonate = Some(user.to_owned());
        Client::try_from(config)
            .map_err(Error::kube(format!("build a client impersonating {user}")))
    }
}

async fn load_config(path: &Path) -> Result<Config> {
    let kubeconfig = Kubeconfig::read_from(path).map_err(|source| Error::Kubeconfig {
        path: path.to_path_buf(),
        source,
    })?;
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|source| Error::Kubeconfig {
            path: path.to_path_buf(),
            source,
        })
}
