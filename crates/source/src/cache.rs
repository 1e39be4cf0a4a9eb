//! [`SourceCache`]: one per process, shared by every controller.
//!
//! On-disk layout under the cache directory:
//!
//! ```text
//! mirrors/<sha256(url)[..32]>/   bare git mirror per URL (incremental fetches)
//! artifacts/<digest hex>/        complete artifact trees (only ever created by rename)
//! keys/<commit>-<ignore hash>    "this commit with these ignore rules is <digest hex>"
//! tarballs/<digest hex>.tar.gz   deterministic tarballs, built on demand
//! tmp/                           staging; emptied on open
//! ```
//!
//! An artifact directory appears only through `rename(tmp/…, artifacts/<hex>)` after
//! every file and directory in it was fsynced, so a crash never leaves a half artifact
//! that looks complete. The byte budget covers artifact trees (not mirrors or
//! tarballs); when an insertion exceeds it, least recently used artifacts that no
//! owner pins are evicted (tarball and keys with them).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use gix::ObjectId;
use gix::remote::fetch::Shallow;
use sha2::{Digest as _, Sha256};
use tokio::sync::OnceCell;

use crate::auth::GitAuth;
use crate::checkout::{list_commit, sync_parent, write_listing};
use crate::digest::Digest;
use crate::error::Error;
use crate::git_remote::{RemoteSpec, display_url, fetch_refs, list_refs, open_or_init_mirror};
use crate::lru_index::{LruIndex, OwnerKey};
use crate::reference::{GitRef, Plan, Resolved, resolve};
use crate::tarball::write_tarball;

/// Default timeout of a fetch, as in Flux (`spec.timeout` defaults to 60s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a reconciler asks for: the fields of a GitRepository spec, as plain values.
/// `Debug` hides credentials, including any password inside the URL.
#[derive(Clone)]
pub struct FetchRequest {
    /// `spec.url` (https, http, ssh, git or file).
    pub url: String,
    /// `spec.ref`.
    pub reference: GitRef,
    /// Credentials from `spec.secretRef` (redacted in `Debug`).
    pub auth: Option<GitAuth>,
    /// `spec.ignore`.
    pub ignore: Option<String>,
    /// `spec.timeout` for the whole fetch.
    pub timeout: Duration,
}

impl std::fmt::Debug for FetchRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchRequest")
            .field("url", &display_url(&self.url))
            .field("reference", &self.reference)
            .field("auth", &self.auth)
            .field("ignore", &self.ignore)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl FetchRequest {
    /// A request for `url` at `reference`, no auth, no ignore, the default timeout.
    pub fn new(url: impl Into<String>, reference: GitRef) -> Self {
        FetchRequest {
            url: url.into(),
            reference,
            auth: None,
            ignore: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Single-flight key: requests with equal keys share one fetch. Credentials are
    /// part of it so nobody rides on someone else's access.
    fn flight_key(&self) -> String {
        format!(
            "{}\n{:?}\n{:?}\n{}",
            self.url,
            self.reference,
            self.ignore,
            self.auth
                .as_ref()
                .map(GitAuth::fingerprint)
                .unwrap_or_default()
        )
    }
}

/// A checked-out source, ready to read from [`Artifact::path`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Flux revision: `main@sha1:<sha>`, `v1.0.0@sha1:<sha>`, `refs/…@sha1:<sha>` or `sha1:<sha>`.
    pub revision: String,
    /// The commit checked out, hex.
    pub commit: String,
    /// Content digest (see [`crate::digest`] for how it is computed).
    pub digest: Digest,
    /// Directory holding the files.
    pub path: PathBuf,
    /// Total size of the files in bytes.
    pub size: u64,
}

/// What a ref points at on the remote right now (from [`SourceCache::resolve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRevision {
    /// Flux revision string, as in [`Artifact::revision`].
    pub revision: String,
    /// The commit, hex.
    pub commit: String,
}

/// Counters of cache activity, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Fetch requests answered by an existing artifact.
    pub hits: u64,
    /// Fetch requests that had to build an artifact (or find its listing).
    pub misses: u64,
    /// Ref advertisements requested from remotes.
    pub ref_lists: u64,
    /// Network fetches of objects into a mirror.
    pub fetches: u64,
    /// Artifact trees written to disk.
    pub checkouts: u64,
    /// Artifacts evicted.
    pub evictions: u64,
    /// Bytes of artifact trees currently indexed.
    pub bytes: u64,
    /// Artifacts currently indexed.
    pub artifacts: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    ref_lists: AtomicU64,
    fetches: AtomicU64,
    checkouts: AtomicU64,
    evictions: AtomicU64,
}

#[derive(Default)]
struct State {
    index: LruIndex,
    /// `<commit>-<ignore hash>` -> digest.
    keys: HashMap<String, Digest>,
}

type Flight = Arc<OnceCell<Result<Artifact, Error>>>;

struct Inner {
    dir: PathBuf,
    budget: u64,
    state: Mutex<State>,
    counters: Counters,
    flights: Mutex<HashMap<String, Flight>>,
    mirror_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    temp_seq: AtomicU64,
}

/// The shared, content-addressed source cache. Cheap to clone (all clones share state);
/// hand one `Arc<SourceCache>` (or clones) to every controller.
#[derive(Clone)]
pub struct SourceCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SourceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceCache")
            .field("dir", &self.inner.dir)
            .field("budget", &self.inner.budget)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn short_hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..16])
}

fn dir_size(path: &Path) -> Result<u64, Error> {
    let mut total = 0;
    for entry in std::fs::read_dir(path).map_err(|e| Error::storage("reading", path, e))? {
        let entry = entry.map_err(|e| Error::storage("reading", path, e))?;
        let ty = entry
            .file_type()
            .map_err(|e| Error::storage("reading", entry.path(), e))?;
        if ty.is_dir() {
            total += dir_size(&entry.path())?;
        } else {
            total += entry
                .metadata()
                .map_err(|e| Error::storage("reading", entry.path(), e))?
                .len();
        }
    }
    Ok(total)
}

impl SourceCache {
    /// Open (or create) the cache in `dir` with a byte budget for artifacts, rebuilding
    /// the index from what is on disk and discarding leftovers of interrupted work.
    pub fn open(dir: impl Into<PathBuf>, budget_bytes: u64) -> Result<Self, Error> {
        // reqwest is built without a default TLS provider; use ring, like kube.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = dir.into();
        for sub in ["mirrors", "artifacts", "keys", "tarballs", "tmp"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| Error::storage("creating", &p, e))?;
        }
        let tmp = dir.join("tmp");
        for entry in std::fs::read_dir(&tmp).map_err(|e| Error::storage("reading", &tmp, e))? {
            let entry = entry.map_err(|e| Error::storage("reading", &tmp, e))?;
            let p = entry.path();
            let removed = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            removed.map_err(|e| Error::storage("removing", &p, e))?;
        }
        let mirrors = dir.join("mirrors");
        for entry in
            std::fs::read_dir(&mirrors).map_err(|e| Error::storage("reading", &mirrors, e))?
        {
            let entry = entry.map_err(|e| Error::storage("reading", &mirrors, e))?;
            if entry.file_name().to_string_lossy().contains(".init-") {
                let p = entry.path();
                std::fs::remove_dir_all(&p).map_err(|e| Error::storage("removing", &p, e))?;
            }
        }
        let mut state = State::default();
        let artifacts = dir.join("artifacts");
        let mut found = Vec::new();
        for entry in
            std::fs::read_dir(&artifacts).map_err(|e| Error::storage("reading", &artifacts, e))?
        {
            let entry = entry.map_err(|e| Error::storage("reading", &artifacts, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(digest) = Digest::parse(&name) else {
                continue;
            };
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let mtime = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            found.push((mtime, digest, dir_size(&path)?));
        }
        found.sort();
        for (rank, (_, digest, size)) in found.into_iter().enumerate() {
            state.index.insert_with_rank(digest, size, rank as u64 + 1);
        }
        let keys = dir.join("keys");
        for entry in std::fs::read_dir(&keys).map_err(|e| Error::storage("reading", &keys, e))? {
            let entry = entry.map_err(|e| Error::storage("reading", &keys, e))?;
            let p = entry.path();
            let digest = std::fs::read_to_string(&p)
                .ok()
                .and_then(|s| Digest::parse(s.trim()));
            match digest {
                Some(d) if state.index.contains(&d) => {
                    state
                        .keys
                        .insert(entry.file_name().to_string_lossy().into_owned(), d);
                }
                _ => std::fs::remove_file(&p).map_err(|e| Error::storage("removing", &p, e))?,
            }
        }
        let tarballs = dir.join("tarballs");
        for entry in
            std::fs::read_dir(&tarballs).map_err(|e| Error::storage("reading", &tarballs, e))?
        {
            let entry = entry.map_err(|e| Error::storage("reading", &tarballs, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let known = name
                .strip_suffix(".tar.gz")
                .and_then(Digest::parse)
                .is_some_and(|d| state.index.contains(&d));
            if !known {
                let p = entry.path();
                std::fs::remove_file(&p).map_err(|e| Error::storage("removing", &p, e))?;
            }
        }
        Ok(SourceCache {
            inner: Arc::new(Inner {
                dir,
                budget: budget_bytes,
                state: Mutex::new(state),
                counters: Counters::default(),
                flights: Mutex::new(HashMap::new()),
                mirror_locks: Mutex::new(HashMap::new()),
                temp_seq: AtomicU64::new(0),
            }),
        })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Fetch `req` and return its artifact. Concurrent calls with the same URL, ref,
    /// ignore rules and credentials share one fetch and one checkout. A poll that finds
    /// the ref still at a commit already checked out costs one ref advertisement and
    /// writes nothing.
    pub async fn fetch(&self, req: FetchRequest) -> Result<Artifact, Error> {
        let key = req.flight_key();
        let flight: Flight = lock(&self.inner.flights)
            .entry(key.clone())
            .or_default()
            .clone();
        let result = flight
            .get_or_init(|| self.fetch_uncached(req))
            .await
            .clone();
        let mut flights = lock(&self.inner.flights);
        if flights.get(&key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
            flights.remove(&key);
        }
        result
    }

    /// Ask the remote what `req.reference` points at now: one ref advertisement, no
    /// object transfer, no writes (beyond creating the URL's empty mirror the first time).
    pub async fn resolve(&self, req: &FetchRequest) -> Result<RemoteRevision, Error> {
        let plan = req.reference.plan()?;
        let guard = self.url_lock(&req.url).lock_owned().await;
        let inner = self.inner.clone();
        let req2 = req.clone();
        let resolved = self
            .run_blocking(req, move |_interrupt| {
                let _guard = guard;
                let (_repo, resolved) = inner.list_and_resolve(&req2, &plan)?;
                Ok(resolved)
            })
            .await?;
        Ok(RemoteRevision {
            revision: resolved.revision,
            commit: resolved.commit,
        })
    }

    async fn fetch_uncached(&self, req: FetchRequest) -> Result<Artifact, Error> {
        let plan = req.reference.plan()?;
        let guard = self.url_lock(&req.url).lock_owned().await;
        let inner = self.inner.clone();
        let req2 = req.clone();
        self.run_blocking(&req, move |interrupt| {
            let _guard = guard;
            inner.fetch_blocking(&req2, &plan, interrupt)
        })
        .await
    }

    /// The lock serializing all git work on the mirror of `url`.
    fn url_lock(&self, url: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.inner.mirror_locks)
            .entry(url.to_owned())
            .or_default()
            .clone()
    }

    /// Run blocking git work on tokio's blocking pool within the request's timeout.
    async fn run_blocking<T: Send + 'static>(
        &self,
        req: &FetchRequest,
        work: impl FnOnce(&AtomicBool) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let interrupt = Arc::new(AtomicBool::new(false));
        let flag = interrupt.clone();
        let task = tokio::task::spawn_blocking(move || work(&flag));
        match tokio::time::timeout(req.timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(Error::Task(join.to_string())),
            Err(_) => {
                interrupt.store(true, Ordering::SeqCst);
                Err(Error::Timeout {
                    url: display_url(&req.url),
                    seconds: req.timeout.as_secs(),
                })
            }
        }
    }

    /// The directory of an indexed artifact (marks it as used).
    pub fn artifact_dir(&self, digest: &Digest) -> Option<PathBuf> {
        let mut state = lock(&self.inner.state);
        state
            .index
            .touch(digest)
            .then(|| self.inner.artifact_path(digest))
    }

    /// The deterministic `.tar.gz` of an artifact, built on first request.
    pub async fn tarball(&self, digest: &Digest) -> Result<PathBuf, Error> {
        let inner = self.inner.clone();
        let digest = digest.clone();
        tokio::task::spawn_blocking(move || inner.tarball_blocking(&digest))
            .await
            .map_err(|e| Error::Task(e.to_string()))?
    }

    /// Protect `digest` from eviction on behalf of `owner` (e.g. the artifact named in
    /// a GitRepository's current status). Replaces the owner's previous pin.
    pub fn pin(&self, owner: OwnerKey, digest: Digest) {
        lock(&self.inner.state).index.pin(owner, digest);
    }

    /// Release the pin of `owner` (e.g. when the object is deleted).
    pub fn unpin(&self, owner: &OwnerKey) {
        lock(&self.inner.state).index.unpin(owner);
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        let c = &self.inner.counters;
        let state = lock(&self.inner.state);
        CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            ref_lists: c.ref_lists.load(Ordering::Relaxed),
            fetches: c.fetches.load(Ordering::Relaxed),
            checkouts: c.checkouts.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            bytes: state.index.total_bytes(),
            artifacts: state.index.len() as u64,
        }
    }
}

impl Inner {
    fn artifact_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("artifacts").join(digest.hex())
    }

    fn temp_path(&self, label: &str) -> PathBuf {
        let n = self.temp_seq.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join("tmp")
            .join(format!("{label}-{}-{n}", std::process::id()))
    }

    fn mirror_path(&self, url: &str) -> PathBuf {
        self.dir.join("mirrors").join(&short_hash(url)[..32])
    }

    fn list_and_resolve(
        &self,
        req: &FetchRequest,
        plan: &Plan,
    ) -> Result<(gix::Repository, Resolved), Error> {
        let display = display_url(&req.url);
        let scratch = self.temp_path("ssh");
        let spec = RemoteSpec::new(&req.url, req.auth.as_ref(), scratch.clone());
        let result = (|| {
            let repo = open_or_init_mirror(&self.mirror_path(&req.url), &display)?;
            self.counters.ref_lists.fetch_add(1, Ordering::Relaxed);
            let refs = list_refs(&repo, &spec, &plan.ref_patterns())?;
            let resolved = resolve(plan, &display, &refs)?;
            Ok((repo, resolved))
        })();
        if scratch.exists() {
            let _ = std::fs::remove_dir_all(&scratch);
        }
        result
    }

    fn fetch_blocking(
        &self,
        req: &FetchRequest,
        plan: &Plan,
        interrupt: &AtomicBool,
    ) -> Result<Artifact, Error> {
        let url_shown = display_url(&req.url);
        let (repo, resolved) = self.list_and_resolve(req, plan)?;
        let mirror = repo.path().to_owned();
        let not_found = |what: String| Error::ReferenceNotFound {
            url: url_shown.clone(),
            reference: what,
        };
        let commit = ObjectId::from_hex(resolved.commit.as_bytes())
            .map_err(|e| Error::InvalidReference(format!("{}: {e}", resolved.commit)))?;
        let mirror_err = |e: gix::Error| Error::Mirror {
            url: url_shown.clone(),
            mirror: mirror.clone(),
            message: e.to_string(),
        };
        let is_shallow = repo.is_shallow().map_err(mirror_err)?;
        let needs_history = plan.needs_history() && is_shallow;
        // For commit + branch the branch tip must be present too, to walk from it.
        let tip_missing = resolved
            .must_be_reachable_from
            .as_deref()
            .and_then(|tip| ObjectId::from_hex(tip.as_bytes()).ok())
            .is_some_and(|tip| !repo.has_object(tip));
        let repo = if !repo.has_object(commit) || needs_history || tip_missing {
            let shallow = if plan.needs_history() {
                if is_shallow {
                    Shallow::undo()
                } else {
                    Shallow::NoChange
                }
            } else {
                Shallow::DepthAtRemote(1.try_into().expect("non-zero"))
            };
            let scratch = self.temp_path("ssh");
            let spec = RemoteSpec::new(&req.url, req.auth.as_ref(), scratch.clone());
            self.counters.fetches.fetch_add(1, Ordering::Relaxed);
            let started = std::time::Instant::now();
            let fetched = fetch_refs(&repo, &spec, &resolved.fetch_refs, shallow, interrupt);
            tracing::debug!(url = url_shown.as_str(), elapsed = ?started.elapsed(), ok = fetched.is_ok(), "fetched into mirror");
            if scratch.exists() {
                let _ = std::fs::remove_dir_all(&scratch);
            }
            fetched?;
            let repo = gix::open_opts(&mirror, gix::open::Options::isolated()).map_err(|e| {
                Error::Mirror {
                    url: url_shown.clone(),
                    mirror: mirror.clone(),
                    message: e.to_string(),
                }
            })?;
            if !repo.has_object(commit) {
                return Err(not_found(format!("commit {commit}")));
            }
            repo
        } else {
            repo
        };
        if let Some(tip) = &resolved.must_be_reachable_from {
            let tip = ObjectId::from_hex(tip.as_bytes())
                .map_err(|e| Error::InvalidReference(format!("{tip}: {e}")))?;
            let on_branch = repo
                .rev_walk([tip])
                .all()
                .map_err(|e| Error::Mirror {
                    url: url_shown.clone(),
                    mirror: mirror.clone(),
                    message: e.to_string(),
                })?
                .filter_map(Result::ok)
                .any(|info| info.id == commit);
            if !on_branch {
                return Err(not_found(format!(
                    "commit {commit} on {}",
                    resolved.revision.split('@').next().unwrap_or_default()
                )));
            }
        }

        let key = format!(
            "{commit}-{}",
            short_hash(req.ignore.as_deref().unwrap_or_default())
        );
        if let Some(artifact) = self.lookup(&key, &resolved) {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(artifact);
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let listing = list_commit(&repo, commit, req.ignore.as_deref(), &url_shown)?;
        let digest = listing.digest.clone();
        let target = self.artifact_path(&digest);
        let size = if target.is_dir() {
            // Same content reached through another commit or ignore rules.
            match lock(&self.state).index.size(&digest) {
                Some(size) => size,
                None => dir_size(&target)?,
            }
        } else {
            let staging = self.temp_path(digest.hex());
            let started = std::time::Instant::now();
            let written = write_listing(&repo, &listing, &staging, &url_shown);
            tracing::debug!(url = url_shown.as_str(), %digest, files = listing.files.len(), elapsed = ?started.elapsed(), "checked out");
            let size = match written {
                Ok(size) => size,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&staging);
                    return Err(e);
                }
            };
            match std::fs::rename(&staging, &target) {
                Ok(()) => {}
                Err(_) if target.is_dir() => {
                    let _ = std::fs::remove_dir_all(&staging);
                }
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&staging);
                    return Err(Error::storage("publishing", &target, e));
                }
            }
            sync_parent(&target)?;
            self.counters.checkouts.fetch_add(1, Ordering::Relaxed);
            size
        };
        self.write_key(&key, &digest)?;
        {
            let mut state = lock(&self.state);
            state.index.insert(digest.clone(), size);
            state.keys.insert(key, digest.clone());
        }
        self.evict(&digest);
        Ok(Artifact {
            revision: resolved.revision,
            commit: resolved.commit,
            path: target,
            digest,
            size,
        })
    }

    /// An existing artifact for `key`, marked as used; no disk writes.
    fn lookup(&self, key: &str, resolved: &Resolved) -> Option<Artifact> {
        let mut state = lock(&self.state);
        let digest = state.keys.get(key)?.clone();
        if !state.index.touch(&digest) {
            return None;
        }
        let size = state.index.size(&digest)?;
        Some(Artifact {
            revision: resolved.revision.clone(),
            commit: resolved.commit.clone(),
            path: self.artifact_path(&digest),
            digest,
            size,
        })
    }

    fn write_key(&self, key: &str, digest: &Digest) -> Result<(), Error> {
        let path = self.dir.join("keys").join(key);
        let tmp = self.temp_path("key");
        std::fs::write(&tmp, digest.hex()).map_err(|e| Error::storage("writing", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::storage("writing", &path, e))
    }

    /// Evict unpinned, least recently used artifacts (never `keep`) until within budget.
    fn evict(&self, keep: &Digest) {
        let victims = {
            let mut state = lock(&self.state);
            let plan = state.index.eviction_plan(self.budget, Some(keep));
            for d in &plan {
                state.index.remove(d);
                state.keys.retain(|_, v| v != d);
            }
            plan
        };
        for d in victims {
            let keys_dir = self.dir.join("keys");
            if let Ok(entries) = std::fs::read_dir(&keys_dir) {
                for entry in entries.flatten() {
                    let points_here =
                        std::fs::read_to_string(entry.path()).is_ok_and(|s| s.trim() == d.hex());
                    if points_here {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
            let _ = std::fs::remove_file(self.tarball_path(&d));
            // Move out of artifacts/ first so a partial delete never looks like an artifact.
            let doomed = self.temp_path("evict");
            if std::fs::rename(self.artifact_path(&d), &doomed).is_ok() {
                let _ = std::fs::remove_dir_all(&doomed);
            }
            self.counters.evictions.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(digest = %d, "evicted artifact");
        }
    }

    fn tarball_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("tarballs")
            .join(format!("{}.tar.gz", digest.hex()))
    }

    fn tarball_blocking(&self, digest: &Digest) -> Result<PathBuf, Error> {
        if !lock(&self.state).index.touch(digest) {
            return Err(Error::ArtifactNotFound(digest.to_string()));
        }
        let path = self.tarball_path(digest);
        if path.is_file() {
            return Ok(path);
        }
        let tmp = self.temp_path("tarball");
        let result = (|| {
            let file =
                std::fs::File::create(&tmp).map_err(|e| Error::storage("creating", &tmp, e))?;
            let mut out = std::io::BufWriter::new(file);
            write_tarball(&self.artifact_path(digest), &mut out)?;
            let file = out
                .into_inner()
                .map_err(|e| Error::storage("writing", &tmp, e.error()))?;
            file.sync_all()
                .map_err(|e| Error::storage("writing", &tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| Error::storage("publishing", &path, e))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map(|()| path)
    }
}
