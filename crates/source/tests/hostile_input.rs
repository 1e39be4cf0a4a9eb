//! SourceCache against hostile repositories: crafted tree entry names, oversized files and
//! trees, and the bookkeeping that must not grow without bound (mirrors and their locks).

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use driftless_source::{CacheOptions, Error, FetchRequest, GitRef, Limits, OwnerKey, SourceCache};
use support::{Repo, files, git};

const GIB: u64 = 1 << 30;

/// Run git with `input` on stdin; returns stdout.
fn git_with_input(dir: &Path, args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Write a tree object with raw entries (mode, name bytes, object id) exactly as given:
/// no validation, no sorting (what a hostile server can send).
fn raw_tree(repo: &Path, entries: &[(&str, &[u8], &str)]) -> String {
    let mut body = Vec::new();
    for (mode, name, id) in entries {
        body.extend_from_slice(mode.as_bytes());
        body.push(b' ');
        body.extend_from_slice(name);
        body.push(0);
        body.extend_from_slice(&hex::decode(id).unwrap());
    }
    git_with_input(
        repo,
        &["hash-object", "-w", "-t", "tree", "--literally", "--stdin"],
        &body,
    )
}

fn blob(repo: &Path, content: &[u8]) -> String {
    git_with_input(repo, &["hash-object", "-w", "--stdin"], content)
}

/// Commit `tree` on top of `main` and move `main` to it.
fn commit_tree(repo: &Repo, tree: &str, message: &str) -> String {
    let commit = git(
        &repo.path,
        &["commit-tree", tree, "-p", "HEAD", "-m", message],
    );
    // No checkout: git itself would refuse to write these names.
    git(&repo.path, &["update-ref", "refs/heads/main", &commit]);
    commit
}

fn tmp_is_empty(cache_dir: &Path) -> bool {
    std::fs::read_dir(cache_dir.join("tmp")).unwrap().count() == 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crafted_entry_names_are_refused_before_anything_is_written() {
    let repo = Repo::new("r");
    repo.commit(&[("ok.yaml", "ok\n")], "good");
    let cache_dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let cache = SourceCache::open(cache_dir.path(), GIB).unwrap();
    let req = FetchRequest::new(repo.file_url(), GitRef::branch("main"));
    let good = cache.fetch(req.clone()).await.unwrap();

    let payload = blob(&repo.path, b"pwned\n");
    let escape_target = outside.path().join("escaped");
    let depth = cache_dir.path().components().count() + 2;
    let escape = format!(
        "{}{}",
        "../".repeat(depth),
        escape_target.display().to_string().trim_start_matches('/')
    );
    let inner = raw_tree(&repo.path, &[("100644", b"escaped-too", &payload)]);
    let cases: Vec<(Vec<u8>, &str, String, &str)> = vec![
        (
            escape.clone().into_bytes(),
            "100644",
            payload.clone(),
            "'/'",
        ),
        (b"../x".to_vec(), "100644", payload.clone(), "'/'"),
        (b"..".to_vec(), "40000", inner.clone(), "'..'"),
        (b".".to_vec(), "40000", inner.clone(), "'..'"),
        (b".GIT".to_vec(), "40000", inner.clone(), ".git"),
        (b"git~1".to_vec(), "40000", inner.clone(), ".git"),
        (
            ".g\u{200c}it".as_bytes().to_vec(),
            "40000",
            inner.clone(),
            ".git",
        ),
        (b"a\\b".to_vec(), "100644", payload.clone(), "'\\'"),
    ];
    for (name, mode, id, rule) in cases {
        let shown = name.escape_ascii().to_string();
        let tree = raw_tree(
            &repo.path,
            &[
                ("100644", b"ok.yaml", &blob(&repo.path, b"ok\n")),
                (mode, &name, &id),
            ],
        );
        let commit = commit_tree(&repo, &tree, "hostile");
        let err = cache.fetch(req.clone()).await.unwrap_err();
        assert!(
            matches!(&err, Error::UnsafeTreeEntry { path, commit: c, .. } if *path == shown && *c == commit),
            "{shown}: {err:?}"
        );
        assert_eq!(err.reason(), "UnsafeTreeEntry");
        let message = err.to_string();
        assert!(
            message.contains(&shown) && message.contains(&commit) && message.contains(rule),
            "{message}"
        );
        assert!(!escape_target.exists(), "{shown}: wrote outside the cache");
        assert!(
            !cache_dir.path().join("escaped-too").exists()
                && !cache_dir.path().join("tmp/escaped-too").exists(),
            "{shown}: wrote outside the staging directory"
        );
        assert!(tmp_is_empty(cache_dir.path()), "{shown}: staging left");
    }
    // A nested bad name is shown with its directory.
    let nested = raw_tree(
        &repo.path,
        &[(
            "40000",
            b"deploy",
            &raw_tree(&repo.path, &[("100644", b"..", &payload)]),
        )],
    );
    commit_tree(&repo, &nested, "nested");
    let err = cache.fetch(req.clone()).await.unwrap_err();
    assert!(err.to_string().contains("\"deploy/..\""), "{err}");

    // The good artifact is untouched and still indexed; only it was ever checked out.
    assert_eq!(cache.artifact_dir(&good.digest), Some(good.path.clone()));
    assert_eq!(files(&good.path), vec!["ok.yaml"]);
    assert_eq!(cache.stats().checkouts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_and_wide_trees_are_refused() {
    let repo = Repo::new("r");
    repo.commit(&[("a/b/c/d/e.yaml", "e\n")], "deep");
    let cache_dir = tempfile::tempdir().unwrap();
    let mut options = CacheOptions::new(GIB);
    options.limits.max_tree_depth = 3;
    let cache = SourceCache::open_with(cache_dir.path(), options).unwrap();
    let req = FetchRequest::new(repo.file_url(), GitRef::branch("main"));
    let err = cache.fetch(req.clone()).await.unwrap_err();
    assert_eq!(err.reason(), "LimitExceeded", "{err}");
    assert!(
        err.to_string().contains("\"a/b/c\"") && err.to_string().contains("--max-tree-depth"),
        "{err}"
    );

    // One subtree named many times over: entries are counted, not directories on disk.
    let leaf = raw_tree(&repo.path, &[("100644", b"f", &blob(&repo.path, b""))]);
    let names: Vec<String> = (0..40).map(|i| format!("d{i:02}")).collect();
    let wide = |child: &str| -> String {
        let entries: Vec<(&str, &[u8], &str)> = names
            .iter()
            .map(|n| ("40000", n.as_bytes(), child))
            .collect();
        raw_tree(&repo.path, &entries)
    };
    let bomb = wide(&wide(&wide(&leaf)));
    commit_tree(&repo, &bomb, "tree bomb");
    let mut options = CacheOptions::new(GIB);
    options.limits.max_tree_entries = 10_000;
    let cache = SourceCache::open_with(cache_dir.path(), options).unwrap();
    let err = cache.fetch(req).await.unwrap_err();
    assert!(
        err.to_string().contains("--max-tree-entries"),
        "40^3 directories must be refused: {err}"
    );
    assert!(tmp_is_empty(cache_dir.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_files_and_artifacts_are_refused_naming_the_file() {
    let repo = Repo::new("r");
    repo.commit(&[("small.yaml", "s\n")], "good");
    let cache_dir = tempfile::tempdir().unwrap();
    let mut options = CacheOptions::new(GIB);
    options.limits = Limits {
        max_file_bytes: 1 << 20,
        max_artifact_bytes: (3 << 20) + 1024,
        ..Limits::default()
    };
    let cache = SourceCache::open_with(cache_dir.path(), options).unwrap();
    let req = FetchRequest::new(repo.file_url(), GitRef::branch("main"));
    let good = cache.fetch(req.clone()).await.unwrap();

    // 2 MiB of zeros: a few KiB packed, under the fetch floor, over the file limit.
    let big = "\0".repeat(2 << 20);
    let commit = repo.commit(&[("deploy/big.bin", &big)], "big");
    let err = cache.fetch(req.clone()).await.unwrap_err();
    assert_eq!(err.reason(), "LimitExceeded", "{err}");
    let message = err.to_string();
    assert!(
        message.contains("\"deploy/big.bin\"")
            && message.contains(&commit)
            && message.contains("1048576")
            && message.contains("--max-file-bytes"),
        "{message}"
    );

    // Ignored files are never read, so they do not count.
    git(&repo.path, &["rm", "-q", "deploy/big.bin"]);
    let mut spread = Vec::new();
    for i in 0..4 {
        spread.push((format!("part{i}.bin"), "x".repeat(1 << 20)));
    }
    let spread_refs: Vec<(&str, &str)> = spread
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    repo.commit(&spread_refs, "four files of 1 MiB");
    let err = cache.fetch(req.clone()).await.unwrap_err();
    assert!(
        err.to_string().contains("--max-artifact-bytes") && err.to_string().contains("part3.bin"),
        "{err}"
    );
    let mut ignoring = req.clone();
    ignoring.ignore = Some("part3.bin\n".into());
    let fits = cache.fetch(ignoring).await.unwrap();
    assert_eq!(files(&fits.path).len(), 4, "small.yaml and three parts");

    assert_eq!(cache.artifact_dir(&good.digest), Some(good.path.clone()));
    assert!(tmp_is_empty(cache_dir.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_bomb_is_refused_by_the_fetch_before_it_is_inflated() {
    let repo = Repo::new("r");
    repo.commit(&[("small.yaml", "s\n")], "good");
    // 64 MiB of zeros packs to a few dozen KiB.
    let bomb = "\0".repeat(64 << 20);
    let commit = repo.commit(&[("bomb.bin", &bomb)], "bomb");
    drop(bomb);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = SourceCache::open(cache_dir.path(), GIB).unwrap();
    let err = cache
        .fetch(FetchRequest::new(repo.file_url(), GitRef::branch("main")))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "LimitExceeded", "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&commit) && message.contains("--max-file-bytes=16777216"),
        "{message}"
    );
    assert_eq!(cache.stats().checkouts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_locks_go_when_nobody_holds_them() {
    let repo = Repo::new("r");
    repo.commit(&[("a.yaml", "a\n")], "one");
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = std::sync::Arc::new(SourceCache::open(cache_dir.path(), GIB).unwrap());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let cache = cache.clone();
        let mut req = FetchRequest::new(repo.file_url(), GitRef::branch("main"));
        req.ignore = Some(format!("x{i}\n"));
        tasks.push(tokio::spawn(async move { cache.fetch(req).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(cache.mirror_locks(), 0, "no lock entry outlives its users");
    assert_eq!(cache.stats().fetches, 1, "still one fetch for one URL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreferenced_mirrors_are_removed_after_the_grace_period_and_count_in_the_budget() {
    let a = Repo::new("a");
    a.commit(&[("a.yaml", "a\n")], "one");
    let b = Repo::new("b");
    b.commit(&[("b.yaml", "b\n")], "one");
    let cache_dir = tempfile::tempdir().unwrap();
    let mut options = CacheOptions::new(GIB);
    options.mirror_grace = Duration::ZERO;
    let cache = SourceCache::open_with(cache_dir.path(), options).unwrap();
    let owner = OwnerKey::object("GitRepository", "team-a", "apps");
    let mut req = FetchRequest::new(a.file_url(), GitRef::branch("main"));
    req.owner = Some(owner.clone());
    cache.fetch(req.clone()).await.unwrap();
    // Without an owner, b's mirror is idle as soon as its fetch ends.
    cache
        .fetch(FetchRequest::new(b.file_url(), GitRef::branch("main")))
        .await
        .unwrap();
    cache.sweep_mirrors().await;
    let mirrors = |dir: &Path| std::fs::read_dir(dir.join("mirrors")).unwrap().count();
    assert_eq!(mirrors(cache_dir.path()), 1, "the owned mirror stays");
    let stats = cache.stats();
    assert_eq!(stats.mirrors, 1);
    assert!(stats.mirror_bytes > 0, "mirror bytes are counted");
    assert!(stats.mirrors_removed >= 1);

    // The owner goes: so does its mirror.
    cache.unpin(&owner);
    assert_eq!(cache.sweep_mirrors().await, 1);
    assert_eq!(mirrors(cache_dir.path()), 0);
    assert_eq!(cache.stats().mirror_bytes, 0);

    // The next fetch simply starts over.
    let again = cache.fetch(req).await.unwrap();
    assert_eq!(files(&again.path), vec!["a.yaml"]);

    // Mirrors on disk at startup wait for the grace period to be claimed.
    let reopened = SourceCache::open(cache_dir.path(), GIB).unwrap();
    assert_eq!(reopened.stats().mirrors, 1);
    assert_eq!(reopened.sweep_mirrors().await, 0, "within the grace period");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_bytes_take_their_share_of_the_budget() {
    let repo = Repo::new("r");
    repo.commit(&[("a.yaml", "one\n")], "one");
    let cache_dir = tempfile::tempdir().unwrap();
    let req = FetchRequest::new(repo.file_url(), GitRef::branch("main"));
    // Measure one artifact and the mirror, then allow exactly the artifacts but not the mirror.
    let (artifact, mirror) = {
        let probe = SourceCache::open(cache_dir.path(), GIB).unwrap();
        let a = probe.fetch(req.clone()).await.unwrap();
        (a.size, probe.stats().mirror_bytes)
    };
    let cache = SourceCache::open(cache_dir.path(), 2 * artifact + mirror / 2).unwrap();
    repo.commit(&[("a.yaml", "two\n")], "two");
    let second = cache.fetch(req).await.unwrap();
    let stats = cache.stats();
    assert!(stats.mirror_bytes >= mirror, "{stats:?}");
    assert_eq!(
        (stats.artifacts, stats.evictions),
        (1, 1),
        "two artifacts fit the budget only without the mirror: {stats:?}"
    );
    assert!(second.path.exists());
}
