//! The cluster with a real node (`NODE=1 e2e/scripts/cluster-up.sh`): kube-apiserver,
//! kube-controller-manager, kube-scheduler, containerd, kubelet and kube-proxy on this
//! machine, pods on a local bridge. Tests install Driftless from its own image, serve git
//! to pods from the node's address and reach pods through NodePorts.
//!
//! Node tests run by default; `DRIFTLESS_E2E_NODE=0` skips them (each prints why).
//! They share one node, so [`NodeCluster::exclusive`] serializes them across test binaries.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tempfile::TempDir;
use tokio::sync::OnceCell;

use crate::error::{Error, Result};
use crate::paths::{e2e_dir, repo_root};
use crate::poll::POLL_INTERVAL;
use crate::process::{ManagedProcess, free_port_on, log_tail, run_to_completion};

static SHARED: OnceCell<NodeCluster> = OnceCell::const_new();

/// The environment variable that disables node tests when set to `0`.
pub const NODE_TESTS_VARIABLE: &str = "DRIFTLESS_E2E_NODE";

/// The loopback registry the node's containerd pulls from (`node-lib.sh`).
const DEFAULT_REGISTRY_PORT: u16 = 5000;

/// A running cluster with one Ready node, started (or reused) by `cluster-up.sh` with
/// `NODE=1` and addressed through `.dev/node-kubeconfig`. It outlives the test process;
/// `make cluster-down` stops it and removes the node.
#[derive(Debug)]
pub struct NodeCluster {
    kubeconfig_path: PathBuf,
    config: Config,
    node_name: String,
    internal_ip: Ipv4Addr,
}

/// Held while a test uses the node: an exclusive lock on `.dev/node-tests.lock`.
#[derive(Debug)]
pub struct NodeLease {
    _file: File,
}

impl NodeCluster {
    /// Why node tests are skipped, or `None` when they run (the default).
    pub fn skip_reason() -> Option<String> {
        match std::env::var(NODE_TESTS_VARIABLE) {
            Ok(value) if value == "0" => Some(format!(
                "node tests skipped: {NODE_TESTS_VARIABLE}=0 (unset it to run them; they need \
                 root, NODE=1 make deps node-binaries image hello-images)"
            )),
            _ => None,
        }
    }

    /// The node cluster of this test process: the first call runs `cluster-up.sh` with
    /// `NODE=1` (which reuses a healthy cluster and returns once the node is Ready).
    pub async fn shared() -> Result<&'static NodeCluster> {
        SHARED.get_or_try_init(Self::start).await
    }

    async fn start() -> Result<NodeCluster> {
        let script = e2e_dir().join("scripts/cluster-up.sh");
        let printed = tokio::task::spawn_blocking(move || {
            run_to_completion(Command::new(&script).env("NODE", "1"))
        })
        .await
        .map_err(|join| Error::Command {
            command: String::from("NODE=1 cluster-up.sh"),
            status: String::from("panicked"),
            output: join.to_string(),
        })??;
        let kubeconfig_path = PathBuf::from(printed.trim());
        let kubeconfig =
            Kubeconfig::read_from(&kubeconfig_path).map_err(|source| Error::Kubeconfig {
                path: kubeconfig_path.clone(),
                source,
            })?;
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|source| Error::Kubeconfig {
                path: kubeconfig_path.clone(),
                source,
            })?;
        let client = Client::try_from(config.clone())
            .map_err(Error::kube("build a client from .dev/node-kubeconfig"))?;
        let nodes = Api::<Node>::all(client)
            .list(&Default::default())
            .await
            .map_err(Error::kube("list the nodes"))?;
        let [node] = nodes.items.as_slice() else {
            return Err(Error::Document {
                document: String::from("the node cluster's nodes"),
                detail: format!("expected exactly one node, found {}", nodes.items.len()),
            });
        };
        let node_name = node.metadata.name.clone().unwrap_or_default();
        let internal_ip = internal_ip(node)?;
        assert_local_route(IpAddr::V4(internal_ip))?;
        Ok(NodeCluster {
            kubeconfig_path,
            config,
            node_name,
            internal_ip,
        })
    }

    /// Waits until no other test uses the node, and holds it until the lease is dropped.
    pub async fn exclusive(&self) -> Result<NodeLease> {
        let path = repo_root().join(".dev/node-tests.lock");
        tokio::task::spawn_blocking(move || {
            let file = File::create(&path).map_err(Error::io("create", &path))?;
            file.lock().map_err(Error::io("lock", &path))?;
            Ok(NodeLease { _file: file })
        })
        .await
        .map_err(|join| Error::Command {
            command: String::from("lock .dev/node-tests.lock"),
            status: String::from("panicked"),
            output: join.to_string(),
        })?
    }

    /// The admin kubeconfig file (`.dev/node-kubeconfig`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// A new admin client, bound to the calling test's runtime.
    pub fn client(&self) -> Result<Client> {
        Client::try_from(self.config.clone())
            .map_err(Error::kube("build a client from .dev/node-kubeconfig"))
    }

    /// The node's name.
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// The node's InternalIP (as `kubectl get nodes -o wide` shows it): an address of
    /// this machine, on the pod bridge. NodePorts answer there.
    pub fn internal_ip(&self) -> Ipv4Addr {
        self.internal_ip
    }

    /// `host:port` of the loopback registry the node pulls images from.
    pub fn registry(&self) -> String {
        let port = std::env::var("DRIFTLESS_REGISTRY_PORT")
            .ok()
            .and_then(|port| port.parse::<u16>().ok())
            .unwrap_or(DEFAULT_REGISTRY_PORT);
        format!("127.0.0.1:{port}")
    }

    /// The kubectl built with the cluster (`e2e/bin/kubectl`), on this cluster.
    pub fn kubectl(&self) -> Command {
        let mut command = Command::new(e2e_dir().join("bin/kubectl"));
        command.arg("--kubeconfig").arg(&self.kubeconfig_path);
        command
    }

    /// Cordons (`false`) or uncordons (`true`) the node: `spec.unschedulable`, as
    /// `kubectl cordon`/`uncordon` set it. While cordoned, new pods stay Pending.
    pub async fn set_schedulable(&self, schedulable: bool) -> Result<()> {
        let nodes: Api<Node> = Api::all(self.client()?);
        let patch = serde_json::json!({"spec": {"unschedulable": !schedulable}});
        nodes
            .patch(
                &self.node_name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            )
            .await
            .map(drop)
            .map_err(Error::kube(format!(
                "set spec.unschedulable={} on node {}",
                !schedulable, self.node_name
            )))
    }

    /// Runs kubectl with `args` to completion; its stdout.
    pub async fn run_kubectl(&self, args: &[&str]) -> Result<String> {
        let mut command = self.kubectl();
        command.args(args);
        tokio::task::spawn_blocking(move || run_to_completion(&mut command))
            .await
            .map_err(|join| Error::Command {
                command: String::from("kubectl"),
                status: String::from("panicked"),
                output: join.to_string(),
            })?
    }

    /// Runs each kubectl command in turn and returns `$ kubectl ARGS` followed by its output
    /// (or its error), for failure messages: what the cluster shows when a test is stuck.
    pub async fn kubectl_report(&self, commands: &[&[&str]]) -> String {
        let mut report = String::new();
        for args in commands {
            let output = self
                .run_kubectl(args)
                .await
                .unwrap_or_else(|error| error.to_string());
            report.push_str(&format!("$ kubectl {}\n{output}\n", args.join(" ")));
        }
        report
    }

    /// `kubectl apply --server-side -k` of `config/local-node` with the Driftless image
    /// pinned to `digest` (as pushed to [`NodeCluster::registry`]): the install a user runs.
    pub async fn install_driftless(&self, digest: &str) -> Result<()> {
        if !is_digest(digest) {
            return Err(Error::Document {
                document: String::from("the Driftless image digest"),
                detail: format!("{digest:?} is not sha256:<64 hex digits>"),
            });
        }
        // kustomize takes only relative paths to other kustomizations: the overlay lives
        // in .dev/<temporary>/, two levels below the repository root.
        let dev = repo_root().join(".dev");
        std::fs::create_dir_all(&dev).map_err(Error::io("create", &dev))?;
        let dir = tempfile::Builder::new()
            .prefix("node-install-")
            .tempdir_in(&dev)
            .map_err(Error::io("create a temporary directory in", &dev))?;
        let overlay = format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../config/local-node\nimages:\n- name: {}/driftless\n  digest: {digest}\n",
            self.registry(),
        );
        let path = dir.path().join("kustomization.yaml");
        std::fs::write(&path, overlay).map_err(Error::io("write", &path))?;
        let dir_arg = dir.path().display().to_string();
        self.run_kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-k",
            &dir_arg,
        ])
        .await
        .map(drop)
    }
}

fn internal_ip(node: &Node) -> Result<Ipv4Addr> {
    let address = node
        .status
        .as_ref()
        .and_then(|status| status.addresses.as_ref())
        .and_then(|addresses| {
            addresses
                .iter()
                .find(|address| address.type_ == "InternalIP")
        })
        .map(|address| address.address.clone());
    let Some(address) = address else {
        return Err(Error::Document {
            document: String::from("the node's status.addresses"),
            detail: String::from("no InternalIP"),
        });
    };
    address.parse().map_err(|error| Error::Document {
        document: String::from("the node's InternalIP"),
        detail: format!("{address:?}: {error}"),
    })
}

fn is_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Fails unless `ip route get <address>` leaves through loopback or the node's bridge:
/// checked before any traffic goes to a non-loopback address.
pub fn assert_local_route(address: IpAddr) -> Result<()> {
    if address.is_loopback() {
        return Ok(());
    }
    let route =
        run_to_completion(Command::new("ip").args(["-o", "route", "get", &address.to_string()]))?;
    let bridge = std::env::var("DRIFTLESS_NODE_BRIDGE").unwrap_or_else(|_| "driftless0".into());
    let local = route
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .any(|pair| pair[0] == "dev" && (pair[1] == "lo" || pair[1] == bridge));
    if local {
        Ok(())
    } else {
        Err(Error::Document {
            document: format!("the route to {address}"),
            detail: format!("it leaves this machine ({}); refusing", route.trim()),
        })
    }
}

/// Runs a script of `image/` and returns its stdout (last line: a digest for the push).
fn run_image_script(script: &str, args: &[&str]) -> Result<String> {
    let mut command = Command::new(repo_root().join("image").join(script));
    command.args(args).current_dir(repo_root());
    // `cargo test` sets CARGO_MANIFEST_DIR and friends; build scripts (ring's) track them,
    // so the image's release build would rebuild from scratch under the test. Run it with
    // the environment a shell has.
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if name_text.starts_with("CARGO") && name_text != "CARGO_HOME" {
            command.env_remove(&name);
        }
    }
    run_to_completion(&mut command)
}

/// Builds the Driftless image (`image/build-driftless.sh`, cached) and pushes it to
/// `registry` as `driftless:dev`; the pushed manifest digest.
pub async fn build_and_push_driftless_image(registry: &str) -> Result<String> {
    let registry = registry.to_owned();
    tokio::task::spawn_blocking(move || {
        run_image_script("build-driftless.sh", &[])?;
        let archive = repo_root().join(".dev/image/driftless.oci.tar");
        let archive = archive.display().to_string();
        let printed =
            run_image_script("push.sh", &[&archive, &format!("{registry}/driftless:dev")])?;
        let digest = printed.lines().last().unwrap_or_default().trim().to_owned();
        if is_digest(&digest) {
            Ok(digest)
        } else {
            Err(Error::Document {
                document: String::from("image/push.sh output"),
                detail: format!("no digest in {printed:?}"),
            })
        }
    })
    .await
    .map_err(|join| Error::Command {
        command: String::from("image/build-driftless.sh"),
        status: String::from("panicked"),
        output: join.to_string(),
    })?
}

/// Pushes the hello-world app images to `registry` as `hello-world:1` and `hello-world:2`,
/// building them first (`image/build-hello.sh`) when `.dev/image` does not hold them yet
/// (`make hello-images` rebuilds them; they change only with the app).
pub async fn build_and_push_hello_images(registry: &str) -> Result<()> {
    let registry = registry.to_owned();
    tokio::task::spawn_blocking(move || {
        let archive = |tag: &str| repo_root().join(format!(".dev/image/hello-world-{tag}.oci.tar"));
        if !(archive("1").is_file() && archive("2").is_file()) {
            return run_image_script("build-hello.sh", &[&registry]).map(drop);
        }
        for tag in ["1", "2"] {
            let path = archive(tag).display().to_string();
            run_image_script(
                "push.sh",
                &[&path, &format!("{registry}/hello-world:{tag}")],
            )?;
        }
        Ok(())
    })
    .await
    .map_err(|join| Error::Command {
        command: String::from("image/build-hello.sh"),
        status: String::from("panicked"),
        output: join.to_string(),
    })?
}

/// `git daemon` on the node's address, where pods reach it (read and push, no auth),
/// serving bare repositories from a temporary directory; stopped on drop.
#[derive(Debug)]
pub struct NodeGitServer {
    _process: ManagedProcess,
    address: SocketAddr,
    dir: TempDir,
}

impl NodeGitServer {
    /// Starts the daemon on `address` (an address of this machine) and a free port.
    pub fn start(address: Ipv4Addr) -> Result<Self> {
        assert_local_route(IpAddr::V4(address))?;
        let dir = tempfile::tempdir().map_err(Error::io("create", "a temporary directory"))?;
        let port = free_port_on(address)?;
        let exec_path = run_to_completion(Command::new("git").arg("--exec-path"))?;
        let mut command = Command::new(Path::new(exec_path.trim()).join("git-daemon"));
        command
            .env("HOME", dir.path())
            .args([
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                "--informative-errors",
            ])
            .arg(format!("--listen={address}"))
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", dir.path().display()))
            .arg(dir.path());
        let log_path = dir.path().join("git-daemon.log");
        let process = ManagedProcess::spawn("git-daemon", command, &log_path)?;
        let address = SocketAddr::from((address, port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_err() {
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("git-daemon listening on {address}"),
                    timeout: Duration::from_secs(30),
                    last: log_tail(&log_path),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        Ok(Self {
            _process: process,
            address,
            dir,
        })
    }

    /// `git://<address>:<port>/<name>.git`, what a GitRepository in the cluster uses.
    pub fn url(&self, name: &str) -> String {
        format!("git://{}/{name}.git", self.address)
    }

    /// Creates the bare repository `name` and pushes the files of `source` (a directory)
    /// to its branch `main` in one commit.
    pub fn push_directory(&self, name: &str, source: &Path, message: &str) -> Result<()> {
        if !name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        {
            return Err(Error::Document {
                document: format!("repository name {name:?}"),
                detail: String::from("only letters, digits and '-' are allowed"),
            });
        }
        let bare = self.dir.path().join(format!("{name}.git"));
        let work = self.dir.path().join(format!("{name}.work"));
        let git = |args: &[&str], cwd: &Path| {
            let mut command = Command::new("git");
            command
                .current_dir(cwd)
                .env("HOME", self.dir.path())
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_TERMINAL_PROMPT", "0")
                .args(["-c", "init.defaultBranch=main"])
                .args(["-c", "user.name=Driftless e2e"])
                .args(["-c", "user.email=e2e@driftless.invalid"])
                .args(args);
            run_to_completion(&mut command)
        };
        if !bare.exists() {
            git(
                &["init", "--quiet", "--bare", &bare.display().to_string()],
                self.dir.path(),
            )?;
        }
        if !work.exists() {
            git(
                &[
                    "clone",
                    "--quiet",
                    &bare.display().to_string(),
                    &work.display().to_string(),
                ],
                self.dir.path(),
            )?;
        }
        copy_directory(source, &work)?;
        git(&["add", "--all"], &work)?;
        git(
            &["commit", "--quiet", "--allow-empty", "-m", message],
            &work,
        )?;
        git(&["push", "--quiet", "origin", "HEAD:main"], &work).map(drop)
    }
}

/// Copies the regular files of `from` (recursively, no symlinks) into `to`.
fn copy_directory(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(Error::io("create", to))?;
    for entry in std::fs::read_dir(from).map_err(Error::io("read", from))? {
        let entry = entry.map_err(Error::io("read", from))?;
        let kind = entry.file_type().map_err(Error::io("stat", entry.path()))?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_directory(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).map_err(Error::io("copy", entry.path()))?;
        }
    }
    Ok(())
}

/// `error: cause: cause ...`, so a failed request says why (refused, reset, timed out).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `GET http://<address>:<port><path>`: the status and body, or an error naming the URL.
/// The address is checked to stay on this machine first.
pub async fn http_get(address: Ipv4Addr, port: u16, path: &str) -> Result<(u16, String)> {
    assert_local_route(IpAddr::V4(address))?;
    let url = format!("http://{address}:{port}{path}");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|error| Error::Http {
            url: url.clone(),
            detail: format!("build the HTTP client: {error}"),
        })?;
    let response = client.get(&url).send().await.map_err(|error| Error::Http {
        url: url.clone(),
        detail: error_chain(&error),
    })?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|error| Error::Http {
        url: url.clone(),
        detail: error.to_string(),
    })?;
    Ok((status, body))
}
