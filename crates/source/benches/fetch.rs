//! Cold fetch + checkout of a 10,000-file repository over a loopback `git daemon`,
//! against `git clone --depth 1` of the same URL, and the cost of a no-change poll.
//!
//! Run with `cargo bench -p driftless-source --bench fetch`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use driftless_source::{FetchRequest, GitRef, SourceCache};
use support::{GitDaemon, Repo};

const FILES: usize = 10_000;
const ROUNDS: usize = 3;
const POLLS: u32 = 20;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let repo = Repo::new("big.git");
    let owned: Vec<(String, String)> = (0..FILES)
        .map(|i| {
            (
                format!("apps/team{}/svc{}/cm{i}.yaml", i % 10, i % 100),
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\ndata:\n  i: \"{i}\"\n"),
            )
        })
        .collect();
    let files: Vec<(&str, &str)> = owned
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    repo.commit(&files, "10k files");
    let daemon = GitDaemon::serve(repo.root.path());
    let url = daemon.url("big.git");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut poll = Duration::ZERO;
    let mut ls_remote = Duration::ZERO;
    for round in 0..ROUNDS {
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = SourceCache::open(cache_dir.path(), u64::MAX).unwrap();
        let req = FetchRequest::new(&url, GitRef::branch("main"));
        let start = Instant::now();
        let artifact = runtime.block_on(cache.fetch(req.clone())).unwrap();
        ours.push(start.elapsed());
        assert_eq!(support::files(&artifact.path).len(), FILES);

        let clone_dir = tempfile::tempdir().unwrap();
        let start = Instant::now();
        let status = Command::new("git")
            .args(["clone", "-q", "--depth", "1", &url])
            .arg(clone_dir.path().join("clone"))
            .status()
            .unwrap();
        theirs.push(start.elapsed());
        assert!(status.success());

        if round == 0 {
            let start = Instant::now();
            for _ in 0..POLLS {
                runtime.block_on(cache.fetch(req.clone())).unwrap();
            }
            poll = start.elapsed() / POLLS;
            let start = Instant::now();
            for _ in 0..POLLS {
                let out = Command::new("git")
                    .args(["ls-remote", &url, "refs/heads/main"])
                    .output()
                    .unwrap();
                assert!(out.status.success());
            }
            ls_remote = start.elapsed() / POLLS;
            let stats = cache.stats();
            assert_eq!(
                (stats.fetches, stats.checkouts),
                (1, 1),
                "polls must not fetch"
            );
        }
    }
    let (ours, theirs) = (median(ours), median(theirs));
    println!("files: {FILES}");
    println!("driftless cold fetch+checkout (median of {ROUNDS}): {ours:?}");
    println!("git clone --depth 1           (median of {ROUNDS}): {theirs:?}");
    println!(
        "ratio: {:.2}x (goal <= 1.5x)",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    println!("no-new-commit poll (mean of {POLLS}): {poll:?}");
    println!("git ls-remote of the same ref (mean of {POLLS}): {ls_remote:?}");
}
