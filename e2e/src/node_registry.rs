//! A registry that both the node's pods and its containerd reach: Debian's
//! `docker-registry` on the node's address (the pod bridge), with a throw-away storage
//! directory. An ImageRepository in the cluster scans it, and the kubelet pulls the very
//! same references from it: the node's containerd is told to use plain HTTP for this
//! `host:port` through a `hosts.toml` in its `certs.d` directory (read at every pull),
//! removed again on drop.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::error::{Error, Result};
use crate::node::assert_local_route;
use crate::paths::repo_root;
use crate::poll::POLL_INTERVAL;
use crate::process::{ManagedProcess, free_port_on, log_tail, run_to_completion};

/// How long the registry may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A registry on the node's address, stopped and forgotten by containerd on drop.
#[derive(Debug)]
pub struct NodeRegistry {
    // Fields drop in order: the process stops before its directory goes.
    _process: ManagedProcess,
    address: SocketAddr,
    hosts_dir: PathBuf,
    _dir: TempDir,
}

impl NodeRegistry {
    /// Starts the registry on `address` (an address of this machine on the node's
    /// bridge) and a free port, and lets the node's containerd pull from it over HTTP.
    pub fn start(address: Ipv4Addr) -> Result<Self> {
        assert_local_route(IpAddr::V4(address))?;
        let dir = tempfile::Builder::new()
            .prefix("driftless-node-registry-")
            .tempdir()
            .map_err(Error::io(
                "create a temporary directory in",
                std::env::temp_dir(),
            ))?;
        let port = free_port_on(address)?;
        let socket = SocketAddr::from((address, port));
        let config_path = dir.path().join("config.yml");
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {socket}\n",
            dir.path().join("storage").display()
        );
        std::fs::write(&config_path, config).map_err(Error::io("write", &config_path))?;
        let mut command = Command::new("docker-registry");
        command.arg("serve").arg(&config_path);
        let log_path = dir.path().join("registry.log");
        let process = ManagedProcess::spawn("docker-registry", command, &log_path)?;
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect_timeout(&socket, Duration::from_millis(500)).is_err() {
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("docker-registry listening on {socket}"),
                    timeout: START_TIMEOUT,
                    last: log_tail(&log_path),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }

        // containerd (config_path = .dev/node/containerd/certs.d) reads this per pull.
        let hosts_dir = repo_root()
            .join(".dev/node/containerd/certs.d")
            .join(socket.to_string());
        std::fs::create_dir_all(&hosts_dir).map_err(Error::io("create", &hosts_dir))?;
        let hosts_path = hosts_dir.join("hosts.toml");
        let hosts = format!(
            "server = \"http://{socket}\"\n[host.\"http://{socket}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
        );
        std::fs::write(&hosts_path, hosts).map_err(Error::io("write", &hosts_path))?;
        Ok(Self {
            _process: process,
            address: socket,
            hosts_dir,
            _dir: dir,
        })
    }

    /// `<address>:<port>`, the host part of image references (for pods and the kubelet).
    pub fn host(&self) -> String {
        self.address.to_string()
    }

    /// Pushes an OCI archive made by `image/` (say `.dev/image/hello-world-2.oci.tar`) as
    /// `<host>/<repository>:<tag>` with `image/push.sh`; the digest the registry stored.
    pub fn push_archive(&self, archive: &Path, repository: &str, tag: &str) -> Result<String> {
        let reference = format!("{}/{repository}:{tag}", self.host());
        let mut command = Command::new(repo_root().join("image/push.sh"));
        command
            .arg(archive)
            .arg(&reference)
            // Plain HTTP: the registry is on this machine's bridge, not on the internet.
            .env("IMAGE_TLS_VERIFY", "false")
            .current_dir(repo_root());
        let printed = run_to_completion(&mut command)?;
        let digest = printed.lines().last().unwrap_or_default().trim().to_owned();
        if digest.starts_with("sha256:") && digest.len() == 71 {
            Ok(digest)
        } else {
            Err(Error::Document {
                document: format!("image/push.sh output for {reference}"),
                detail: format!("no digest in {printed:?}"),
            })
        }
    }
}

impl Drop for NodeRegistry {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.hosts_dir);
    }
}

/// Builds the hello-world app archives (`image/build-hello.sh`, tags 1 and 2, cached)
/// without pushing them; the archive of each tag, in order.
pub fn build_hello_archives() -> Result<[PathBuf; 2]> {
    let mut command = Command::new(repo_root().join("image/build-hello.sh"));
    command.current_dir(repo_root());
    run_to_completion(&mut command)?;
    let archive = |tag: u8| repo_root().join(format!(".dev/image/hello-world-{tag}.oci.tar"));
    let archives = [archive(1), archive(2)];
    for path in &archives {
        if !path.is_file() {
            return Err(Error::Document {
                document: path.display().to_string(),
                detail: String::from("image/build-hello.sh did not write it"),
            });
        }
    }
    Ok(archives)
}
