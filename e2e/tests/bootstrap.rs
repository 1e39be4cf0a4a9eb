//! `driftless bootstrap git` against the loopback sshd and the control plane, without a node
//! (no pod can run here, so the controller never takes over): a generated deploy key is
//! printed and bootstrap waits until it is authorized; the install manifests, GitRepository
//! and Kustomization are committed under --path and pushed over ssh; every object is accepted
//! by a server-side dry-run; a re-run with the same inputs makes no commit, a new --image
//! makes one; --dry-run prints the files and touches nothing.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use driftless_api::GitRepository;
use driftless_e2e::{ControlPlane, GitServer, SshServer, driftless_binary, generate_key};
use kube::Api;

const PATH: &str = "clusters/e2e";

fn bootstrap_command(binary: &Path, kubeconfig: &Path, url: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(binary);
    command
        .env("KUBECONFIG", kubeconfig)
        .args([
            "bootstrap",
            "git",
            "--url",
            url,
            "--path",
            PATH,
            "--server-dry-run",
        ])
        .args(["--access-timeout", "60s"])
        .args(extra);
    command
}

fn run(command: &mut Command) -> (bool, String, String) {
    let out = command.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_commits_once_and_its_manifests_pass_a_server_dry_run() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let git = GitServer::start().unwrap();
    let ssh = SshServer::start(&git).unwrap();
    let repo = git.create_repo("fleet").unwrap();
    let url = ssh.url(&repo);
    let binary = driftless_binary().await.unwrap().clone();
    let kubeconfig = plane.kubeconfig_path().to_path_buf();
    let read = |args: &[&str]| {
        let out = git
            .git_command()
            .arg("-C")
            .arg(&repo)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let commits = || {
        read(&["rev-list", "--count", "main"])
            .trim()
            .parse::<u32>()
            .unwrap_or(0)
    };

    // 1. A generated key: printed on stdout, bootstrap waits until it is authorized.
    let mut child = bootstrap_command(
        &binary,
        &kubeconfig,
        &url,
        &["--image", "127.0.0.1:5000/driftless:e2e"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stdout = BufReader::new(stdout);
    let mut public_key = String::new();
    tokio::task::block_in_place(|| stdout.read_line(&mut public_key)).unwrap();
    assert!(
        public_key.starts_with("ssh-ed25519 "),
        "stdout: {public_key:?}"
    );
    assert_eq!(
        commits(),
        0,
        "nothing is pushed before the key is authorized"
    );
    ssh.authorize(&public_key).unwrap();
    let out = tokio::task::block_in_place(|| child.wait_with_output()).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bootstrap failed: {stderr}");
    assert!(stderr.contains("committed and pushed"), "{stderr}");
    assert!(stderr.contains("host key of 127.0.0.1"), "{stderr}");
    assert_eq!(commits(), 1);

    let files = read(&["ls-tree", "-r", "--name-only", "main"]);
    assert_eq!(
        files.lines().collect::<Vec<_>>(),
        [
            "clusters/e2e/driftless-system/driftless-components.yaml",
            "clusters/e2e/driftless-system/driftless-sync.yaml",
            "clusters/e2e/driftless-system/kustomization.yaml",
        ]
    );
    let components = read(&[
        "show",
        "main:clusters/e2e/driftless-system/driftless-components.yaml",
    ]);
    assert!(
        components.contains("image: 127.0.0.1:5000/driftless:e2e"),
        "{components}"
    );
    assert!(components.contains("--apply-as-controller-namespace=driftless-system"));
    assert!(components.contains("kind: CustomResourceDefinition"));
    let sync = read(&[
        "show",
        "main:clusters/e2e/driftless-system/driftless-sync.yaml",
    ]);
    let documents: Vec<serde_json::Value> = sync
        .split("\n---\n")
        .filter_map(|doc| serde_norway::from_str(doc).ok())
        .filter(|doc: &serde_json::Value| doc.is_object())
        .collect();
    let repository = documents
        .iter()
        .find(|d| d["kind"] == "GitRepository")
        .unwrap();
    assert_eq!(repository["spec"]["url"], url.as_str());
    assert_eq!(repository["spec"]["secretRef"]["name"], "driftless-system");
    let kustomization = documents
        .iter()
        .find(|d| d["kind"] == "Kustomization")
        .unwrap();
    assert_eq!(kustomization["spec"]["path"], "./clusters/e2e");
    assert_eq!(kustomization["spec"]["prune"], true);
    assert!(kustomization["spec"]["serviceAccountName"].is_null());

    // Server-side dry-run: nothing but CRDs and Namespaces was stored.
    let repos: Api<GitRepository> = Api::namespaced(client.clone(), "driftless-system");
    assert!(repos.get_opt("driftless-system").await.unwrap().is_none());

    // 2. The same inputs (an existing key this time): no new commit.
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("deploy");
    ssh.authorize(&generate_key(&key, "bootstrap").unwrap())
        .unwrap();
    let key_arg = key.to_str().unwrap();
    let (ok, _, stderr) = run(&mut bootstrap_command(
        &binary,
        &kubeconfig,
        &url,
        &[
            "--image",
            "127.0.0.1:5000/driftless:e2e",
            "--private-key-file",
            key_arg,
        ],
    ));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("nothing committed"), "{stderr}");
    assert_eq!(commits(), 1, "a re-run with the same inputs made a commit");

    // 3. A new image: one new commit, with the image in it.
    let (ok, _, stderr) = run(&mut bootstrap_command(
        &binary,
        &kubeconfig,
        &url,
        &[
            "--image",
            "127.0.0.1:5000/driftless:e2e-2",
            "--private-key-file",
            key_arg,
        ],
    ));
    assert!(ok, "{stderr}");
    assert_eq!(commits(), 2);
    let components = read(&[
        "show",
        "main:clusters/e2e/driftless-system/driftless-components.yaml",
    ]);
    assert!(components.contains("image: 127.0.0.1:5000/driftless:e2e-2"));

    // 4. --dry-run prints the files and touches neither the repository nor the cluster.
    let (ok, stdout, stderr) = run(Command::new(&binary)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .args([
            "bootstrap",
            "git",
            "--url",
            &url,
            "--path",
            PATH,
            "--dry-run",
        ])
        .args(["--image", "127.0.0.1:5000/driftless:e2e-3"]));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("==> clusters/e2e/driftless-system/driftless-sync.yaml <=="),
        "{stdout}"
    );
    assert!(stdout.contains("image: 127.0.0.1:5000/driftless:e2e-3"));
    assert_eq!(commits(), 2);

    // A key the server does not know is refused before anything is pushed.
    let stranger = keys.path().join("stranger");
    generate_key(&stranger, "stranger").unwrap();
    let (ok, _, stderr) = run(&mut bootstrap_command(
        &binary,
        &kubeconfig,
        &url,
        &[
            "--image",
            "127.0.0.1:5000/driftless:e2e-4",
            "--private-key-file",
            stranger.to_str().unwrap(),
        ],
    ));
    assert!(!ok && stderr.contains("Permission denied"), "{stderr}");
    assert_eq!(commits(), 2);
}
