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
