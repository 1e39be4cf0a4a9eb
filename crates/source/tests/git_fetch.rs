//! SourceCache against real git repositories over file:// and a real git daemon.

mod support;

use std::time::Duration;

use driftless_source::{Error, FetchRequest, GitAuth, GitRef, OwnerKey, SourceCache};
use support::{GitDaemon, Repo, files, git, snapshot};

const GIB: u64 = 1 << 30;

fn manifests(repo: &Repo) -> String {
    repo.commit(
        &[
            ("deploy/app.yaml", "kind: ConfigMap\n"),
            ("deploy/logo.png", "PNG"),
            (".gitignore", "target/\n"),
            (".github/workflows/ci.yaml", "on: push\n"),
            ("docs/notes.md", "notes\n"),
            ("docs/.sourceignore", "*.md\n"),
            ("README.md", "readme\n"),
        ],
        "initial",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_url_branch_checkout_applies_ignore_rules() {
    let repo = Repo::new("apps");
    let sha = manifests(&repo);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = SourceCache::open(cache_dir.path(), GIB).unwrap();

    let art = cache
        .fetch(FetchRequest::new(repo.file_url(), GitRef::branch("main")))
        .await
        .unwrap();
    assert_eq!(art.revision, format!("main@sha1:{sha}"));
    assert_eq!(art.commit, sha);
    assert_eq!(
        files(&art.path),
        vec!["README.md", "deploy/app.yaml", "docs/.sourceignore"]
    );
    assert_eq!(
        std::fs::read_to_string(art.path.join("deploy/app.yaml")).unwrap(),
        "kind: ConfigMap\n"
    );
    assert_eq!(
        art.size,
        "readme\n".len() as u64 + 16 + "*.md\n".len() as u64
    );
    assert_eq!(cache.artifact_dir(&art.digest), Some(art.path.clone()));
    let stats = cache.stats();
    assert_eq!((stats.fetches, stats.checkouts, stats.misses), (1, 1, 1));
    assert_eq!(stats.bytes, art.size);

    // spec.ignore changes the content and so the digest.
    let mut req = FetchRequest::new(repo.file_url(), GitRef::branch("main"));
    req.ignore = Some("README.md\n".into());
    let narrowed = cache.fetch(req).await.unwrap();
    assert_ne!(narrowed.digest, art.digest);
    assert_eq!(
        files(&narrowed.path),
        vec!["deploy/app.yaml", "docs/.sourceignore"]
    );
    assert_eq!(cache.stats().fetches, 1, "objects already in the mirror");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_daemon_tag_semver_and_commit_refs() {
    let repo = Repo::new("apps.git");
    let first = repo.commit(&[("app.yaml", "v: 1\n")], "one");
    git(&repo.path, &["tag", "-a", "v1.0.0", "-m", "release 1.0.0"]);
    let second = repo.commit(&[("app.yaml", "v: 2\n")], "two");
    git(&repo.path, &["tag", "v1.1.0"]);
    let third = repo.commit(&[("app.yaml", "v: 3\n")], "three");
    git(&repo.path, &["tag", "v2.0.0"]);
    let daemon = GitDaemon::serve(repo.root.path());
    let url = daemon.url("apps.git");
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = SourceCache::open(cache_dir.path(), GIB).unwrap();
    let read =
        |a: &driftless_source::Artifact| std::fs::read_to_string(a.path.join("app.yaml")).unwrap();

    let tag = cache
        .fetch(FetchRequest::new(&url, GitRef::tag("v1.0.0")))
        .await
        .unwrap();
    assert_eq!(
        tag.revision,
        format!("v1.0.0@sha1:{first}"),
        "annotated tag peels"
    );
    assert_eq!(read(&tag), "v: 1\n");

    let semver = cache
        .fetch(FetchRequest::new(&url, GitRef::semver(">=1.0.0 <2.0.0")))
        .await
        .unwrap();
    assert_eq!(semver.revision, format!("v1.1.0@sha1:{second}"));
    assert_eq!(read(&semver), "v: 2\n");

    let branch = cache
        .fetch(FetchRequest::new(&url, GitRef::branch("main")))
        .await
        .unwrap();
    assert_eq!(branch.revision, format!("main@sha1:{third}"));

    // A commit that is not a tip: needs history, so the shallow mirror is deepened.
    let commit = cache
        .fetch(FetchRequest::new(&url, GitRef::commit(&second)))
        .await
        .unwrap();
    assert_eq!(commit.revision, format!("sha1:{second}"));
    assert_eq!(commit.digest, semver.digest, "same tree, same artifact");

    let mut on_branch = GitRef::commit(&first);
    on_branch.branch = Some("main".into());
    let pinned = cache
        .fetch(FetchRequest::new(&url, on_branch))
        .await
        .unwrap();
    assert_eq!(pinned.revision, format!("main@sha1:{first}"));
    assert_eq!(read(&pinned), "v: 1\n");

    // The same content over file:// shares the artifact (content addressing).
    let via_file = cache
        .fetch(FetchRequest::new(repo.file_url(), GitRef::tag("v2.0.0")))
        .await
        .unwrap();
    assert_eq!(via_file.digest, branch.digest);
    assert_eq!(via_file.path, branch.path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_not_on_branch_is_rejected() {
    let repo = Repo::new("r");
    repo.commit(&[("a.yaml", "a\n")], "one");
    git(&repo.path, &["checkout", "-q", "-b", "other"]);
    let side = repo.commit(&[("b.yaml", "b\n")], "side");
    git(&repo.path, &["checkout", "-q", "main"]);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = SourceCache::open(cache_dir.path(), GIB).unwrap();
    let mut r = GitRef::commit(&side);
    r.branch = Some("main".into());
    let err = cache
        .fetch(FetchRequest::new(repo.file_url(), r))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ReferenceNotFound { .. }), "{err}");
    assert!(err.to_string().contains(&side), "{err}");

    // The pinned commit stays valid after the branch moves on (the new tip is fetched).
    let base = repo.head();
    let mut pinned = GitRef::commit(&base);
    pinned.branch = Some("main".into());
    let req = FetchRequest::new(repo.file_url(), pinned);
    let a = cache.fetch(req.clone()).await.unwrap();
    assert_eq!(a.revision, format!("main@sha1:{base}"));
    repo.commit(&[("c.yaml", "c\n")], "later");
    let b = cache.fetch(req).await.unwrap();
    assert_eq!(b, a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_commit_is_a_new_revision_and_no_change_poll_writes_nothing() {
    let repo = Repo::new("apps.git");
    let first = repo.commit(&[("app.yaml", "v: 1\n")], "one");
    let daemon = GitDaemon::serve(repo.root.path());
    let url = daemon.url("apps.git");
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = SourceCache::open(cache_dir.path(), GIB).unwrap();
    let req = FetchRequest::new(&url, GitRef::branch("main"));

    let a1 = cache.fetch(req.clone()).await.unwrap();
    assert_eq!(a1.revision, format!("main@sha1:{first}"));

    // Poll with no new commit: one ref advertisement, no fetch, no checkout, no writes.
    let before = snapshot(cache_dir.path());
    let stats_before = cache.stats();
    let again = cache.fetch(req.clone()).await.unwrap();
    let resolved = cache.resolve(&req).await.unwrap();
    let stats_after = cache.stats();
    assert_eq!(again, a1);
    assert_eq!(resolved.revision, a1.revision);
    assert_eq!(
        snapshot(cache_dir.path()),
        before,
        "a no-change poll wrote to disk"
    );
    assert_eq!(stats_after.fetches, stats_before.fetches);
    assert_eq!(stats_after.checkouts, stats_before.checkouts);
    assert_eq!(stats_after.hits, stats_before.hits + 1);
    assert_eq!(stats_after.ref_lists, stats_before.ref_lists + 2);

    let second = repo.commit(&[("app.yaml", "v: 2\n")], "two");
    assert_eq!(
        cache.resolve(&req).await.unwrap().revision,
        format!("main@sha1:{second}")
    );
    let a2 = cache.fetch(req.clone()).await.unwrap();
    assert_eq!(a2.revision, format!("main@sha1:{second}"));
    assert_ne!(a2.digest, a1.digest);
    assert_eq!(
        std::fs::read_to_string(a2.path.join("app.yaml")).unwrap(),
        "v: 2\n"
    );
    assert_eq!(cache.stats().fetches, stats_after.fetches + 1);
    assert_eq!(cache.stats().checkouts, stats_after.checkouts + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_fetches_cause_one_fetch_and_one_checkout() {
    let repo = Repo::new("apps.git");
    let files_owned: Vec<(String, String)> = (0..200)
        .map(|i| (format!("dir{}/f{i}.yaml", i % 7), format!("i: {i}\n")))
        .collect();
    let borrowed: Vec<(&str, &str)> = files_owned
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    repo.commit(&borrowed, "many");
    let daemon = GitDaemon::serve(repo.root.path());
    let url = daemon.url("apps.git");
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = std::sync::Arc::new(SourceCache::open(cache_dir.path(), GIB).unwrap());

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let cache = cache.clone();
            let req = FetchRequest::new(&url, GitRef::branch("main"));
            tokio::spawn(async move { cache.fetch(req).await })
        })
        .collect();
    let results = futures::future::join_all(tasks).await;
    let artifacts: Vec<_> = results.into_iter().map(|r| r.unwrap().unwrap()).collect();
    assert!(artifacts.iter().all(|a| *a == artifacts[0]));
    let stats = cache.stats();
    assert_eq!(stats.fetches, 1, "{stats:?}");
    assert_eq!(stats.checkouts, 1, "{stats:?}");
    assert_eq!(stats.ref_lists, 1, "{stats:?}");
    assert_eq!(files(&artifacts[0].path).len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_branch_and_unreachable_server_are_classified() {
    let repo = Repo::new("apps.git");
    repo.commit(&[("a.yaml", "a\n")], "one");
    let daemon = GitDaemon::serve(repo.root.path());
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = SourceCache::open(cache_dir.path(), GIB).unwrap();

    let err = cache
        .fetch(FetchRequest::new(
            daemon.url("apps.git"),
            GitRef::branch("does-not-exist"),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ReferenceNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("does-not-exist"), "{err}");
    assert_eq!(err.reason(), "GitOperationFailed");

    let err = cache
        .fetch(FetchRequest::new(daemon.url("apps.git"), GitRef::tag("v9")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("tag \"v9\""), "{err}");

    // A port where nothing listens: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut req = FetchRequest::new(
        format!("git://127.0.0.1:{port}/apps.git"),
        GitRef::branch("main"),
    );
    req.timeout = Duration::from_secs(20);
    let err = cache.fetch(req).await.unwrap_err();
    assert!(matches!(err, Error::Remote { .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(err.reason(), "GitOperationFailed");
    assert!(err.to_string().contains(&port.to_string()), "{err}");

    // The HTTP transport (reqwest + rustls/ring) reports the same class of failure.
    for scheme in ["http", "https"] {
        let url = format!("{scheme}://user:pw-secret@127.0.0.1:{port}/apps.git");
        let mut req = FetchRequest::new(url, GitRef::branch("main"));
        req.timeout = Duration::from_secs(20);
        let err = cache.fetch(req).await.unwrap_err();
        assert!(matches!(err, Error::Remote { .. }), "{scheme}: {err:?}");
        assert!(!err.to_string().contains("pw-secret"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_is_rebuilt_after_restart_and_leftovers_are_discarded() {
    let repo = Repo::new("r");
    repo.commit(&[("a.yaml", "a\n")], "one");
    let cache_dir = tempfile::tempdir().unwrap();
    let req = FetchRequest::new(repo.file_url(), GitRef::branch("main"));
    let first = {
        let cache = SourceCache::open(cache_dir.path(), GIB).unwrap();
        cache.fetch(req.clone()).await.unwrap()
    };
    // Simulate a crash mid-checkout: a half-written staging dir, and junk in artifacts/.
    let staging = cache_dir.path().join("tmp").join("deadbeef-1-0");
    std::fs::create_dir_all(staging.join("deploy")).unwrap();
    std::fs::write(staging.join("deploy/half.yaml"), "kind: Con").unwrap();
    std::fs::create_dir_all(cache_dir.path().join("artifacts").join("not-a-digest")).unwrap();

    let cache = SourceCache::open(cache_dir.path(), GIB).unwrap();
    assert!(!staging.exists(), "staging leftovers are removed on open");
    assert_eq!(cache.artifact_dir(&first.digest), Some(first.path.clone()));
    let stats = cache.stats();
    assert_eq!((stats.artifacts, stats.bytes), (1, first.size));

    let again = cache.fetch(req).await.unwrap();
    assert_eq!(again, first);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.checkouts, stats.fetches), (1, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_publish_leaves_no_artifact_and_no_staging() {
    let repo = Repo::new("r");
    repo.commit(&[("a.yaml", "a\n")], "one");
    let cache_dir = tempfile::tempdir().unwrap();
    let req = FetchRequest::new(repo.file_url(), GitRef::branch("main"));
    let digest = {
        let cache = SourceCache::open(cache_dir.path(), GIB).unwrap();
        cache.fetch(req.clone()).await.unwrap().digest
    };
    // Make the final rename impossible: a plain file where the artifact directory goes.
    let target = cache_dir.path().join("artifacts").join(digest.hex());
    std::fs::remove_dir_all(&target).unwrap();
    std::fs::write(&target, "not a directory").unwrap();
    for key in std::fs::read_dir(cache_dir.path().join("keys")).unwrap() {
        std::fs::remove_file(key.unwrap().path()).unwrap();
    }

    let cache = SourceCache::open(cache_dir.path(), GIB).unwrap();
    assert_eq!(
        cache.artifact_dir(&digest),
        None,
        "a file is not an artifact"
    );
    let err = cache.fetch(req).await.unwrap_err();
    assert_eq!(err.reason(), "StorageOperationFailed", "{err}");
    assert!(err.to_string().contains(digest.hex()), "{err}");
    assert!(target.is_file(), "nothing half-written took its place");
    assert_eq!(
        std::fs::read_dir(cache_dir.path().join("tmp"))
            .unwrap()
            .count(),
        0,
        "staging was cleaned up"
    );
    assert_eq!(cache.artifact_dir(&digest), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_keeps_pinned_artifacts() {
    let repo = Repo::new("r");
    repo.commit(&[("a.yaml", "one\n")], "one");
    let cache_dir = tempfile::tempdir().unwrap();
    // A budget smaller than any artifact: everything unpinned goes at the next insert.
    let cache = SourceCache::open(cache_dir.path(), 1).unwrap();
    let req = FetchRequest::new(repo.file_url(), GitRef::branch("main"));
    let owner = OwnerKey::object("GitRepository", "team-a", "apps");

    let a1 = cache.fetch(req.clone()).await.unwrap();
    cache.pin(owner.clone(), a1.digest.clone());
    repo.commit(&[("a.yaml", "two\n")], "two");
    let a2 = cache.fetch(req.clone()).await.unwrap();
    assert!(a1.path.exists(), "pinned artifact survived");
    assert!(a2.path.exists(), "the artifact just fetched is kept");

    cache.unpin(&owner);
    repo.commit(&[("a.yaml", "three\n")], "three");
    let a3 = cache.fetch(req.clone()).await.unwrap();
    assert!(
        !a1.path.exists() && !a2.path.exists(),
        "unpinned artifacts evicted"
    );
    assert!(a3.path.exists());
    assert_eq!(cache.artifact_dir(&a1.digest), None);
    let stats = cache.stats();
    assert_eq!((stats.evictions, stats.artifacts), (2, 1));
    assert!(cache.tarball(&a1.digest).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tarball_is_deterministic_and_served_from_cache() {
    let repo = Repo::new("r");
    manifests(&repo);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = SourceCache::open(cache_dir.path(), GIB).unwrap();
    let art = cache
        .fetch(FetchRequest::new(repo.file_url(), GitRef::branch("main")))
        .await
        .unwrap();
    let path = cache.tarball(&art.digest).await.unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let rebuilt = std::fs::read(cache.tarball(&art.digest).await.unwrap()).unwrap();
    assert_eq!(bytes, rebuilt);
    let out = tempfile::tempdir().unwrap();
    let tarball = out.path().join("a.tar.gz");
    std::fs::write(&tarball, &bytes).unwrap();
    git(out.path(), &["--version"]);
    let status = std::process::Command::new("tar")
        .args(["-xzf", "a.tar.gz", "-C"])
        .arg(out.path())
        .current_dir(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(out.path().join("deploy/app.yaml")).unwrap(),
        "kind: ConfigMap\n"
    );
}

#[test]
fn fetch_request_debug_redacts_credentials() {
    let mut req = FetchRequest::new("https://u:in-url-pw@git.example/a", GitRef::branch("main"));
    req.auth = Some(GitAuth {
        basic: Some(driftless_source::BasicAuth {
            username: "u".into(),
            password: "pa55word".into(),
        }),
        bearer_token: Some("bearer-xyz".into()),
        ..Default::default()
    });
    let shown = format!("{req:?}");
    for secret in ["pa55word", "bearer-xyz", "in-url-pw"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    assert!(shown.contains("https://git.example/a"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparse_checkout_keeps_only_the_named_directories() {
    let repo = Repo::new("sparse");
    let sha = repo.commit(
        &[
            ("charts/app/values.yaml", "v: 1\n"),
            ("charts2/other.yaml", "v: 2\n"),
            ("charts.yaml", "v: 3\n"),
            ("kustomize/base/ks.yaml", "k: 1\n"),
            ("kustomize/base/README.md", "readme\n"),
            ("kustomize/.sourceignore", "*.md\n"),
            ("root.yaml", "r: 1\n"),
        ],
        "initial",
    );
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = SourceCache::open(cache_dir.path(), GIB).unwrap();
    let full = cache
        .fetch(FetchRequest::new(repo.file_url(), GitRef::branch("main")))
        .await
        .unwrap();

    let mut req = FetchRequest::new(repo.file_url(), GitRef::branch("main"));
    req.sparse_checkout = vec!["./charts/".into(), "kustomize".into(), "charts/app".into()];
    let sparse = cache.fetch(req.clone()).await.unwrap();
    assert_eq!(sparse.revision, format!("main@sha1:{sha}"));
    assert_ne!(sparse.digest, full.digest);
    // Component boundaries: charts2/ and charts.yaml are not in charts/; the
    // .sourceignore inside a sparse directory still applies.
    assert_eq!(
        files(&sparse.path),
        vec![
            "charts/app/values.yaml",
            "kustomize/.sourceignore",
            "kustomize/base/ks.yaml"
        ]
    );
    // The same spelling again is a cache hit with the same digest.
    let again = cache.fetch(req).await.unwrap();
    assert_eq!(again.digest, sparse.digest);

    // A directory the commit lacks, or a file, is refused naming it.
    for (dir, why) in [
        ("missing", "does not exist"),
        ("root.yaml", "is not a directory"),
    ] {
        let mut req = FetchRequest::new(repo.file_url(), GitRef::branch("main"));
        req.sparse_checkout = vec!["charts".into(), dir.into()];
        let err = cache.fetch(req).await.unwrap_err();
        assert!(matches!(err, Error::SparseCheckout { .. }), "{err:?}");
        assert_eq!(err.reason(), "GitOperationFailed");
        let message = err.to_string();
        assert!(
            message.contains(&format!("'{dir}'")) && message.contains(why),
            "{message}"
        );
    }

    // Escapes are refused before any git work.
    let fetches = cache.stats().ref_lists;
    for bad in ["../charts", "/etc", "charts/../../x", ".git"] {
        let mut req = FetchRequest::new(repo.file_url(), GitRef::branch("main"));
        req.sparse_checkout = vec![bad.into()];
        let err = cache.fetch(req).await.unwrap_err();
        assert_eq!(err.reason(), "IllegalPath", "{bad}: {err}");
        assert!(err.to_string().contains("spec.sparseCheckout[0]"), "{err}");
    }
    assert_eq!(cache.stats().ref_lists, fetches, "no remote contacted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_copies_included_artifacts_and_refuses_escapes_and_collisions() {
    use driftless_source::{ComposeRequest, IncludedArtifact};
    let app = Repo::new("app");
    app.commit(
        &[("deploy/app.yaml", "kind: App\n"), ("notes.md", "n\n")],
        "app",
    );
    let lib = Repo::new("lib");
    lib.commit(
        &[
            ("base/cm.yaml", "kind: ConfigMap\n"),
            ("base/README.md", "readme\n"),
            ("other.yaml", "o: 1\n"),
        ],
        "lib",
    );
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = SourceCache::open(cache_dir.path(), GIB).unwrap();
    let fetch = |repo: &Repo| FetchRequest::new(repo.file_url(), GitRef::branch("main"));
    let base = cache.fetch(fetch(&app)).await.unwrap();
    let included = cache.fetch(fetch(&lib)).await.unwrap();
    let include = |from: &str, to: &str| IncludedArtifact {
        name: "lib".into(),
        digest: included.digest.clone(),
        from_path: from.into(),
        to_path: to.into(),
    };
    let compose = |includes: Vec<IncludedArtifact>, ignore: Option<&str>| ComposeRequest {
        base: base.clone(),
        includes,
        ignore: ignore.map(str::to_owned),
    };

    let composed = cache
        .compose(compose(
            vec![include("", "lib"), include("./base/", "deploy/vendor/base")],
            Some("*.md\n"),
        ))
        .await
        .unwrap();
    assert_eq!(
        composed.revision, base.revision,
        "the revision stays the base's"
    );
    assert_ne!(composed.digest, base.digest);
    assert_eq!(
        files(&composed.path),
        vec![
            "deploy/app.yaml",
            "deploy/vendor/base/cm.yaml",
            "lib/base/cm.yaml",
            "lib/other.yaml"
        ],
        "spec.ignore of the includer applies to included files too"
    );
    // Equal inputs: a hit, same digest.
    let again = cache
        .compose(compose(
            vec![include("", "lib"), include("./base/", "deploy/vendor/base")],
            Some("*.md\n"),
        ))
        .await
        .unwrap();
    assert_eq!(again.digest, composed.digest);
    // A new commit of the included repository changes the digest, not the revision.
    lib.commit(&[("other.yaml", "o: 2\n")], "lib 2");
    let included2 = cache.fetch(fetch(&lib)).await.unwrap();
    let mut changed = include("", "lib");
    changed.digest = included2.digest.clone();
    let recomposed = cache.compose(compose(vec![changed], None)).await.unwrap();
    assert_eq!(recomposed.revision, base.revision);
    assert_eq!(
        std::fs::read_to_string(recomposed.path.join("lib/other.yaml")).unwrap(),
        "o: 2\n"
    );

    // Escapes are refused by field before anything is read.
    for (from, to, field) in [
        ("../../..", "x", "spec.include[0].fromPath"),
        ("", "../outside", "spec.include[0].toPath"),
        ("", "/etc", "spec.include[0].toPath"),
        ("", "./", "spec.include[0].toPath"),
        ("", "a/.git/hooks", "spec.include[0].toPath"),
    ] {
        let err = cache
            .compose(compose(vec![include(from, to)], None))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "IllegalPath", "{from} -> {to}: {err}");
        assert!(err.to_string().contains(field), "{err}");
    }
    // Collisions and missing sources name the include.
    for (from, to, needle) in [
        ("", "deploy", "toPath already exists"),
        ("", "deploy/app.yaml/x", "is a file"),
        ("missing", "x", "fromPath does not exist"),
    ] {
        let err = cache
            .compose(compose(vec![include(from, to)], None))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "CopyFailure", "{err}");
        let message = err.to_string();
        assert!(
            message.contains("'lib' include") && message.contains(needle),
            "{message}"
        );
    }
    let outside = cache_dir.path().join("outside");
    assert!(!outside.exists());
}

/// Adds a gitlink to `commit` at `path` with `url` in `.gitmodules`, and commits.
fn add_submodule(repo: &Repo, path: &str, url: &str, commit: &str) -> String {
    std::fs::write(
        repo.path.join(".gitmodules"),
        format!("[submodule \"{path}\"]\n\tpath = {path}\n\turl = {url}\n"),
    )
    .unwrap();
    git(
        &repo.path,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{commit},{path}"),
        ],
    );
    git(&repo.path, &["add", ".gitmodules"]);
    git(&repo.path, &["commit", "-q", "-m", "submodule"]);
    repo.head()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submodules_are_checked_out_only_through_the_url_check() {
    let sub = Repo::new("sub");
    let sub_commit = sub.commit(&[("lib/cm.yaml", "kind: ConfigMap\n")], "sub");
    let top = Repo::new("top");
    top.commit(&[("app.yaml", "kind: App\n")], "top");
    add_submodule(&top, "vendor/sub", &sub.file_url(), &sub_commit);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = SourceCache::open(cache_dir.path(), GIB).unwrap();

    let plain = cache
        .fetch(FetchRequest::new(top.file_url(), GitRef::branch("main")))
        .await
        .unwrap();
    assert_eq!(files(&plain.path), vec!["app.yaml"], "gitlinks skipped");

    let checked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = checked.clone();
    let mut req = FetchRequest::new(top.file_url(), GitRef::branch("main"));
    req.recurse_submodules = true;
    req.submodule_url_check = Some(std::sync::Arc::new(move |url: &str| {
        seen.lock().unwrap().push(url.to_owned());
        Ok(())
    }));
    let with = cache.fetch(req.clone()).await.unwrap();
    assert_eq!(
        files(&with.path),
        vec!["app.yaml", "vendor/sub/lib/cm.yaml"]
    );
    assert_ne!(with.digest, plain.digest);
    assert_eq!(*checked.lock().unwrap(), vec![sub.file_url()]);

    // The check refuses: nothing is fetched from the submodule, the refusal names it.
    let fetches = cache.stats().fetches;
    let top2 = Repo::new("top2");
    top2.commit(&[("app.yaml", "kind: App\n")], "top2");
    add_submodule(&top2, "evil", "file:///etc", &sub_commit);
    let mut req = FetchRequest::new(top2.file_url(), GitRef::branch("main"));
    req.recurse_submodules = true;
    req.submodule_url_check = Some(std::sync::Arc::new(|url: &str| {
        Err(format!("'{url}' is not allowed"))
    }));
    let err = cache.fetch(req).await.unwrap_err();
    assert_eq!(err.reason(), "URLNotAllowed", "{err}");
    assert!(err.to_string().contains("submodule 'evil'"), "{err}");
    assert!(err.to_string().contains("file:///etc"), "{err}");
    assert_eq!(
        cache.stats().fetches,
        fetches + 1,
        "only the superproject was fetched"
    );

    // A relative URL may not climb above the superproject's host.
    let top3 = Repo::new("top3");
    top3.commit(&[("app.yaml", "kind: App\n")], "top3");
    add_submodule(&top3, "up", "../../../../../../../../../../x", &sub_commit);
    let mut req = FetchRequest::new(top3.file_url(), GitRef::branch("main"));
    req.recurse_submodules = true;
    let err = cache.fetch(req).await.unwrap_err();
    assert!(err.to_string().contains("climbs above"), "{err}");
}
