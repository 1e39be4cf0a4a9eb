//! `make bench-flux N=100`: Driftless and Flux's own source-controller and
//! kustomize-controller, side by side, against the same loopback control plane and git server.
//!
//! Scenarios: S1 is one GitRepository and N Kustomizations, S2 is N namespaces each with its
//! own GitRepository (same URL) and one Kustomization; every Kustomization applies OBJECTS
//! ConfigMaps. Each (round, scenario, system) run gets a fresh kube-apiserver + etcd
//! (`e2e/scripts/cluster-up.sh`), so no run inherits another's objects; systems alternate
//! order between scenarios and rounds. Phases of one run:
//!
//! 1. create → all Ready (first / median / all), with controller and kube-apiserver+etcd CPU;
//! 2. a new commit changing every object → all Kustomizations applied it (COMMIT=0 skips it);
//! 3. a steady window (STEADY seconds, longer than the Kustomization interval) with no change.
//!
//! API requests come from kube-apiserver's own `/metrics` (`apiserver_request_total`, delta
//! per phase, by verb and resource; dry-runs counted apart). Writes are split by resource:
//! Kustomizations (their status), sources, applied objects (the ConfigMaps), events; the
//! benchmark's own creates and kube-apiserver's lease renewals are not counted as the
//! controllers'. Everything is printed as one table and written as JSON (OUT). A phase that
//! does not finish within TIMEOUT is recorded as far as it got (Ready count at the cutoff)
//! and the run fails loudly at the end, naming the Kustomizations that are not Ready.
//!
//! Sharding: SHARDS=1,2 runs Driftless once as one process and once as two processes, each
//! with `--watch-label-selector=sharding.driftless.dev/key=shard<k>`; the objects are
//! labelled round robin (in S1 each shard has its own GitRepository, same URL), and what
//! each process reconciled is read from its `driftless_resource_ready` gauge.
//!
//! Environment: N (100), OBJECTS (10), FLUX (1; 0 runs Driftless only), SHARDS (1; a list of
//! Driftless process counts), SCENARIOS (S1,S2), ROUNDS (1), COMMIT (1), KS_INTERVAL (60s),
//! REPO_INTERVAL (30s), STEADY (75), TIMEOUT (seconds per phase, 1800), OUT
//! (bench-flux.json), DRIFTLESS_BIN (target/release/driftless), FLUX_BIN_DIR
//! (bench/flux/bin), FLUX_VERSION (v1.9.6). Storage of both systems (artifacts, git
//! checkouts) lives under TMPDIR: the Makefile's STORAGE=tmpfs points it at /dev/shm.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use driftless_e2e::{GitServer, load_crds, repo_root, wait_established};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::ApiResource;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Config, ResourceExt};
use serde_json::{Value, json};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The label that assigns an object to a shard (`--watch-label-selector`).
const SHARD_LABEL: &str = "sharding.driftless.dev/key";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum System {
    /// `driftless run` as `shards` processes, each watching one shard (1: one process
    /// watching everything).
    Driftless {
        shards: usize,
    },
    Flux,
}

impl System {
    fn name(self) -> String {
        match self {
            System::Driftless { shards: 1 } => "Driftless".to_owned(),
            System::Driftless { shards } => format!("Driftless ×{shards} shards"),
            System::Flux => "Flux".to_owned(),
        }
    }
    fn source_group(self) -> &'static str {
        match self {
            System::Driftless { .. } => "source.driftless.dev",
            System::Flux => "source.toolkit.fluxcd.io",
        }
    }
    fn kustomize_group(self) -> &'static str {
        match self {
            System::Driftless { .. } => "kustomize.driftless.dev",
            System::Flux => "kustomize.toolkit.fluxcd.io",
        }
    }
}

impl Settings {
    /// How many shards the objects are labelled for (the largest SHARDS entry; 1: none).
    fn shard_count(&self) -> usize {
        self.shards.iter().copied().max().unwrap_or(1)
    }
    /// The systems compared, in their first-run order.
    fn systems(&self) -> Vec<System> {
        let mut systems: Vec<System> = self
            .shards
            .iter()
            .map(|&shards| System::Driftless { shards })
            .collect();
        if self.flux {
            systems.push(System::Flux);
        }
        systems
    }
}

struct Settings {
    n: usize,
    objects: usize,
    flux: bool,
    /// Driftless configurations to run: each entry is a number of shard processes.
    shards: Vec<usize>,
    /// Whether to measure the new-commit phase.
    commit: bool,
    scenarios: Vec<String>,
    rounds: usize,
    ks_interval: String,
    repo_interval: String,
    steady: Duration,
    timeout: Duration,
    out: PathBuf,
    driftless_bin: PathBuf,
    flux_bin_dir: PathBuf,
    flux_version: String,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn settings() -> Res<Settings> {
    let root = repo_root();
    let number = |name: &str, default: &str| -> Res<u64> {
        env_or(name, default)
            .parse()
            .map_err(|e| format!("{name}: {e}").into())
    };
    Ok(Settings {
        n: number("N", "100")? as usize,
        objects: number("OBJECTS", "10")? as usize,
        flux: env_or("FLUX", "1") != "0",
        shards: env_or("SHARDS", "1")
            .split(',')
            .map(|k| match k.trim().parse::<usize>() {
                Ok(k) if (1..=16).contains(&k) => Ok(k),
                _ => Err(format!(
                    "SHARDS: '{k}' is not a number of processes from 1 to 16"
                )),
            })
            .collect::<Result<_, _>>()?,
        commit: env_or("COMMIT", "1") != "0",
        scenarios: env_or("SCENARIOS", "S1,S2")
            .split(',')
            .map(|s| s.trim().to_uppercase())
            .collect(),
        rounds: number("ROUNDS", "1")?.max(1) as usize,
        ks_interval: env_or("KS_INTERVAL", "60s"),
        repo_interval: env_or("REPO_INTERVAL", "30s"),
        steady: Duration::from_secs(number("STEADY", "75")?),
        timeout: Duration::from_secs(number("TIMEOUT", "1800")?),
        out: PathBuf::from(env_or("OUT", "bench-flux.json")),
        driftless_bin: PathBuf::from(env_or(
            "DRIFTLESS_BIN",
            &root.join("target/release/driftless").to_string_lossy(),
        )),
        flux_bin_dir: PathBuf::from(env_or(
            "FLUX_BIN_DIR",
            &root.join("bench/flux/bin").to_string_lossy(),
        )),
        flux_version: env_or("FLUX_VERSION", "v1.9.6"),
    })
}

// --- processes and /proc -------------------------------------------------------------------

/// A child process killed on drop.
struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    fn spawn(name: &str, mut command: Command, log: &Path) -> Res<Proc> {
        let file = std::fs::File::create(log)?;
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file);
        let child = command
            .spawn()
            .map_err(|e| format!("starting {name}: {e}"))?;
        Ok(Proc {
            name: name.to_owned(),
            child,
        })
    }
    fn pid(&self) -> u32 {
        self.child.id()
    }
    fn check(&mut self, log: &Path) -> Res<()> {
        if let Some(status) = self.child.try_wait()? {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!(
                "{} exited ({status}); last log lines:\n{}",
                self.name,
                tail.join("\n")
            )
            .into());
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat; here index 11 and 12.
    (ticks(11) + ticks(12)) / 100.0
}

/// A `/proc/<pid>/status` field in MiB (VmRSS, VmHWM).
fn memory_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .and_then(|r| r.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_port(port: u16, proc: &mut Proc, log: &Path) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        proc.check(log)?;
        if Instant::now() > deadline {
            return Err(format!("{} did not listen on {port} within 60 s", proc.name).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// --- control plane -------------------------------------------------------------------------

struct Plane {
    client: Client,
    apiserver_pid: u32,
    etcd_pid: u32,
    kubeconfig: PathBuf,
}

fn script(name: &str) -> Res<String> {
    let root = repo_root();
    let output = Command::new(root.join("e2e/scripts").join(name))
        .current_dir(&root)
        .env("NODE", "0")
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!("e2e/scripts/{name} failed ({})", output.status).into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A fresh kube-apiserver + etcd: what a previous run left is gone.
async fn fresh_plane() -> Res<Plane> {
    script("cluster-down.sh")?;
    let kubeconfig = PathBuf::from(script("cluster-up.sh")?);
    let state = repo_root().join(".dev/controlplane");
    let pid = |name: &str| -> Res<u32> {
        Ok(std::fs::read_to_string(state.join(format!("{name}.pid")))?
            .trim()
            .parse()?)
    };
    let config = Config::from_custom_kubeconfig(
        Kubeconfig::read_from(&kubeconfig)?,
        &KubeConfigOptions::default(),
    )
    .await?;
    Ok(Plane {
        client: Client::try_from(config)?,
        apiserver_pid: pid("kube-apiserver")?,
        etcd_pid: pid("etcd")?,
        kubeconfig,
    })
}

async fn install_crds(client: &Client, dir: &Path) -> Res<()> {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in load_crds(dir)? {
        let name = crd.name_any();
        api.patch(
            &name,
            &PatchParams::apply("bench-flux").force(),
            &Patch::Apply(&crd),
        )
        .await?;
        wait_established(client, &name, Duration::from_secs(60)).await?;
    }
    Ok(())
}

/// `apiserver_request_total` summed by `VERB resource[/subresource]`, dry-runs as
/// `VERB resource (dry-run)`; requests to no resource (discovery, /metrics) as `VERB -`.
async fn request_counts(plane: &Plane) -> Res<BTreeMap<String, f64>> {
    let text = plane
        .client
        .request_text(http::Request::get("/metrics").body(Vec::new())?)
        .await?;
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once('}') else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
                .unwrap_or_default()
        };
        let mut key = label("verb");
        match (label("resource"), label("subresource")) {
            (r, _) if r.is_empty() => key.push_str(" -"),
            (r, sub) if sub.is_empty() => key.push_str(&format!(" {r}")),
            (r, sub) => key.push_str(&format!(" {r}/{sub}")),
        }
        if !label("dry_run").is_empty() {
            key.push_str(" (dry-run)");
        }
        *counts.entry(key).or_insert(0.0) += value.trim().parse::<f64>().unwrap_or(0.0);
    }
    Ok(counts)
}

fn delta(after: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                (v - before.get(k).copied().unwrap_or(0.0)).max(0.0) as u64,
            )
        })
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// Who a request counted by `request_counts` is for: `bench` (the benchmark creating its
/// namespaces, sources and Kustomizations), `apiserver` (kube-apiserver renewing its own
/// leases), `non-resource` (discovery, /metrics), else the resource the controllers asked
/// about: `kustomizations` (status included), `sources`, `applied objects` (the ConfigMaps
/// the Kustomizations apply), `events`, `other`.
fn category(key: &str) -> &'static str {
    let mut words = key.split(' ');
    let verb = words.next().unwrap_or_default();
    let resource = words.next().unwrap_or_default();
    let base = resource.split('/').next().unwrap_or_default();
    match base {
        "-" => "non-resource",
        "leases" => "apiserver",
        "kustomizations" | "gitrepositories" | "ocirepositories" | "namespaces"
            if verb == "POST" && !resource.contains('/') =>
        {
            "bench"
        }
        "kustomizations" => "kustomizations",
        "gitrepositories" | "ocirepositories" | "buckets" => "sources",
        "configmaps" => "applied objects",
        "events" => "events",
        _ => "other",
    }
}

/// Whether a request counted by `request_counts` is a real (not dry-run) write.
fn is_write(key: &str) -> bool {
    let verb = key.split(' ').next().unwrap_or_default();
    !key.ends_with("(dry-run)")
        && [
            "POST",
            "PUT",
            "PATCH",
            "APPLY",
            "DELETE",
            "DELETECOLLECTION",
        ]
        .contains(&verb)
}

/// Whether the controllers made the request (not the benchmark, the API server itself, or
/// a non-resource request such as discovery or the benchmark's /metrics scrape).
fn by_controllers(key: &str) -> bool {
    !["bench", "apiserver", "non-resource"].contains(&category(key))
}

/// The controllers' writes, in total and by category.
fn writes(counts: &BTreeMap<String, u64>) -> (u64, BTreeMap<&'static str, u64>) {
    let mut by = BTreeMap::new();
    let mut total = 0;
    for (key, n) in counts.iter().filter(|(k, _)| is_write(k)) {
        *by.entry(category(key)).or_insert(0) += n;
        if by_controllers(key) {
            total += n;
        }
    }
    (total, by)
}

fn dry_runs(counts: &BTreeMap<String, u64>) -> u64 {
    counts
        .iter()
        .filter(|(key, _)| key.ends_with("(dry-run)"))
        .map(|(_, n)| n)
        .sum()
}

/// All requests the controllers made (reads, writes, dry-runs, watches).
fn controller_requests(counts: &BTreeMap<String, u64>) -> u64 {
    counts
        .iter()
        .filter(|(key, _)| by_controllers(key))
        .map(|(_, n)| n)
        .sum()
}

// --- git content ---------------------------------------------------------------------------

fn objects_yaml(prefix: &str, objects: usize, generation: u32) -> String {
    (0..objects)
        .map(|j| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {prefix}cm-{j}\ndata:\n  index: \"{j}\"\n  generation: \"{generation}\"\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The files of the S1 repository (one directory per Kustomization) or the S2 one (`app/`).
fn repo_files(scenario: &str, n: usize, objects: usize, generation: u32) -> Vec<(String, String)> {
    if scenario == "S1" {
        (0..n)
            .map(|i| {
                (
                    format!("ks-{i}/objects.yaml"),
                    objects_yaml(&format!("ks-{i}-"), objects, generation),
                )
            })
            .collect()
    } else {
        vec![(
            "app/objects.yaml".to_owned(),
            objects_yaml("", objects, generation),
        )]
    }
}

fn push(git: &GitServer, scenario: &str, s: &Settings, generation: u32) -> Res<String> {
    let files = repo_files(scenario, s.n, s.objects, generation);
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    Ok(git.push_files(
        &git.git_url(&scenario.to_lowercase()),
        "main",
        &borrowed,
        &format!("generation {generation}"),
    )?)
}

// --- objects -------------------------------------------------------------------------------

/// (namespace, GitRepository, Kustomization) manifests of one scenario. With more than one
/// shard, every GitRepository and Kustomization carries the shard label; in S1 each shard
/// gets its own GitRepository (`repo-<k>`, same URL), which its Kustomizations use.
fn manifests(
    system: System,
    scenario: &str,
    s: &Settings,
    url: &str,
) -> (Vec<String>, Vec<Value>, Vec<Value>) {
    let shards = s.shard_count();
    let labels = |shard: usize| {
        if shards > 1 {
            json!({SHARD_LABEL: format!("shard{shard}")})
        } else {
            json!({})
        }
    };
    let repo = |ns: &str, name: &str, shard: usize| {
        json!({
            "apiVersion": format!("{}/v1", system.source_group()),
            "kind": "GitRepository",
            "metadata": {"name": name, "namespace": ns, "labels": labels(shard)},
            "spec": {"url": url, "interval": s.repo_interval, "ref": {"branch": "main"}},
        })
    };
    let ks = |ns: &str, name: &str, path: &str, repo: &str, shard: usize| {
        json!({
            "apiVersion": format!("{}/v1", system.kustomize_group()),
            "kind": "Kustomization",
            "metadata": {"name": name, "namespace": ns, "labels": labels(shard)},
            "spec": {
                "interval": s.ks_interval,
                "path": path,
                "prune": true,
                // The ConfigMaps carry no namespace; Flux refuses them without one.
                "targetNamespace": ns,
                "sourceRef": {"kind": "GitRepository", "name": repo},
            },
        })
    };
    let repo_name = |shard: usize| {
        if shards > 1 {
            format!("repo-{shard}")
        } else {
            "repo".to_owned()
        }
    };
    if scenario == "S1" {
        let ns = "bench-s1".to_owned();
        let repos = (0..shards).map(|k| repo(&ns, &repo_name(k), k)).collect();
        let kss = (0..s.n)
            .map(|i| {
                let k = i % shards;
                ks(
                    &ns,
                    &format!("ks-{i}"),
                    &format!("./ks-{i}"),
                    &repo_name(k),
                    k,
                )
            })
            .collect();
        (vec![ns.clone()], repos, kss)
    } else {
        let namespaces: Vec<String> = (0..s.n).map(|i| format!("bench-s2-{i}")).collect();
        let repos = namespaces
            .iter()
            .enumerate()
            .map(|(i, ns)| repo(ns, "repo", i % shards))
            .collect();
        let kss = namespaces
            .iter()
            .enumerate()
            .map(|(i, ns)| ks(ns, "app", "./app", "repo", i % shards))
            .collect();
        (namespaces, repos, kss)
    }
}

async fn create_all(client: &Client, objects: Vec<Value>, resource: &ApiResource) -> Res<()> {
    let creates = objects.into_iter().map(|o| {
        let client = client.clone();
        let resource = resource.clone();
        async move {
            let object: DynamicObject = serde_json::from_value(o)?;
            let api: Api<DynamicObject> =
                Api::namespaced_with(client, &object.namespace().unwrap_or_default(), &resource);
            api.create(&PostParams::default(), &object).await?;
            Res::Ok(())
        }
    });
    let results: Vec<Res<()>> = futures::stream::iter(creates)
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect()
}

fn resource(group: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.to_owned(),
        version: "v1".to_owned(),
        api_version: format!("{group}/v1"),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    }
}

// --- readiness tracking --------------------------------------------------------------------

#[derive(Default)]
struct Tracker {
    /// ns/name → (Ready status, message, lastAppliedRevision)
    state: HashMap<String, (bool, String, String)>,
    ready_at: HashMap<String, Duration>,
    applied_at: HashMap<String, Duration>,
}

fn ready_of(o: &DynamicObject) -> (bool, String, String) {
    let status = o.data.get("status");
    let ready = status
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    let is_ready = ready.is_some_and(|c| c["status"] == "True");
    let message = ready
        .and_then(|c| c["message"].as_str())
        .unwrap_or("no Ready condition yet")
        .to_owned();
    let revision = status
        .and_then(|s| s["lastAppliedRevision"].as_str())
        .unwrap_or_default()
        .to_owned();
    (is_ready, message, revision)
}

/// Watches the Kustomizations and records when each became Ready and when each applied a
/// revision ending with `sha` (when set). When not all are done by `timeout`, returns what
/// was recorded with a message naming those not done.
async fn track(
    client: &Client,
    system: System,
    expected: usize,
    started: Instant,
    sha: Option<&str>,
    timeout: Duration,
    phase: &str,
) -> Res<(Tracker, Option<String>)> {
    let api: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &resource(system.kustomize_group(), "Kustomization", "kustomizations"),
    );
    let mut tracker = Tracker::default();
    let mut events = std::pin::pin!(watcher(api, watcher::Config::default()).applied_objects());
    let deadline = tokio::time::Instant::now() + timeout;
    let done = |t: &Tracker| match sha {
        None => t.ready_at.len() >= expected,
        Some(_) => t.applied_at.len() >= expected,
    };
    while !done(&tracker) {
        let next = tokio::time::timeout_at(deadline, events.next()).await;
        let object = match next {
            Err(_) => break,
            Ok(None) => return Err("the Kustomization watch ended".into()),
            Ok(Some(Err(e))) => {
                eprintln!("bench-flux: watch error (retrying): {e}");
                continue;
            }
            Ok(Some(Ok(object))) => object,
        };
        let key = format!(
            "{}/{}",
            object.namespace().unwrap_or_default(),
            object.name_any()
        );
        let state = ready_of(&object);
        if state.0 {
            tracker
                .ready_at
                .entry(key.clone())
                .or_insert_with(|| started.elapsed());
        }
        if let Some(sha) = sha
            && state.0
            && state.2.ends_with(sha)
        {
            tracker
                .applied_at
                .entry(key.clone())
                .or_insert_with(|| started.elapsed());
        }
        tracker.state.insert(key, state);
    }
    if done(&tracker) {
        return Ok((tracker, None));
    }
    {
        let mut missing: Vec<String> = tracker
            .state
            .iter()
            .filter(|(k, st)| match sha {
                None => !tracker.ready_at.contains_key(*k) && !st.0,
                Some(_) => !tracker.applied_at.contains_key(*k),
            })
            .map(|(k, st)| {
                format!(
                    "  {k}: Ready={} revision='{}' message: {}",
                    st.0, st.2, st.1
                )
            })
            .collect();
        missing.sort();
        let unseen = expected.saturating_sub(tracker.state.len());
        let message = format!(
            "{}: {phase}: {} of {expected} Kustomizations not done after {timeout:?} ({unseen} never seen by the watch):\n{}",
            system.name(),
            expected
                - match sha {
                    None => tracker.ready_at.len(),
                    Some(_) => tracker.applied_at.len(),
                },
            missing.into_iter().take(50).collect::<Vec<_>>().join("\n")
        );
        Ok((tracker, Some(message)))
    }
}

fn spread(times: &HashMap<String, Duration>) -> Value {
    let mut v: Vec<f64> = times.values().map(Duration::as_secs_f64).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return json!(null);
    }
    json!({"first": v[0], "median": v[v.len() / 2], "all": v[v.len() - 1]})
}

// --- one run -------------------------------------------------------------------------------

struct Controllers {
    procs: Vec<(Proc, PathBuf)>,
    /// Driftless processes' metrics ports (what each holds is read from them).
    metrics_ports: Vec<u16>,
}

impl Controllers {
    fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(|(p, _)| p.pid()).collect()
    }
    fn cpu(&self) -> f64 {
        self.pids().into_iter().map(cpu_seconds).sum()
    }
    /// The sum over the processes of a memory field.
    fn mem(&self, field: &str) -> f64 {
        self.pids().into_iter().map(|p| memory_mib(p, field)).sum()
    }
    /// The largest value of a memory field among the processes.
    fn mem_max(&self, field: &str) -> f64 {
        self.pids()
            .into_iter()
            .map(|p| memory_mib(p, field))
            .fold(0.0, f64::max)
    }
    fn check(&mut self) -> Res<()> {
        for (p, log) in &mut self.procs {
            p.check(log)?;
        }
        Ok(())
    }
    /// The Kustomizations (`namespace/name`) each Driftless process has reconciled, from
    /// its `driftless_resource_ready` gauge.
    async fn held(&self) -> Res<Vec<Vec<String>>> {
        let mut held = Vec::new();
        for port in &self.metrics_ports {
            let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
                .await?
                .text()
                .await?;
            let mut names = Vec::new();
            for line in text.lines() {
                let Some(rest) = line.strip_prefix("driftless_resource_ready{") else {
                    continue;
                };
                let labels = rest.split_once('}').map_or("", |(l, _)| l);
                let label = |name: &str| {
                    labels
                        .split(',')
                        .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                        .map(|v| v.trim_end_matches('"').to_owned())
                        .unwrap_or_default()
                };
                if label("kind") == "Kustomization" {
                    names.push(format!("{}/{}", label("namespace"), label("name")));
                }
            }
            held.push(names);
        }
        Ok(held)
    }
}

/// Starts `shards` Driftless processes; with more than one, process k watches only the
/// objects labelled `sharding.driftless.dev/key=shard<k>`.
async fn start_driftless(
    s: &Settings,
    plane: &Plane,
    dir: &Path,
    shards: usize,
) -> Res<Controllers> {
    let mut controllers = Controllers {
        procs: Vec::new(),
        metrics_ports: Vec::new(),
    };
    for shard in 0..shards {
        let [metrics, health, storage, receiver] =
            [free_port()?, free_port()?, free_port()?, free_port()?];
        let log = dir.join(format!("driftless-{shard}.log"));
        let mut command = Command::new(&s.driftless_bin);
        command
            .env("KUBECONFIG", &plane.kubeconfig)
            .arg("run")
            .arg("--storage-path")
            .arg(dir.join(format!("storage-{shard}")))
            .arg(format!("--metrics-addr=127.0.0.1:{metrics}"))
            .arg(format!("--health-addr=127.0.0.1:{health}"))
            .arg(format!("--storage-addr=127.0.0.1:{storage}"))
            .arg(format!("--receiver-addr=127.0.0.1:{receiver}"))
            .arg("--insecure-apply-as-controller")
            .arg("--log-level=warn");
        if shards > 1 {
            command.arg(format!("--watch-label-selector={SHARD_LABEL}=shard{shard}"));
        }
        let mut proc = Proc::spawn(&format!("driftless run (shard {shard})"), command, &log)?;
        wait_port(health, &mut proc, &log).await?;
        controllers.procs.push((proc, log));
        controllers.metrics_ports.push(metrics);
    }
    Ok(controllers)
}

async fn start_flux(s: &Settings, plane: &Plane, dir: &Path) -> Res<Controllers> {
    let mut procs = Vec::new();
    let storage_port = free_port()?;
    for name in ["source-controller", "kustomize-controller"] {
        let [metrics, health] = [free_port()?, free_port()?];
        let log = dir.join(format!("{name}.log"));
        let mut command = Command::new(s.flux_bin_dir.join(name));
        command
            .env("KUBECONFIG", &plane.kubeconfig)
            .env("RUNTIME_NAMESPACE", "flux-system")
            .arg(format!("--metrics-addr=127.0.0.1:{metrics}"))
            .arg(format!("--health-addr=127.0.0.1:{health}"))
            .arg("--enable-leader-election=false")
            .arg("--watch-all-namespaces=true")
            .arg("--log-level=error");
        if name == "source-controller" {
            // source-controller refuses a storage path that does not exist yet.
            std::fs::create_dir_all(dir.join("storage"))?;
            command
                .arg(format!("--storage-path={}", dir.join("storage").display()))
                .arg(format!("--storage-addr=127.0.0.1:{storage_port}"))
                .arg(format!("--storage-adv-addr=127.0.0.1:{storage_port}"));
        }
        let mut proc = Proc::spawn(name, command, &log)?;
        wait_port(health, &mut proc, &log).await?;
        procs.push((proc, log));
    }
    Ok(Controllers {
        procs,
        metrics_ports: Vec::new(),
    })
}

struct Snapshot {
    at: Instant,
    controller_cpu: f64,
    plane_cpu: f64,
    requests: BTreeMap<String, f64>,
}

async fn snapshot(plane: &Plane, controllers: &Controllers) -> Res<Snapshot> {
    Ok(Snapshot {
        at: Instant::now(),
        controller_cpu: controllers.cpu(),
        plane_cpu: cpu_seconds(plane.apiserver_pid) + cpu_seconds(plane.etcd_pid),
        requests: request_counts(plane).await?,
    })
}

/// What a phase cost: time, CPU, and the API server's request counts. `writes` and
/// `controller_requests` count the controllers' requests only (not the benchmark's own
/// creates, kube-apiserver's lease renewals, or non-resource requests); `writes_by` splits
/// all writes by `category`.
fn phase(before: &Snapshot, after: &Snapshot) -> Value {
    let requests = delta(&after.requests, &before.requests);
    let (writes, writes_by) = writes(&requests);
    json!({
        "seconds": after.at.duration_since(before.at).as_secs_f64(),
        "controller_cpu_seconds": after.controller_cpu - before.controller_cpu,
        "apiserver_etcd_cpu_seconds": after.plane_cpu - before.plane_cpu,
        "writes": writes,
        "writes_by": writes_by,
        "dry_runs": dry_runs(&requests),
        "controller_requests": controller_requests(&requests),
        "requests": requests,
    })
}

/// One (system, scenario) run on a fresh plane. A phase that does not finish in time is
/// recorded (what was Ready at the cutoff, and `failure` naming what was not) and the
/// phases after it are skipped; an error is returned only when the run could not be made.
async fn run_one(
    s: &Settings,
    git: &GitServer,
    system: System,
    scenario: &str,
    generation: &mut u32,
) -> Res<Value> {
    eprintln!(
        "bench-flux: {scenario} N={} × {} objects: {}",
        s.n,
        s.objects,
        system.name()
    );
    let plane = fresh_plane().await?;
    let client = plane.client.clone();
    match system {
        System::Driftless { .. } => install_crds(&client, &repo_root().join("crds")).await?,
        System::Flux => {
            for module in ["source-controller", "kustomize-controller"] {
                install_crds(&client, &flux_crd_dir(s, module)?).await?;
            }
        }
    }
    let work = tempfile::Builder::new().prefix("bench-flux-").tempdir()?;
    let (namespaces, repos, kss) =
        manifests(system, scenario, s, &git.http_url(&scenario.to_lowercase()));
    let ns_api = Api::<Namespace>::all(client.clone());
    let namespace_creates = std::iter::once("flux-system".to_owned())
        .chain(namespaces)
        .map(|ns| {
            let ns_api = ns_api.clone();
            async move {
                let namespace: Namespace =
                    serde_json::from_value(json!({"metadata": {"name": ns}}))?;
                ns_api.create(&PostParams::default(), &namespace).await?;
                Res::Ok(())
            }
        });
    futures::stream::iter(namespace_creates)
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Res<Vec<()>>>()?;
    let mut controllers = match system {
        System::Driftless { shards } => start_driftless(s, &plane, work.path(), shards).await?,
        System::Flux => start_flux(s, &plane, work.path()).await?,
    };
    let expected = kss.len();
    let idle = snapshot(&plane, &controllers).await?;
    let started = Instant::now();
    create_all(
        &client,
        repos,
        &resource(system.source_group(), "GitRepository", "gitrepositories"),
    )
    .await?;
    create_all(
        &client,
        kss,
        &resource(system.kustomize_group(), "Kustomization", "kustomizations"),
    )
    .await?;
    let ready = track(
        &client,
        system,
        expected,
        started,
        None,
        s.timeout,
        "create → all Ready",
    )
    .await;
    controllers.check()?;
    let (ready, mut failure) = ready?;
    let at_ready = snapshot(&plane, &controllers).await?;
    let mut result = json!({
        "system": system.name(),
        "scenario": scenario,
        "kustomizations": expected,
        "ready_count": ready.ready_at.len(),
        "ready": spread(&ready.ready_at),
        "create_to_ready": phase(&idle, &at_ready),
    });
    result["create_to_ready"]["requests_per_kustomization"] = json!(
        result["create_to_ready"]["controller_requests"]
            .as_f64()
            .unwrap_or(0.0)
            / expected as f64
    );
    if failure.is_some() {
        result["timed_out_after_seconds"] = json!(s.timeout.as_secs());
    }

    let mut last = at_ready;
    if failure.is_none() && s.commit {
        *generation += 1;
        let sha = push(git, scenario, s, *generation)?;
        let pushed = Instant::now();
        let applied = track(
            &client,
            system,
            expected,
            pushed,
            Some(&sha),
            s.timeout,
            "new commit → all applied",
        )
        .await;
        controllers.check()?;
        let (applied, missed) = applied?;
        let at_applied = snapshot(&plane, &controllers).await?;
        result["commit_applied_count"] = json!(applied.applied_at.len());
        result["commit_applied"] = spread(&applied.applied_at);
        result["commit_to_applied"] = phase(&last, &at_applied);
        last = at_applied;
        failure = missed;
    }

    if failure.is_none() {
        // A quiet window longer than the Kustomization interval: nothing changes in git.
        tokio::time::sleep(s.steady).await;
        controllers.check()?;
        let at_end = snapshot(&plane, &controllers).await?;
        result["steady"] = phase(&last, &at_end);
    }
    result["peak_rss_mib"] = json!(controllers.mem("VmHWM"));
    result["steady_rss_mib"] = json!(controllers.mem("VmRSS"));
    result["peak_rss_per_process_mib"] = json!(controllers.mem_max("VmHWM"));
    result["processes"] = json!(controllers.procs.len());
    if let System::Driftless { .. } = system {
        let held = controllers.held().await?;
        let counts: Vec<usize> = held.iter().map(Vec::len).collect();
        let mut all: Vec<&String> = held.iter().flatten().collect();
        let total = all.len();
        all.sort();
        all.dedup();
        result["kustomizations_per_process"] = json!(counts);
        if all.len() != total {
            let shared = total - all.len();
            let message = format!(
                "{}: {shared} Kustomizations were reconciled by more than one shard process",
                system.name()
            );
            failure = Some(failure.map_or(message.clone(), |f| format!("{f}\n{message}")));
        }
    }
    if let Some(failure) = failure {
        eprintln!("bench-flux: {failure}");
        result["failure"] = json!(failure);
    }
    drop(controllers);
    Ok(result)
}

fn flux_crd_dir(s: &Settings, module: &str) -> Res<PathBuf> {
    let output = Command::new("go")
        .args(["env", "GOMODCACHE"])
        .output()
        .map_err(|e| format!("go env GOMODCACHE: {e}"))?;
    let cache = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let dir = Path::new(&cache)
        .join(format!("github.com/fluxcd/{module}@{}", s.flux_version))
        .join("config/crd/bases");
    if !dir.is_dir() {
        return Err(format!("{} is missing: run bench/flux/build.sh", dir.display()).into());
    }
    Ok(dir)
}

// --- table ---------------------------------------------------------------------------------

fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    (!values.is_empty()).then(|| values[values.len() / 2])
}

fn print_table(s: &Settings, runs: &[Value], storage: &str) {
    let systems = s.systems();
    let rows: Vec<(&str, &str)> = vec![
        (
            "Kustomizations Ready (at the end or cutoff)",
            "/ready_count",
        ),
        ("create → first Ready (s)", "/ready/first"),
        ("create → median Ready (s)", "/ready/median"),
        ("create → all Ready (s)", "/ready/all"),
        (
            "controller CPU until Ready (s)",
            "/create_to_ready/controller_cpu_seconds",
        ),
        (
            "apiserver+etcd CPU until Ready (s)",
            "/create_to_ready/apiserver_etcd_cpu_seconds",
        ),
        (
            "API requests until Ready, per Kustomization",
            "/create_to_ready/requests_per_kustomization",
        ),
        ("API writes until Ready", "/create_to_ready/writes"),
        (
            "… to Kustomizations (status)",
            "/create_to_ready/writes_by/kustomizations",
        ),
        (
            "… to applied objects",
            "/create_to_ready/writes_by/applied objects",
        ),
        ("API dry-runs until Ready", "/create_to_ready/dry_runs"),
        ("new commit → median applied (s)", "/commit_applied/median"),
        ("new commit → all applied (s)", "/commit_applied/all"),
        (
            "controller CPU, commit (s)",
            "/commit_to_applied/controller_cpu_seconds",
        ),
        (
            "apiserver+etcd CPU, commit (s)",
            "/commit_to_applied/apiserver_etcd_cpu_seconds",
        ),
        ("API writes, commit", "/commit_to_applied/writes"),
        ("API dry-runs, commit", "/commit_to_applied/dry_runs"),
        ("steady window: controllers' API writes", "/steady/writes"),
        (
            "… to Kustomizations (status)",
            "/steady/writes_by/kustomizations",
        ),
        ("… to applied objects", "/steady/writes_by/applied objects"),
        ("… to sources (status)", "/steady/writes_by/sources"),
        ("… events", "/steady/writes_by/events"),
        ("… other", "/steady/writes_by/other"),
        ("steady window: API dry-runs", "/steady/dry_runs"),
        (
            "steady window: all controller requests",
            "/steady/controller_requests",
        ),
        (
            "steady window: kube-apiserver's own lease writes (not counted)",
            "/steady/writes_by/apiserver",
        ),
        (
            "steady window: controller CPU (s)",
            "/steady/controller_cpu_seconds",
        ),
        ("peak RSS, sum of processes (MiB)", "/peak_rss_mib"),
        (
            "peak RSS, largest process (MiB)",
            "/peak_rss_per_process_mib",
        ),
        ("steady RSS (MiB)", "/steady_rss_mib"),
    ];
    println!();
    println!(
        "make bench-flux: N={} Kustomizations × {} ConfigMaps, rounds={}, Kustomization interval {}, GitRepository interval {}, steady window {}s, storage on {storage}; {} cores, load average {}",
        s.n,
        s.objects,
        s.rounds,
        s.ks_interval,
        s.repo_interval,
        s.steady.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
    );
    if s.flux {
        println!(
            "Flux: source-controller and kustomize-controller {} built from the Go module proxy (bench/flux; differs from upstream: github.com/fluxcd/pkg/artifact v0.18.0 instead of v0.18.3), default concurrency",
            s.flux_version
        );
    }
    if s.shard_count() > 1 {
        println!(
            "Objects labelled {SHARD_LABEL}=shard0..shard{} (round robin); a sharded Driftless runs one process per shard with --watch-label-selector",
            s.shard_count() - 1
        );
    }
    // The ratio column: the last system over the first (Flux / Driftless; with shards only,
    // the sharded run over the single process).
    let ratio = (systems.len() > 1).then(|| (0, systems.len() - 1));
    for scenario in &s.scenarios {
        let mut header = format!("| {scenario} |");
        let mut rule = String::from("|---|");
        for system in &systems {
            header.push_str(&format!(" {} |", system.name()));
            rule.push_str("---|");
        }
        if let Some((a, b)) = ratio {
            header.push_str(&format!(" {} / {} |", systems[b].name(), systems[a].name()));
            rule.push_str("---|");
        }
        println!("\n{header}\n{rule}");
        for (label, pointer) in &rows {
            let mut line = format!("| {label} |");
            let mut values = Vec::new();
            for system in &systems {
                let mut samples: Vec<f64> = runs
                    .iter()
                    .filter(|r| r["system"] == system.name() && r["scenario"] == scenario.as_str())
                    .filter_map(|r| match r.pointer(pointer) {
                        Some(v) => v.as_f64(),
                        // A writes_by category with no writes is absent: zero, when the
                        // phase was measured.
                        None if pointer.contains("/writes_by/") => {
                            let phase = pointer.split('/').nth(1).unwrap_or_default();
                            r.get(phase).map(|_| 0.0)
                        }
                        None => None,
                    })
                    .collect();
                let value = median(&mut samples);
                values.push(value);
                line.push_str(&match value {
                    Some(v) if v.fract() == 0.0 => format!(" {v:.0} |"),
                    Some(v) => format!(" {v:.1} |"),
                    None => " – |".to_owned(),
                });
            }
            if let Some((a, b)) = ratio {
                line.push_str(&match (values[a], values[b]) {
                    (Some(d), Some(f)) if d > 0.0 => format!(" {:.2}× |", f / d),
                    (Some(_), Some(f)) if f > 0.0 => " ∞ |".to_owned(),
                    _ => " – |".to_owned(),
                });
            }
            println!("{line}");
        }
        for system in &systems {
            for r in runs
                .iter()
                .filter(|r| r["system"] == system.name() && r["scenario"] == scenario.as_str())
            {
                if let Some(held) = r.get("kustomizations_per_process") {
                    println!(
                        "{} {scenario}: Kustomizations reconciled per process: {held}",
                        system.name()
                    );
                }
                if let Some(seconds) = r.get("timed_out_after_seconds") {
                    println!(
                        "{} {scenario}: NOT DONE: time-boxed at {seconds} s per phase; {} of {} Ready at the cutoff",
                        system.name(),
                        r["ready_count"],
                        r["kustomizations"]
                    );
                }
                println!(
                    "{} {scenario} requests until Ready: {} | commit: {} | steady: {}",
                    system.name(),
                    r["create_to_ready"]["requests"],
                    r.pointer("/commit_to_applied/requests")
                        .unwrap_or(&Value::Null),
                    r.pointer("/steady/requests").unwrap_or(&Value::Null)
                );
            }
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("bench-flux: FAILED: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Res<()> {
    let s = settings()?;
    if !s.driftless_bin.is_file() {
        return Err(format!(
            "{} is missing (make bench-flux builds it)",
            s.driftless_bin.display()
        )
        .into());
    }
    if s.flux {
        for name in ["source-controller", "kustomize-controller"] {
            let bin = s.flux_bin_dir.join(name);
            if !bin.is_file() {
                return Err(
                    format!("{} is missing: run bench/flux/build.sh", bin.display()).into(),
                );
            }
        }
    }
    let storage = {
        let tmp = std::env::temp_dir();
        let fs = Command::new("df")
            .args(["--output=fstype,source"])
            .arg(&tmp)
            .output()
            .ok()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .nth(1)
                    .unwrap_or_default()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        format!("{} ({fs}) for both systems", tmp.display())
    };
    let git = GitServer::start()?;
    for scenario in &s.scenarios {
        if scenario != "S1" && scenario != "S2" {
            return Err(format!("unknown scenario {scenario} (S1, S2)").into());
        }
        git.create_repo(&scenario.to_lowercase())?;
        push(&git, scenario, &s, 0)?;
    }
    let mut generation = 0;
    let mut runs = Vec::new();
    let mut failure: Option<Box<dyn std::error::Error + Send + Sync>> = None;
    let mut not_done = Vec::new();
    'rounds: for round in 0..s.rounds {
        for (index, scenario) in s.scenarios.iter().enumerate() {
            let mut order = s.systems();
            if (round + index) % 2 == 1 {
                order.reverse();
            }
            for system in order {
                let load_before = load_average();
                match run_one(&s, &git, system, scenario, &mut generation).await {
                    Ok(mut result) => {
                        result["round"] = json!(round);
                        result["load_average_before"] = json!(load_before);
                        result["load_average_after"] = json!(load_average());
                        if let Some(f) = result["failure"].as_str() {
                            not_done.push(format!("{} {scenario}: {f}", system.name()));
                        }
                        let mut brief = result.clone();
                        for phase in ["create_to_ready", "commit_to_applied", "steady"] {
                            if let Some(p) = brief.get_mut(phase).and_then(Value::as_object_mut) {
                                p.remove("requests");
                            }
                        }
                        eprintln!("bench-flux: {brief}");
                        runs.push(result);
                    }
                    Err(e) => {
                        failure = Some(e);
                        break 'rounds;
                    }
                }
            }
        }
    }
    if failure.is_none() && !not_done.is_empty() {
        failure = Some(
            format!(
                "{} run(s) did not finish:\n{}",
                not_done.len(),
                not_done.join("\n")
            )
            .into(),
        );
    }
    let _ = script("cluster-down.sh");
    let report = json!({
        "n": s.n,
        "objects_per_kustomization": s.objects,
        "rounds": s.rounds,
        "storage": storage,
        "load_average": load_average(),
        "shards": s.shards,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "flux_version": s.flux.then_some(s.flux_version.as_str()),
        "runs": runs,
        "failure": failure.as_ref().map(ToString::to_string),
    });
    std::fs::write(&s.out, serde_json::to_string_pretty(&report)?)?;
    print_table(&s, &runs, &storage);
    println!("\nJSON: {}", s.out.display());
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
