//! The `driftless` binary under test: built once per test process, started against the
//! shared control plane with its own ports and cache directory, killed on drop.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::control_plane::ControlPlane;
use crate::error::{Error, Result};
use crate::paths::repo_root;
use crate::process::{ManagedProcess, free_ports, run_to_completion};

static BINARY: OnceCell<PathBuf> = OnceCell::const_new();

/// Builds `driftless` (debug) once per test process and returns its path, so tests never
/// run a stale binary.
pub async fn driftless_binary() -> Result<&'static PathBuf> {
    BINARY
        .get_or_try_init(|| async {
            tokio::task::spawn_blocking(|| {
                let root = repo_root();
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| String::from("cargo"));
                run_to_completion(Command::new(cargo).current_dir(&root).args([
                    "build",
                    "--quiet",
                    "-p",
                    "driftless",
                    "--bin",
                    "driftless",
                ]))?;
                let target = std::env::var_os("CARGO_TARGET_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| root.join("target"));
                Ok(target.join("debug/driftless"))
            })
            .await
            .map_err(|join| Error::Command {
                command: String::from("cargo build -p driftless"),
                status: String::from("panicked"),
                output: join.to_string(),
            })?
        })
        .await
}

/// A running `driftless run`.
#[derive(Debug)]
pub struct Driftless {
    process: ManagedProcess,
    metrics_port: u16,
    health_port: u16,
    receiver_port: u16,
    storage_port: u16,
    storage: tempfile::TempDir,
}

impl Driftless {
    /// Starts `driftless run` against `plane`, watching only `namespaces`, with `extra`
    /// arguments; returns once its health endpoint accepts connections.
    pub async fn start(plane: &ControlPlane, namespaces: &[&str], extra: &[&str]) -> Result<Self> {
        Self::start_with_kubeconfig(plane.kubeconfig_path(), namespaces, extra).await
    }

    /// [`Driftless::start`] with another identity: `kubeconfig` (e.g. a ServiceAccount
    /// token, so the controller runs with the install's RBAC instead of as an admin).
    pub async fn start_with_kubeconfig(
        kubeconfig: &std::path::Path,
        namespaces: &[&str],
        extra: &[&str],
    ) -> Result<Self> {
        let binary = driftless_binary().await?;
        let storage = tempfile::Builder::new()
            .prefix("driftless-storage-")
            .tempdir()
            .map_err(Error::io("create", "a storage directory"))?;
        let log = storage.path().join("driftless.log");
        // Ports are chosen free but released before the process binds them; another test
        // may take one in between. That shows as "Address already in use": try again.
        let mut attempt = 0;
        let (process, [metrics_port, health_port, storage_port, receiver_port]) = loop {
            attempt += 1;
            let ports = free_ports::<4>()?;
            let [metrics_port, health_port, storage_port, receiver_port] = ports;
            let mut command = Command::new(binary);
            command
                .env("KUBECONFIG", kubeconfig)
                .env("RUST_BACKTRACE", "1")
                .arg("run")
                .arg("--storage-path")
                .arg(storage.path().join("cache"))
                .arg(format!("--metrics-addr=127.0.0.1:{metrics_port}"))
                .arg(format!("--health-addr=127.0.0.1:{health_port}"))
                .arg(format!("--storage-addr=127.0.0.1:{storage_port}"))
                .arg(format!("--receiver-addr=127.0.0.1:{receiver_port}"))
                .arg("--log-level=info,driftless=debug,driftless_source=debug,driftless_source_controller=debug,driftless_kustomize_controller=debug,driftless_apply=debug");
            for ns in namespaces {
                command.arg(format!("--watch-namespace={ns}"));
            }
            command.args(extra);
            let mut process = ManagedProcess::spawn("driftless run", command, &log)?;
            match tokio::task::block_in_place(|| process.wait_for_port(health_port)) {
                Ok(()) => break (process, ports),
                Err(Error::ProcessExited { log, .. })
                    if attempt < 3 && log.contains("Address already in use") => {}
                Err(other) => return Err(other),
            }
        };
        Ok(Driftless {
            process,
            metrics_port,
            health_port,
            receiver_port,
            storage_port,
            storage,
        })
    }

    /// GETs `path` from the metrics endpoint (e.g. `/metrics`).
    pub async fn get_metrics(&self, path: &str) -> Result<(u16, String)> {
        get(self.metrics_port, path).await
    }

    /// GETs `path` from the health endpoint (`/healthz`, `/readyz`).
    pub async fn get_health(&self, path: &str) -> Result<(u16, String)> {
        get(self.health_port, path).await
    }

    /// `http://127.0.0.1:<port><path>` on the webhook receiver server.
    pub fn receiver_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.receiver_port)
    }

    /// `http://127.0.0.1:<port><path>` on the artifact server (`--storage-addr`).
    pub fn storage_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.storage_port)
    }

    /// The temporary directory holding the process's log and its `--storage-path` (`cache/`).
    pub fn storage_dir(&self) -> &std::path::Path {
        self.storage.path()
    }

    /// The process's log so far, for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.storage.path().join("driftless.log")).unwrap_or_default()
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Waits (with a deadline) for the process to exit; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<i32>> {
        self.process.wait_exit(timeout)
    }
}

async fn get(port: u16, path: &str) -> Result<(u16, String)> {
    let url = format!("http://127.0.0.1:{port}{path}");
    let response = reqwest::get(&url).await.map_err(|e| Error::Command {
        command: format!("GET {url}"),
        status: String::from("request failed"),
        output: e.to_string(),
    })?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Ok((status, body))
}

impl Drop for Driftless {
    fn drop(&mut self) {
        // A failing test shows what the controller said.
        if std::thread::panicking() {
            eprintln!(
                "---- driftless log ----\n{}\n---- end of driftless log ----",
                self.log()
            );
        }
    }
}
