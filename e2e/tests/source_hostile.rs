//! Hostile sources against the real `driftless` binary, the loopback control plane and git
//! server: crafted tree entry names, a zip-bomb blob and oversized files, and artifact URLs
//! naming another object. Each refusal leaves the last good artifact published.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;
use driftless_api::GitRepository;
use driftless_e2e::{ControlPlane, Driftless, GitServer, TestNamespace};
use kube::Api;

/// Runs `command`, feeding `input`; its trimmed stdout, panicking with stderr on failure.
fn run_with_input(mut command: Command, input: &[u8]) -> String {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A clone of a repository on the git server in which raw objects are written and pushed.
struct Crafter<'a> {
    server: &'a GitServer,
    url: String,
    work: tempfile::TempDir,
}

impl<'a> Crafter<'a> {
    fn clone(server: &'a GitServer, url: &str) -> Self {
        let work = tempfile::tempdir().unwrap();
        let crafter = Crafter {
            server,
            url: url.to_owned(),
            work,
        };
        crafter.git(&["clone", "--quiet", url, "."]);
        crafter
    }

    fn git(&self, args: &[&str]) -> String {
        let mut command = self.server.git_command();
        command.current_dir(self.work.path()).args(args);
        run_with_input(command, b"")
    }

    fn git_input(&self, args: &[&str], input: &[u8]) -> String {
        let mut command = self.server.git_command();
        command.current_dir(self.work.path()).args(args);
        run_with_input(command, input)
    }

    fn blob(&self, content: &[u8]) -> String {
        self.git_input(&["hash-object", "-w", "--stdin"], content)
    }

    /// A blob of `len` zero bytes, streamed from a file (never held in memory here).
    fn zero_blob(&self, len: u64) -> String {
        let path = self.work.path().join(".zeros");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(len).unwrap();
        let id = self.git(&["hash-object", "-w", path.to_str().unwrap()]);
        std::fs::remove_file(&path).unwrap();
        id
    }

    /// A tree object with exactly these raw entries: no validation, no sorting.
    fn raw_tree(&self, entries: &[(&str, &[u8], &str)]) -> String {
        let mut body = Vec::new();
        for (mode, name, id) in entries {
            body.extend_from_slice(mode.as_bytes());
            body.push(b' ');
            body.extend_from_slice(name);
            body.push(0);
            body.extend_from_slice(&hex::decode(id).unwrap());
        }
        self.git_input(
            &["hash-object", "-w", "-t", "tree", "--literally", "--stdin"],
            &body,
        )
    }

    /// Commits `tree` on top of the server's `main` and pushes it there; the commit id.
    fn push_tree(&self, tree: &str, message: &str) -> String {
        self.git(&["fetch", "--quiet", "origin", "main"]);
        let commit = self.git(&["commit-tree", tree, "-p", "FETCH_HEAD", "-m", message]);
        self.git(&[
            "push",
            "--quiet",
            &self.url,
            &format!("{commit}:refs/heads/main"),
        ]);
        commit
    }
}

fn repo_yaml(name: &str, url: &str, token: &str) -> String {
    format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: {name}, annotations: {{reconcile.driftless.dev/requestedAt: '{token}'}}}}\nspec: {{url: '{url}', interval: 10m, ref: {{branch: main}}}}\n"
    )
}

/// Reconciles `name` again (a new requestedAt token) and waits until that reconcile is
/// handled; the object afterwards.
async fn reconcile_now(
    api: &Api<GitRepository>,
    name: &str,
    url: &str,
    token: &str,
) -> GitRepository {
    apply_yaml(api, &repo_yaml(name, url, token)).await;
    wait_repo(api, name, &format!("reconcile {token} of {name}"), |r| {
        r.status.as_ref().is_some_and(|s| {
            s.reconcile_request.last_handled_reconcile_at.as_deref() == Some(token)
        })
    })
    .await
}

fn ready_message(repo: &GitRepository) -> (String, String, String) {
    let ready = ready_of(&repo.status.as_ref().unwrap().conditions).unwrap();
    (ready.status, ready.reason, ready.message)
}

fn unique(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("driftless-{label}-{}-{nanos}", std::process::id())
}

#[tokio::test(flavor = "multi_thread")]
async fn crafted_tree_entries_are_refused_and_nothing_escapes() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "hostile-tree").await.unwrap();
    let server = GitServer::start().unwrap();
    server.create_repo("hostile").unwrap();
    let url = server.git_url("hostile");
    let good = server
        .push_files(
            &url,
            "main",
            &[("deploy/cm.yaml", "kind: ConfigMap\n")],
            "good",
        )
        .unwrap();

    let driftless = Driftless::start(plane, &[ns.name()], &["--controllers=source"])
        .await
        .unwrap();
    let api: Api<GitRepository> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&api, &repo_yaml("hostile", &url, "good")).await;
    let expected = format!("main@sha1:{good}");
    let published = wait_repo(&api, "hostile", "the good commit published", |r| {
        artifact_revision(r).as_deref() == Some(expected.as_str())
    })
    .await;
    let good_artifact = published.status.unwrap().artifact.unwrap();

    let crafter = Crafter::clone(&server, &url);
    let payload = crafter.blob(b"pwned\n");
    let ok = crafter.blob(b"kind: ConfigMap\n");
    // A file outside the storage directory, and one beside the staging directory.
    let outside = std::env::temp_dir().join(unique("escape"));
    let escape = format!(
        "{}{}",
        "../".repeat(32),
        outside.display().to_string().trim_start_matches('/')
    );
    let beside = unique("beside");
    let inner = crafter.raw_tree(&[("100644", beside.as_bytes(), &payload)]);
    let cases: [(&str, Vec<u8>, &str, &str); 4] = [
        (
            "escape",
            escape.clone().into_bytes(),
            "100644",
            payload.as_str(),
        ),
        (
            "dot-dot-slash",
            b"../x".to_vec(),
            "100644",
            payload.as_str(),
        ),
        ("dot-dot-tree", b"..".to_vec(), "40000", inner.as_str()),
        ("dot-git", b".GIT".to_vec(), "40000", inner.as_str()),
    ];
    for (token, name, mode, id) in cases {
        let tree = crafter.raw_tree(&[("100644", b"cm.yaml", &ok), (mode, &name, id)]);
        let commit = crafter.push_tree(&tree, token);
        let repo = reconcile_now(&api, "hostile", &url, token).await;
        let (status, reason, message) = ready_message(&repo);
        let shown = name.escape_ascii().to_string();
        assert_eq!(status, "False", "{token}: {message}");
        assert_eq!(reason, "UnsafeTreeEntry", "{token}: {message}");
        assert!(
            message.contains(&format!("\"{shown}\"")) && message.contains(&commit),
            "{token}: the message names the entry and the commit: {message}"
        );
        assert_eq!(
            repo.status.as_ref().unwrap().artifact.as_ref(),
            Some(&good_artifact),
            "{token}: the last good artifact stays published"
        );
        assert!(
            !outside.exists(),
            "{token}: {} was written outside the storage directory",
            outside.display()
        );
        for dir in ["cache", "cache/tmp", "cache/artifacts"] {
            let path = driftless.storage_dir().join(dir).join(&beside);
            assert!(!path.exists(), "{token}: {} was written", path.display());
        }
    }
    let cache = driftless.storage_dir().join("cache");
    let artifacts: Vec<_> = std::fs::read_dir(cache.join("artifacts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let good_hex = good_artifact
        .digest
        .as_deref()
        .unwrap()
        .trim_start_matches("sha256:");
    assert_eq!(
        artifacts,
        vec![good_hex.to_owned()],
        "no hostile artifact was published"
    );
    assert_eq!(std::fs::read_dir(cache.join("tmp")).unwrap().count(), 0);
}

/// Peak resident memory since the last reset, and the current one, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /proc/{pid}/status"))
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Resets the peak resident memory of `pid` to its current value (Linux ≥ 4.0).
fn reset_peak(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("write clear_refs");
}

#[tokio::test(flavor = "multi_thread")]
async fn zip_bombs_and_oversized_files_are_refused_with_bounded_memory() {
    const MIB: u64 = 1 << 20;
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "hostile-size").await.unwrap();
    let server = GitServer::start().unwrap();
    server.create_repo("bomb").unwrap();
    server.create_repo("neighbour").unwrap();
    let url = server.git_url("bomb");
    let neighbour_url = server.git_url("neighbour");
    let good = server
        .push_files(
            &url,
            "main",
            &[("deploy/cm.yaml", "kind: ConfigMap\n")],
            "good",
        )
        .unwrap();
    server
        .push_files(&neighbour_url, "main", &[("cm.yaml", "n: 1\n")], "one")
        .unwrap();

    let max_file = MIB;
    let driftless = Driftless::start(
        plane,
        &[ns.name()],
        &[
            "--controllers=source",
            &format!("--max-file-bytes={max_file}"),
        ],
    )
    .await
    .unwrap();
    let api: Api<GitRepository> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&api, &repo_yaml("bomb", &url, "good")).await;
    apply_yaml(&api, &repo_yaml("neighbour", &neighbour_url, "one")).await;
    let expected = format!("main@sha1:{good}");
    let published = wait_repo(&api, "bomb", "the good commit published", |r| {
        artifact_revision(r).as_deref() == Some(expected.as_str())
    })
    .await;
    let good_artifact = published.status.unwrap().artifact.unwrap();
    wait_repo(&api, "neighbour", "the neighbour published", |r| {
        artifact_revision(r).is_some()
    })
    .await;

    let crafter = Crafter::clone(&server, &url);
    let ok = crafter.blob(b"kind: ConfigMap\n");
    let pid = driftless.pid();
    let mut report = Vec::new();

    // 4 MiB of zeros: over --max-file-bytes, under the 16 MiB that any fetch may inflate.
    // Refused from the object header, naming the file.
    let big = crafter.zero_blob(4 * MIB);
    let deploy = crafter.raw_tree(&[("100644", b"big.bin", &big), ("100644", b"cm.yaml", &ok)]);
    let commit = crafter.push_tree(&crafter.raw_tree(&[("40000", b"deploy", &deploy)]), "4 MiB");
    reset_peak(pid);
    let (_, before) = memory_kib(pid);
    let repo = reconcile_now(&api, "bomb", &url, "big-file").await;
    let (peak, _) = memory_kib(pid);
    let (status, reason, message) = ready_message(&repo);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "LimitExceeded"),
        "{message}"
    );
    assert!(
        message.contains("\"deploy/big.bin\"")
            && message.contains(&commit)
            && message.contains(&max_file.to_string()),
        "the message names the file, the commit and the limit: {message}"
    );
    assert_eq!(
        repo.status.as_ref().unwrap().artifact.as_ref(),
        Some(&good_artifact)
    );
    let growth = peak.saturating_sub(before);
    report.push(format!(
        "4 MiB file: peak RSS grew {growth} KiB (from {before} KiB)"
    ));
    // Indexing the fetched pack inflates the 4 MiB once (it is under the fetch bound);
    // the checkout refuses it from its header without inflating it again.
    assert!(
        growth < 12 * 1024,
        "peak RSS grew by {growth} KiB refusing a 4 MiB file"
    );

    // 200 MB of zeros packs to a few hundred KiB. The fetch refuses the object before
    // inflating it, so memory does not move by anything like its size.
    let bomb = crafter.zero_blob(200 * 1000 * 1000);
    let commit = crafter.push_tree(
        &crafter.raw_tree(&[("100644", b"bomb.bin", &bomb), ("100644", b"cm.yaml", &ok)]),
        "zip bomb",
    );
    reset_peak(pid);
    let (_, before) = memory_kib(pid);
    let repo = reconcile_now(&api, "bomb", &url, "zip-bomb").await;
    let (peak, _) = memory_kib(pid);
    let (status, reason, message) = ready_message(&repo);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "LimitExceeded"),
        "{message}"
    );
    assert!(
        message.contains(&commit) && message.contains(&format!("--max-file-bytes={max_file}")),
        "the message names the commit and the limit: {message}"
    );
    assert_eq!(
        repo.status.as_ref().unwrap().artifact.as_ref(),
        Some(&good_artifact)
    );
    let growth = peak.saturating_sub(before);
    report.push(format!(
        "200 MB zip bomb: peak RSS grew {growth} KiB (from {before} KiB)"
    ));
    assert!(
        growth < 8 * 1024,
        "peak RSS grew by {growth} KiB refusing a 200 MB zip bomb"
    );

    // Other tenants are unaffected: the neighbour picks up a new commit.
    let next = server
        .push_files(&neighbour_url, "main", &[("cm.yaml", "n: 2\n")], "two")
        .unwrap();
    let repo = reconcile_now(&api, "neighbour", &neighbour_url, "two").await;
    assert_eq!(
        artifact_revision(&repo).as_deref(),
        Some(format!("main@sha1:{next}").as_str())
    );
    assert_eq!(ready_message(&repo).0, "True");
    eprintln!(
        "memory with --max-file-bytes={max_file}: {}",
        report.join("; ")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn artifact_urls_need_the_owning_namespace_and_name() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let team_a = TestNamespace::create(plane, "artifact-a").await.unwrap();
    let team_b = TestNamespace::create(plane, "artifact-b").await.unwrap();
    let server = GitServer::start().unwrap();
    server.create_repo("a").unwrap();
    server.create_repo("b").unwrap();
    let url_a = server.git_url("a");
    let url_b = server.git_url("b");
    server
        .push_files(&url_a, "main", &[("secret-a.yaml", "team: a\n")], "a")
        .unwrap();
    server
        .push_files(&url_b, "main", &[("b.yaml", "team: b\n")], "b")
        .unwrap();
    let driftless = Driftless::start(
        plane,
        &[team_a.name(), team_b.name()],
        &["--controllers=source"],
    )
    .await
    .unwrap();
    let api_a: Api<GitRepository> = Api::namespaced(client.clone(), team_a.name());
    let api_b: Api<GitRepository> = Api::namespaced(client.clone(), team_b.name());
    apply_yaml(&api_a, &repo_yaml("apps", &url_a, "one")).await;
    apply_yaml(&api_b, &repo_yaml("apps", &url_b, "one")).await;
    let digest_of = |repo: GitRepository| {
        repo.status
            .unwrap()
            .artifact
            .unwrap()
            .digest
            .unwrap()
            .trim_start_matches("sha256:")
            .to_owned()
    };
    let a = digest_of(
        wait_repo(&api_a, "apps", "a published", |r| {
            artifact_revision(r).is_some()
        })
        .await,
    );
    let b = digest_of(
        wait_repo(&api_b, "apps", "b published", |r| {
            artifact_revision(r).is_some()
        })
        .await,
    );
    let (ns_a, ns_b) = (team_a.name(), team_b.name());

    let get = |path: String| {
        let url = driftless.storage_url(&path);
        async move {
            let response = reqwest::get(&url).await.unwrap();
            let status = response.status().as_u16();
            (status, response.bytes().await.unwrap().to_vec())
        }
    };
    let (status, body) = get(format!("/artifacts/{ns_a}/apps/{a}.tar.gz")).await;
    assert_eq!(status, 200);
    let tarball = gunzip(&body);
    let mut archive = tar::Archive::new(tarball.as_slice());
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["secret-a.yaml"]);

    for (what, path) in [
        (
            "another namespace",
            format!("/artifacts/{ns_b}/apps/{a}.tar.gz"),
        ),
        (
            "another name",
            format!("/artifacts/{ns_a}/other/{a}.tar.gz"),
        ),
        (
            "a digest the object does not publish",
            format!("/artifacts/{ns_a}/apps/{b}.tar.gz"),
        ),
        (
            "an unwatched namespace",
            format!("/artifacts/default/apps/{a}.tar.gz"),
        ),
    ] {
        let (status, body) = get(path.clone()).await;
        assert_eq!(
            status,
            404,
            "{what}: {path}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let (status, _) = get(format!("/artifacts/{ns_b}/apps/{b}.tar.gz")).await;
    assert_eq!(status, 200, "each owner reads its own");
}

/// Gunzips `bytes` with the system's gzip (the e2e crate has no gzip decoder of its own).
fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut command = Command::new("gzip");
    command.arg("-dc");
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "gzip -dc failed");
    out.stdout
}
