//! What goes into a GitRepository's artifact beyond the commit itself, through the real
//! binary, control plane and loopback git server: `spec.sparseCheckout` (only some
//! directories) and `spec.include` (other GitRepositories' artifacts copied in), each with
//! its hostile input.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use driftless_api::GitRepository;
use driftless_e2e::{ControlPlane, Driftless, GitServer, TestNamespace};
use kube::Api;

/// Every file below `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The directory of the artifact a GitRepository publishes, in the binary's cache.
fn artifact_dir(driftless: &Driftless, repo: &GitRepository) -> PathBuf {
    let digest = repo
        .status
        .as_ref()
        .and_then(|s| s.artifact.as_ref())
        .and_then(|a| a.digest.clone())
        .expect("an artifact with a digest");
    driftless
        .storage_dir()
        .join("cache/artifacts")
        .join(digest.trim_start_matches("sha256:"))
}

fn digest_of(repo: &GitRepository) -> Option<String> {
    repo.status.as_ref()?.artifact.as_ref()?.digest.clone()
}

fn reason_of(repo: &GitRepository) -> String {
    repo.status
        .as_ref()
        .and_then(|s| ready_of(&s.conditions))
        .map(|c| c.reason)
        .unwrap_or_default()
}

fn repository_yaml(name: &str, url: &str, extra: &str) -> String {
    format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: {name}}}\nspec:\n  url: '{url}'\n  interval: 1m\n  ref: {{branch: main}}\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn sparse_checkout_narrows_the_artifact_and_refuses_missing_or_escaping_dirs() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "git-sparse").await.unwrap();
    let server = GitServer::start().unwrap();
    server.create_repo("mono").unwrap();
    let url = server.git_url("mono");
    let commit = server
        .push_files(
            &url,
            "main",
            &[
                ("charts/app/values.yaml", "v: 1\n"),
                ("charts2/other.yaml", "v: 2\n"),
                ("kustomize/base/cm.yaml", "kind: ConfigMap\n"),
                ("docs/readme.yaml", "d: 1\n"),
                ("root.yaml", "r: 1\n"),
            ],
            "monorepo",
        )
        .unwrap();
    let driftless = Driftless::start(plane, &[ns.name()], &["--controllers=source"])
        .await
        .unwrap();
    let api: Api<GitRepository> = Api::namespaced(client.clone(), ns.name());

    apply_yaml(
        &api,
        &repository_yaml("sparse", &url, "  sparseCheckout: [charts, ./kustomize/]\n"),
    )
    .await;
    let expected = format!("main@sha1:{commit}");
    let repo = wait_repo(&api, "sparse", "the sparse artifact", |r| {
        artifact_revision(r).as_deref() == Some(expected.as_str())
    })
    .await;
    assert_eq!(
        files(&artifact_dir(&driftless, &repo)),
        vec!["charts/app/values.yaml", "kustomize/base/cm.yaml"],
        "only the named directories, at component boundaries"
    );
    let status = repo.status.clone().unwrap();
    assert_eq!(
        status.observed_sparse_checkout,
        vec!["charts".to_owned(), "./kustomize/".to_owned()]
    );
    let good_digest = digest_of(&repo);

    // A directory the commit does not have: Ready=False naming it, the artifact stays.
    apply_yaml(
        &api,
        &repository_yaml("sparse", &url, "  sparseCheckout: [charts, deploy]\n"),
    )
    .await;
    let repo = wait_repo(&api, "sparse", "the missing directory refused", |r| {
        failing_with(
            r.status.as_ref().map(|s| s.conditions.as_slice()),
            "sparse checkout dir 'deploy' does not exist",
        )
    })
    .await;
    assert_eq!(reason_of(&repo), "GitOperationFailed");
    assert_eq!(digest_of(&repo), good_digest, "the last artifact stays");

    // Paths out of the repository are refused before any fetch, and stall.
    for (i, bad) in ["../../etc", "/etc", "charts/../../x", ".git"]
        .iter()
        .enumerate()
    {
        let name = format!("escape-{i}");
        apply_yaml(
            &api,
            &repository_yaml(&name, &url, &format!("  sparseCheckout: ['{bad}']\n")),
        )
        .await;
        let repo = wait_repo(&api, &name, &format!("{bad} refused"), |r| {
            failing_with(
                r.status.as_ref().map(|s| s.conditions.as_slice()),
                "spec.sparseCheckout[0]",
            )
        })
        .await;
        assert_eq!(reason_of(&repo), "IllegalPath", "{bad}");
        assert!(
            repo.status.as_ref().unwrap().artifact.is_none(),
            "{bad}: no artifact"
        );
    }
}

fn condition_of(repo: &GitRepository, kind: &str) -> Option<(String, String, String)> {
    repo.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn included_revisions(repo: &GitRepository) -> Vec<String> {
    repo.status
        .as_ref()
        .map(|s| {
            s.included_artifacts
                .iter()
                .map(|a| a.revision.clone())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn include_copies_other_artifacts_follows_their_changes_and_refuses_cycles_and_escapes() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "git-include").await.unwrap();
    let server = GitServer::start().unwrap();
    for repo in ["app", "lib"] {
        server.create_repo(repo).unwrap();
    }
    let (app_url, lib_url) = (server.git_url("app"), server.git_url("lib"));
    let app_commit = server
        .push_files(
            &app_url,
            "main",
            &[("deploy/app.yaml", "kind: App\n")],
            "app",
        )
        .unwrap();
    let lib_commit = server
        .push_files(
            &lib_url,
            "main",
            &[
                ("base/cm.yaml", "kind: ConfigMap\n"),
                ("other.yaml", "o: 1\n"),
            ],
            "lib",
        )
        .unwrap();
    let driftless = Driftless::start(plane, &[ns.name()], &["--controllers=source"])
        .await
        .unwrap();
    let api: Api<GitRepository> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&api, &repository_yaml("lib", &lib_url, "")).await;
    // A long interval: the includer must follow the included repository by its watch.
    let app_spec = |include: &str| {
        format!(
            "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: app}}\nspec:\n  url: '{app_url}'\n  interval: 10m\n  ref: {{branch: main}}\n  include:\n{include}"
        )
    };
    let good_include = "  - repository: {name: lib}\n    fromPath: ./base\n    toPath: deploy/vendor\n  - repository: {name: lib}\n";
    apply_yaml(&api, &app_spec(good_include)).await;
    let lib_revision = format!("main@sha1:{lib_commit}");
    let repo = wait_repo(&api, "app", "app with lib included", |r| {
        included_revisions(r) == [lib_revision.clone(), lib_revision.clone()]
    })
    .await;
    assert_eq!(
        artifact_revision(&repo),
        Some(format!("main@sha1:{app_commit}")),
        "the revision stays the includer's commit"
    );
    assert_eq!(
        files(&artifact_dir(&driftless, &repo)),
        vec![
            "deploy/app.yaml",
            "deploy/vendor/cm.yaml",
            "lib/base/cm.yaml",
            "lib/other.yaml"
        ]
    );
    assert_eq!(repo.status.as_ref().unwrap().observed_include.len(), 2);
    let first_digest = digest_of(&repo);

    // A new commit of the included repository: a new artifact of the includer, same revision.
    let lib_second = server
        .push_files(&lib_url, "main", &[("other.yaml", "o: 2\n")], "lib 2")
        .unwrap();
    apply_yaml(
        &api,
        &format!(
            "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: lib, annotations: {{reconcile.driftless.dev/requestedAt: now-1}}}}\nspec: {{url: '{lib_url}', interval: 1m, ref: {{branch: main}}}}\n"
        ),
    )
    .await;
    let lib_revision = format!("main@sha1:{lib_second}");
    let repo = wait_repo(&api, "app", "app following lib's new commit", |r| {
        included_revisions(r).first() == Some(&lib_revision)
    })
    .await;
    assert_ne!(digest_of(&repo), first_digest, "new content, new digest");
    assert_eq!(
        artifact_revision(&repo),
        Some(format!("main@sha1:{app_commit}"))
    );
    assert_eq!(
        std::fs::read_to_string(artifact_dir(&driftless, &repo).join("lib/other.yaml")).unwrap(),
        "o: 2\n"
    );
    let good_digest = digest_of(&repo);

    // An include that does not exist: Ready=False naming it, IncludeUnavailable, artifact kept.
    apply_yaml(&api, &app_spec("  - repository: {name: ghost}\n")).await;
    let repo = wait_repo(&api, "app", "the missing include reported", |r| {
        failing_with(
            r.status.as_ref().map(|s| s.conditions.as_slice()),
            "include 'ghost'",
        )
    })
    .await;
    assert_eq!(reason_of(&repo), "NotFound");
    let unavailable = condition_of(&repo, "IncludeUnavailable").expect("IncludeUnavailable");
    assert_eq!(
        (unavailable.0.as_str(), unavailable.1.as_str()),
        ("True", "NotFound")
    );
    assert_eq!(digest_of(&repo), good_digest, "the last artifact stays");

    // toPath out of the artifact: refused by field, Stalled, nothing written outside.
    apply_yaml(
        &api,
        &app_spec("  - repository: {name: lib}\n    toPath: ../../../outside\n"),
    )
    .await;
    let repo = wait_repo(&api, "app", "the escaping toPath refused", |r| {
        failing_with(
            r.status.as_ref().map(|s| s.conditions.as_slice()),
            "spec.include[0].toPath",
        )
    })
    .await;
    assert_eq!(reason_of(&repo), "IllegalPath");
    assert_eq!(
        condition_of(&repo, "Stalled").map(|c| c.0),
        Some("True".into())
    );
    assert_eq!(digest_of(&repo), good_digest);
    assert!(!driftless.storage_dir().join("outside").exists());
    assert!(!driftless.storage_dir().join("cache/outside").exists());

    // Self-include and a cycle: refused, Stalled, naming the cycle.
    apply_yaml(&api, &app_spec("  - repository: {name: app}\n")).await;
    let repo = wait_repo(&api, "app", "the self-include refused", |r| {
        failing_with(
            r.status.as_ref().map(|s| s.conditions.as_slice()),
            "includes itself",
        )
    })
    .await;
    assert_eq!(reason_of(&repo), "InvalidSpec");
    apply_yaml(
        &api,
        &repository_yaml(
            "ring-b",
            &lib_url,
            "  include:\n  - repository: {name: ring-a}\n",
        ),
    )
    .await;
    apply_yaml(
        &api,
        &repository_yaml(
            "ring-a",
            &lib_url,
            "  include:\n  - repository: {name: ring-b}\n",
        ),
    )
    .await;
    let repo = wait_repo(&api, "ring-a", "the cycle refused", |r| {
        failing_with(
            r.status.as_ref().map(|s| s.conditions.as_slice()),
            "include cycle ring-a -> ring-b -> ring-a",
        )
    })
    .await;
    assert_eq!(reason_of(&repo), "InvalidSpec");
    assert!(repo.status.as_ref().unwrap().artifact.is_none());
}

/// Pushes a commit on `main` of `url` that adds a gitlink to `commit` at `path`, with `sub_url`
/// in `.gitmodules`; returns the commit.
fn push_gitlink(server: &GitServer, url: &str, path: &str, sub_url: &str, commit: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = server
            .git_command()
            .current_dir(work.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    run(&["clone", "--quiet", url, "."]);
    std::fs::write(
        work.path().join(".gitmodules"),
        format!("[submodule \"{path}\"]\n\tpath = {path}\n\turl = {sub_url}\n"),
    )
    .unwrap();
    run(&["add", ".gitmodules"]);
    run(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{commit},{path}"),
    ]);
    run(&["commit", "--quiet", "-m", "submodule"]);
    run(&["push", "--quiet", "origin", "HEAD:refs/heads/main"]);
    run(&["rev-parse", "HEAD"])
}

#[tokio::test(flavor = "multi_thread")]
async fn recurse_submodules_checks_them_out_through_the_url_policy() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "git-submodules")
        .await
        .unwrap();
    let server = GitServer::start().unwrap();
    for repo in ["top", "sub", "evil"] {
        server.create_repo(repo).unwrap();
    }
    let sub_commit = server
        .push_files(
            &server.git_url("sub"),
            "main",
            &[("lib/cm.yaml", "kind: ConfigMap\n")],
            "sub",
        )
        .unwrap();
    let top_url = server.git_url("top");
    server
        .push_files(&top_url, "main", &[("app.yaml", "kind: App\n")], "top")
        .unwrap();
    // A relative URL, resolved against spec.url as git does.
    let top_commit = push_gitlink(&server, &top_url, "vendor/sub", "../sub.git", &sub_commit);
    let evil_url = server.git_url("evil");
    server
        .push_files(&evil_url, "main", &[("app.yaml", "kind: App\n")], "evil")
        .unwrap();
    push_gitlink(&server, &evil_url, "secrets", "file:///etc", &sub_commit);

    let driftless = Driftless::start(plane, &[ns.name()], &["--controllers=source"])
        .await
        .unwrap();
    let api: Api<GitRepository> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(
        &api,
        &repository_yaml("top", &top_url, "  recurseSubmodules: true\n"),
    )
    .await;
    let expected = format!("main@sha1:{top_commit}");
    let repo = wait_repo(&api, "top", "the superproject with its submodule", |r| {
        artifact_revision(r).as_deref() == Some(expected.as_str())
    })
    .await;
    assert_eq!(
        files(&artifact_dir(&driftless, &repo)),
        vec!["app.yaml", "vendor/sub/lib/cm.yaml"]
    );
    assert!(repo.status.as_ref().unwrap().observed_recurse_submodules);

    // Without the field the gitlink is left out, as before.
    apply_yaml(&api, &repository_yaml("flat", &top_url, "")).await;
    let flat = wait_repo(&api, "flat", "the superproject alone", |r| {
        artifact_revision(r).as_deref() == Some(expected.as_str())
    })
    .await;
    assert_eq!(files(&artifact_dir(&driftless, &flat)), vec!["app.yaml"]);

    // A submodule URL the policy refuses (file:// without --allow-file-urls): Ready=False
    // naming the submodule and its URL; nothing is read from the controller's disk.
    apply_yaml(
        &api,
        &repository_yaml("evil", &evil_url, "  recurseSubmodules: true\n"),
    )
    .await;
    let repo = wait_repo(&api, "evil", "the file:// submodule refused", |r| {
        failing_with(
            r.status.as_ref().map(|s| s.conditions.as_slice()),
            "submodule 'secrets'",
        )
    })
    .await;
    assert_eq!(reason_of(&repo), "URLNotAllowed");
    let message = ready_of(&repo.status.as_ref().unwrap().conditions)
        .unwrap()
        .message;
    assert!(message.contains("file:///etc"), "{message}");
    assert!(repo.status.as_ref().unwrap().artifact.is_none());
}
