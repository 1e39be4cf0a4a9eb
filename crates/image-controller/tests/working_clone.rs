//! The working clone against real bare repositories on disk (the system `git`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use driftless_image_controller::Error;
use driftless_image_controller::git::{Author, GitCredentials, WorkingClone, clone_dir};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "other")
        .env("GIT_AUTHOR_EMAIL", "other@example.com")
        .env("GIT_COMMITTER_NAME", "other")
        .env("GIT_COMMITTER_EMAIL", "other@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A bare repository with `main` holding `files`, and a clone of it for "another user".
fn remote_with(root: &Path, files: &[(&str, &str)]) -> (String, std::path::PathBuf) {
    let bare = root.join("remote.git");
    std::fs::create_dir_all(&bare).unwrap();
    git(
        &bare,
        &["init", "--quiet", "--bare", "--initial-branch=main"],
    );
    let other = root.join("other");
    git(root, &["clone", "--quiet", bare.to_str().unwrap(), "other"]);
    git(&other, &["checkout", "--quiet", "-B", "main"]);
    for (file, content) in files {
        std::fs::write(other.join(file), content).unwrap();
    }
    git(&other, &["add", "--all"]);
    git(&other, &["commit", "--quiet", "-m", "initial"]);
    git(&other, &["push", "--quiet", "origin", "main"]);
    (bare.display().to_string(), other)
}

fn author() -> Author {
    Author {
        name: "driftless".into(),
        email: "driftless@example.com".into(),
    }
}

async fn open(storage: &Path, url: &str) -> WorkingClone {
    WorkingClone::open(
        &clone_dir(storage, url, "main"),
        url,
        GitCredentials::default(),
        Duration::from_secs(30),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn commit_push_and_nothing_to_do() {
    let root = tempfile::tempdir().unwrap();
    let (url, _) = remote_with(root.path(), &[("app.yaml", "image: r/app:1.0.0\n")]);
    let storage = root.path().join("storage");
    let clone = open(&storage, &url).await;
    let base = clone.reset_to_remote("main", "main").await.unwrap();
    assert_eq!(
        base,
        git(root.path(), &["--git-dir", &url, "rev-parse", "main"])
    );
    std::fs::write(clone.dir().join("app.yaml"), "image: r/app:1.1.0\n").unwrap();
    let commit = clone
        .commit(&author(), "Update r/app to 1.1.0\n")
        .await
        .unwrap()
        .expect("a commit");
    let pushed = clone.push("main", &author()).await.unwrap();
    assert_eq!(pushed, commit);
    assert_eq!(
        git(root.path(), &["--git-dir", &url, "rev-parse", "main"]),
        commit
    );
    assert_eq!(
        git(
            root.path(),
            &[
                "--git-dir",
                &url,
                "log",
                "-1",
                "--format=%an <%ae>|%s",
                "main"
            ]
        ),
        "driftless <driftless@example.com>|Update r/app to 1.1.0"
    );

    // The next run reuses the same clone (fetch, not clone) and has nothing to commit.
    let again = open(&storage, &url).await;
    assert_eq!(again.reset_to_remote("main", "main").await.unwrap(), commit);
    assert_eq!(again.commit(&author(), "nothing").await.unwrap(), None);
}

#[tokio::test]
async fn a_moved_remote_is_rebased_onto_once_and_conflicts_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let (url, other) = remote_with(
        root.path(),
        &[("app.yaml", "image: r/app:1.0.0\n"), ("notes.txt", "a\n")],
    );
    let storage = root.path().join("storage");
    let clone = open(&storage, &url).await;
    clone.reset_to_remote("main", "main").await.unwrap();
    // Someone else pushes an unrelated change after our checkout.
    std::fs::write(other.join("notes.txt"), "b\n").unwrap();
    git(&other, &["commit", "--quiet", "-am", "notes"]);
    git(&other, &["push", "--quiet", "origin", "main"]);
    let theirs = git(&other, &["rev-parse", "HEAD"]);
    std::fs::write(clone.dir().join("app.yaml"), "image: r/app:1.1.0\n").unwrap();
    clone.commit(&author(), "update").await.unwrap().unwrap();
    let pushed = clone.push("main", &author()).await.unwrap();
    assert_eq!(
        git(root.path(), &["--git-dir", &url, "rev-parse", "main"]),
        pushed
    );
    assert_eq!(
        git(root.path(), &["--git-dir", &url, "rev-parse", "main~1"]),
        theirs,
        "rebased onto their commit"
    );
    assert_eq!(
        git(root.path(), &["--git-dir", &url, "show", "main:notes.txt"]),
        "b"
    );

    // A conflicting change: the push is refused with a clear error and the remote keeps theirs.
    clone.reset_to_remote("main", "main").await.unwrap();
    git(&other, &["pull", "--quiet", "--rebase", "origin", "main"]);
    std::fs::write(other.join("app.yaml"), "image: r/app:9.9.9\n").unwrap();
    git(&other, &["commit", "--quiet", "-am", "manual pin"]);
    git(&other, &["push", "--quiet", "origin", "main"]);
    let pinned = git(&other, &["rev-parse", "HEAD"]);
    std::fs::write(clone.dir().join("app.yaml"), "image: r/app:1.2.0\n").unwrap();
    clone.commit(&author(), "update").await.unwrap().unwrap();
    let err = clone.push("main", &author()).await.unwrap_err();
    assert!(matches!(err, Error::PushRejected { .. }), "{err}");
    assert!(
        err.to_string().contains("branch 'main'") && err.to_string().contains("rebasing"),
        "{err}"
    );
    assert_eq!(
        git(root.path(), &["--git-dir", &url, "rev-parse", "main"]),
        pinned
    );
}

#[tokio::test]
async fn a_separate_push_branch_accumulates_updates() {
    let root = tempfile::tempdir().unwrap();
    let (url, _) = remote_with(root.path(), &[("app.yaml", "image: r/app:1.0.0\n")]);
    let storage = root.path().join("storage");
    let clone = open(&storage, &url).await;
    let main = clone
        .reset_to_remote("main", "image-updates")
        .await
        .unwrap();
    std::fs::write(clone.dir().join("app.yaml"), "image: r/app:1.1.0\n").unwrap();
    clone.commit(&author(), "first").await.unwrap().unwrap();
    let first = clone.push("image-updates", &author()).await.unwrap();
    assert_eq!(
        git(root.path(), &["--git-dir", &url, "rev-parse", "main"]),
        main,
        "main untouched"
    );
    // The next run starts from the existing push branch.
    assert_eq!(
        clone
            .reset_to_remote("main", "image-updates")
            .await
            .unwrap(),
        first
    );
}
