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
//! that looks complete. The byte budget covers artifact trees and mirrors (not
//! tarballs); when an insertion exceeds it, least recently used artifacts that no
//! owner pins are evicted (tarball and keys with them).
//!
//! Mirrors are kept while some owner (a GitRepository, named by
//! [`FetchRequest::owner`]) references their URL. A mirror nobody references, and that
//! nobody fetched for the grace period ([`CacheOptions::mirror_grace`]), is removed; so
//! are the per-mirror locks once nobody holds or waits for them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gix::ObjectId;
use gix::remote::fetch::Shallow;
use sha2::{Digest as _, Sha256};
use tokio::sync::OnceCell;

use crate::auth::GitAuth;
use crate::checkout::{list_commit, sync_parent, write_listing};
use crate::digest::Digest;
use crate::error::Error;
use crate::git_remote::{
    RemoteSpec, display_url, fetch_refs, list_refs, open_mirror, open_or_init_mirror,
};
use crate::limits::Limits;
use crate::lru_index::{LruIndex, OwnerKey};
use crate::reference::{GitRef, Plan, Resolved, resolve};
use crate::signature::TrustedKeys;
use crate::tarball::write_tarball;

/// Default timeout of a fetch, as in Flux (`spec.timeout` defaults to 60s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Default of [`CacheOptions::mirror_grace`]: how long a mirror nobody references stays.
pub const DEFAULT_MIRROR_GRACE: Duration = Duration::from_secs(60 * 60);

/// How a [`SourceCache`] is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheOptions {
    /// Byte budget for artifact trees and mirrors together.
    pub budget_bytes: u64,
    /// Limits on what one commit may make the cache do.
    pub limits: Limits,
    /// How long a mirror that no owner references, and that nobody fetched, is kept.
    pub mirror_grace: Duration,
}

impl CacheOptions {
    /// The default limits and grace period with `budget_bytes`.
    pub fn new(budget_bytes: u64) -> Self {
        CacheOptions {
            budget_bytes,
            limits: Limits::default(),
            mirror_grace: DEFAULT_MIRROR_GRACE,
        }
    }
}

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
    /// Who asks (e.g. `GitRepository/<ns>/<name>`): keeps the URL's mirror while the
    /// owner exists. Released by [`SourceCache::unpin`]. Not part of single-flight.
    pub owner: Option<OwnerKey>,
    /// `spec.verify`: signatures to check before anything is checked out.
    pub verify: Option<Verification>,
    /// `spec.sparseCheckout`: only these directories go into the artifact (all when
    /// empty). Checked and normalized by the cache; a hostile path is refused.
    pub sparse_checkout: Vec<String>,
    /// `spec.recurseSubmodules`: check out the commits the tree's gitlinks name.
    pub recurse_submodules: bool,
    /// The URL policy every submodule URL must pass before anything connects to it (when
    /// `None`, every URL the transport supports is allowed).
    pub submodule_url_check: Option<crate::submodules::SubmoduleUrlCheck>,
}

/// What `spec.verify` asks: which objects must carry a signature of a trusted key.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Which objects.
    pub mode: VerifyMode,
    /// The keys trusted to sign them.
    pub keys: TrustedKeys,
}

/// `spec.verify.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyMode {
    /// The commit checked out.
    Head,
    /// The annotated tag the ref resolved through.
    Tag,
    /// The tag and the commit it points to.
    TagAndHead,
}

impl std::fmt::Debug for FetchRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchRequest")
            .field("url", &display_url(&self.url))
            .field("reference", &self.reference)
            .field("auth", &self.auth)
            .field("ignore", &self.ignore)
            .field("timeout", &self.timeout)
            .field("owner", &self.owner)
            .field("verify", &self.verify)
            .field("sparse_checkout", &self.sparse_checkout)
            .field("recurse_submodules", &self.recurse_submodules)
            .finish_non_exhaustive()
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
            owner: None,
            verify: None,
            sparse_checkout: Vec::new(),
            recurse_submodules: false,
            submodule_url_check: None,
        }
    }

    /// `sparse_checkout` checked and normalized, outermost directories only, sorted.
    /// A directory naming the root means the whole tree (empty).
    pub(crate) fn sparse_dirs(&self) -> Result<Vec<String>, Error> {
        let mut dirs = Vec::new();
        for (i, raw) in self.sparse_checkout.iter().enumerate() {
            let dir = Error::checked_path(format!("spec.sparseCheckout[{i}]"), raw)?;
            if dir.is_empty() {
                return Ok(Vec::new());
            }
            dirs.push(dir);
        }
        Ok(crate::relative_path::outermost(dirs))
    }

    /// Single-flight key: requests with equal keys share one fetch. Credentials are
    /// part of it so nobody rides on someone else's access.
    fn flight_key(&self) -> String {
        format!(
            "{}\n{:?}\n{:?}\n{:?}\n{}\n{}\n{:?}",
            self.url,
            self.reference,
            self.ignore,
            self.sparse_checkout,
            self.recurse_submodules,
            self.auth
                .as_ref()
                .map(GitAuth::fingerprint)
                .unwrap_or_default(),
            self.verify
                .as_ref()
                .map(|v| (v.mode, v.keys.fingerprint().to_owned()))
        )
    }
}

/// What [`SourceCache::import_tar_gz`] stores: one gzip-compressed tar (an OCI artifact
/// layer) as an artifact, after the same entry-name rules, limits and ignore rules as a git
/// checkout.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// Names the archive's content (e.g. the layer's `sha256:` digest): requests with equal
    /// keys and ignore rules share one extraction.
    pub key: String,
    /// Revision reported in the artifact, e.g. `v1.0.0@sha256:<manifest digest>`.
    pub revision: String,
    /// Where the archive came from, for messages (no credentials).
    pub origin: String,
    /// The archive on disk, its digest already verified by the caller.
    pub archive: PathBuf,
    /// `spec.ignore`.
    pub ignore: Option<String>,
    /// Serve this archive's bytes unchanged as the artifact's tarball (Flux's layer
    /// operation `copy`) instead of a tarball rebuilt from the tree.
    pub keep_tarball: bool,
}

/// What [`SourceCache::compose`] builds: `spec.include`'s artifacts copied into a fetched
/// artifact.
#[derive(Debug, Clone)]
pub struct ComposeRequest {
    /// The artifact of the including repository's own checkout.
    pub base: Artifact,
    /// The includes, in spec order (later ones may not overwrite earlier ones).
    pub includes: Vec<crate::compose::IncludedArtifact>,
    /// `spec.ignore` of the including repository, applied over the whole result.
    pub ignore: Option<String>,
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
    /// With `spec.verify`: what was verified with which key, e.g. `verified signature of
    /// commit '<sha>' with key 'SHA256:…'`.
    pub verified: Option<String>,
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
    /// Bytes of git mirrors (counted toward the budget with `bytes`).
    pub mirror_bytes: u64,
    /// Mirrors on disk.
    pub mirrors: u64,
    /// Mirrors removed because nobody referenced them for the grace period.
    pub mirrors_removed: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    ref_lists: AtomicU64,
    fetches: AtomicU64,
    checkouts: AtomicU64,
    evictions: AtomicU64,
    mirrors_removed: AtomicU64,
}

/// What the cache knows about one mirror directory.
struct MirrorUse {
    /// Bytes on disk (measured after each fetch into it).
    bytes: u64,
    /// Owners whose latest request named this mirror's URL.
    owners: HashSet<OwnerKey>,
    /// The latest fetch or ref listing on it (or when the cache was opened).
    last_used: Instant,
}

#[derive(Default)]
struct State {
    index: LruIndex,
    /// `<commit>-<ignore hash>` -> digest.
    keys: HashMap<String, Digest>,
    /// Mirror directory name -> its use.
    mirrors: HashMap<String, MirrorUse>,
    /// Owner -> the mirror directory its latest request used.
    mirror_of_owner: HashMap<OwnerKey, String>,
}

impl State {
    fn mirror_bytes(&self) -> u64 {
        self.mirrors.values().map(|m| m.bytes).sum()
    }

    /// Record that `owner` (if any) used mirror `key` now.
    fn use_mirror(&mut self, key: &str, owner: Option<&OwnerKey>) {
        let mirror = self
            .mirrors
            .entry(key.to_owned())
            .or_insert_with(|| MirrorUse {
                bytes: 0,
                owners: HashSet::new(),
                last_used: Instant::now(),
            });
        mirror.last_used = Instant::now();
        let Some(owner) = owner else {
            return;
        };
        mirror.owners.insert(owner.clone());
        if let Some(old) = self.mirror_of_owner.insert(owner.clone(), key.to_owned())
            && old != key
            && let Some(m) = self.mirrors.get_mut(&old)
        {
            m.owners.remove(owner);
        }
    }

    /// Forget `owner`'s reference to its mirror.
    fn release_mirror(&mut self, owner: &OwnerKey) {
        if let Some(key) = self.mirror_of_owner.remove(owner)
            && let Some(m) = self.mirrors.get_mut(&key)
        {
            m.owners.remove(owner);
        }
    }
}

type Flight = Arc<OnceCell<Result<Artifact, Error>>>;

type MirrorLock = Arc<tokio::sync::Mutex<()>>;

struct Inner {
    dir: PathBuf,
    budget: u64,
    limits: Limits,
    mirror_grace: Duration,
    state: Mutex<State>,
    counters: Counters,
    flights: Mutex<HashMap<String, Flight>>,
    /// Mirror directory name -> the lock serializing git work on it. An entry lives while
    /// someone holds or waits for the lock.
    mirror_locks: Mutex<HashMap<String, MirrorLock>>,
    last_sweep: Mutex<Option<Instant>>,
    temp_seq: AtomicU64,
}

/// Holds the lock of one mirror; on drop, forgets the lock if nobody else wants it.
struct MirrorGuard {
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    key: String,
    inner: Arc<Inner>,
}

impl Drop for MirrorGuard {
    fn drop(&mut self) {
        self.guard.take();
        self.inner.forget_idle_lock(&self.key);
    }
}

/// Removes a single-flight entry once it has finished, or once its last waiter gave up
/// (a cancelled fetch), so the map only holds flights in progress.
struct FlightGuard<'a> {
    inner: &'a Inner,
    key: String,
    flight: Flight,
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        let mut flights = lock(&self.inner.flights);
        let ours = flights
            .get(&self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight));
        // Two references: the map's and ours; more means someone else still waits.
        if ours && (self.flight.initialized() || Arc::strong_count(&self.flight) == 2) {
            flights.remove(&self.key);
        }
    }
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

/// Checks the signatures `verification` asks for on `commit` (and the tag `resolved` went
/// through); what was verified with which keys.
fn verify_signatures(
    repo: &gix::Repository,
    commit: ObjectId,
    resolved: &Resolved,
    verification: &Verification,
    url: &str,
) -> Result<String, Error> {
    let fail = |object: String, reason: &'static str, message: String| Error::Verification {
        url: url.to_owned(),
        object,
        reason,
        message,
    };
    let raw = |id: ObjectId, what: &str| -> Result<Vec<u8>, Error> {
        repo.find_object(id)
            .map(|o| o.data.clone())
            .map_err(|e| Error::Mirror {
                url: url.to_owned(),
                mirror: repo.path().to_owned(),
                message: format!("{what} {id}: {e}"),
            })
    };
    let mut verified = Vec::new();
    if matches!(verification.mode, VerifyMode::Tag | VerifyMode::TagAndHead) {
        let tag = resolved.tag.as_ref().ok_or_else(|| {
            fail(
                format!("commit '{commit}'"),
                "InvalidVerificationMode",
                "cannot verify a tag's signature: spec.ref names no tag (use ref.tag, ref.semver or a refs/tags/ ref.name)".to_owned(),
            )
        })?;
        let object = tag.object.as_deref().ok_or_else(|| {
            fail(
                format!("tag '{}'", tag.name),
                "InvalidGitObject",
                "cannot verify the signature of a lightweight tag (it is not signed)".to_owned(),
            )
        })?;
        let id = ObjectId::from_hex(object.as_bytes())
            .map_err(|e| Error::InvalidReference(format!("{object}: {e}")))?;
        let key = crate::signature::verify_tag(&raw(id, "tag")?, &verification.keys)
            .map_err(|r| fail(format!("tag '{}'", tag.name), r.reason, r.message))?;
        verified.push(format!("tag '{}' with key '{key}'", tag.name));
    }
    if matches!(verification.mode, VerifyMode::Head | VerifyMode::TagAndHead) {
        let key = crate::signature::verify_commit(&raw(commit, "commit")?, &verification.keys)
            .map_err(|r| fail(format!("commit '{commit}'"), r.reason, r.message))?;
        verified.push(format!("commit '{commit}' with key '{key}'"));
    }
    Ok(format!("verified signature of {}", verified.join(" and ")))
}

/// The `keys/` name of one commit checked out with `ignore` rules and `sparse` directories.
/// Without sparse directories it is `<commit>-<ignore hash>`, as before they existed.
fn content_key(commit: &str, ignore: Option<&str>, sparse: &[String]) -> String {
    let ignore = short_hash(ignore.unwrap_or_default());
    if sparse.is_empty() {
        format!("{commit}-{ignore}")
    } else {
        format!("{commit}-{ignore}-{}", short_hash(&sparse.join("\0")))
    }
}

/// State of one submodule walk: what was asked, the count so far, the mirrors whose locks
/// this thread holds, and the listings found.
struct SubmoduleWalk<'a> {
    req: &'a FetchRequest,
    interrupt: &'a AtomicBool,
    count: usize,
    held: Vec<String>,
    out: &'a mut Vec<(gix::Repository, crate::checkout::Listing)>,
}

fn lock_state(inner: &Inner) -> MutexGuard<'_, State> {
    lock(&inner.state)
}

/// The directory name of the mirror of `url` (also the key of its lock and use record).
fn mirror_key(url: &str) -> String {
    short_hash(url)[..32].to_owned()
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
        Self::open_with(dir, CacheOptions::new(budget_bytes))
    }

    /// [`SourceCache::open`] with explicit limits and mirror grace period.
    pub fn open_with(dir: impl Into<PathBuf>, options: CacheOptions) -> Result<Self, Error> {
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
        let mut found_mirrors = Vec::new();
        for entry in
            std::fs::read_dir(&mirrors).map_err(|e| Error::storage("reading", &mirrors, e))?
        {
            let entry = entry.map_err(|e| Error::storage("reading", &mirrors, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let p = entry.path();
            if name.contains(".init-") {
                std::fs::remove_dir_all(&p).map_err(|e| Error::storage("removing", &p, e))?;
            } else if p.is_dir() {
                // Nobody references it yet: it goes after the grace period unless claimed.
                found_mirrors.push((name, dir_size(&p)?));
            }
        }
        let mut state = State::default();
        for (name, bytes) in found_mirrors {
            state.mirrors.insert(
                name,
                MirrorUse {
                    bytes,
                    owners: HashSet::new(),
                    last_used: Instant::now(),
                },
            );
        }
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
                budget: options.budget_bytes,
                limits: options.limits,
                mirror_grace: options.mirror_grace,
                state: Mutex::new(state),
                counters: Counters::default(),
                flights: Mutex::new(HashMap::new()),
                mirror_locks: Mutex::new(HashMap::new()),
                last_sweep: Mutex::new(None),
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
        let guard = FlightGuard {
            inner: &self.inner,
            key,
            flight,
        };
        let result = guard
            .flight
            .get_or_init(|| self.fetch_uncached(req))
            .await
            .clone();
        drop(guard);
        self.sweep_if_due().await;
        result
    }

    /// Ask the remote what `req.reference` points at now: one ref advertisement, no
    /// object transfer, no writes (beyond creating the URL's empty mirror the first time).
    pub async fn resolve(&self, req: &FetchRequest) -> Result<RemoteRevision, Error> {
        let plan = req.reference.plan()?;
        let guard = self.lock_mirror(&req.url).await;
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
        // Spec paths are checked before anything touches the network or the disk.
        let sparse = req.sparse_dirs()?;
        let guard = self.lock_mirror(&req.url).await;
        let inner = self.inner.clone();
        let req2 = req.clone();
        self.run_blocking(&req, move |interrupt| {
            let _guard = guard;
            inner.fetch_blocking(&req2, &plan, &sparse, interrupt)
        })
        .await
    }

    /// Store the archive of `req` as an artifact (or find the one stored before), extracting
    /// it on a blocking thread. Concurrent requests with the same key and ignore rules share
    /// one extraction.
    pub async fn import_tar_gz(&self, req: ImportRequest) -> Result<Artifact, Error> {
        let key = format!("import\n{}\n{:?}", req.key, req.ignore);
        let flight: Flight = lock(&self.inner.flights)
            .entry(key.clone())
            .or_default()
            .clone();
        let guard = FlightGuard {
            inner: &self.inner,
            key,
            flight,
        };
        let inner = self.inner.clone();
        let result = guard
            .flight
            .get_or_init(|| async move {
                tokio::task::spawn_blocking(move || inner.import_blocking(&req))
                    .await
                    .map_err(|e| Error::Task(e.to_string()))?
            })
            .await
            .clone();
        drop(guard);
        result
    }

    /// The artifact of `req.base` with each include's artifact (sub)tree copied in at its
    /// `toPath`, and the base's ignore rules applied to the whole (as Flux archives it). The
    /// revision and commit stay the base's; the digest is that of the combined content, so it
    /// changes whenever an included artifact's content does. Paths are checked before
    /// anything is read; a `toPath` that already exists, a missing `fromPath`, an included
    /// artifact not in the cache or a combined tree over the limits is refused and nothing
    /// is written. Requests with equal inputs share one composition.
    pub async fn compose(&self, req: ComposeRequest) -> Result<Artifact, Error> {
        let mut key = format!("compose\n{}\n{:?}", req.base.digest, req.ignore);
        for inc in &req.includes {
            key.push_str(&format!(
                "\n{}\n{}\n{:?}\n{:?}",
                inc.name, inc.digest, inc.from_path, inc.to_path
            ));
        }
        let flight: Flight = lock(&self.inner.flights)
            .entry(key.clone())
            .or_default()
            .clone();
        let guard = FlightGuard {
            inner: &self.inner,
            key: key.clone(),
            flight,
        };
        let inner = self.inner.clone();
        let result = guard
            .flight
            .get_or_init(|| async move {
                tokio::task::spawn_blocking(move || inner.compose_blocking(&req, &key))
                    .await
                    .map_err(|e| Error::Task(e.to_string()))?
            })
            .await
            .clone();
        drop(guard);
        result
    }

    /// A fresh path in the cache's staging directory (same filesystem as the artifacts), for
    /// downloads the caller then hands to [`SourceCache::import_tar_gz`]. Emptied on open.
    pub fn staging_path(&self, label: &str) -> PathBuf {
        self.inner.temp_path(label)
    }

    /// Take the lock serializing all git work on the mirror of `url`.
    async fn lock_mirror(&self, url: &str) -> MirrorGuard {
        let key = mirror_key(url);
        let mutex = self.inner.mirror_lock(&key);
        let guard = mutex.lock_owned().await;
        MirrorGuard {
            guard: Some(guard),
            key,
            inner: self.inner.clone(),
        }
    }

    /// Remove mirrors that no owner references and nobody used for the grace period
    /// (skipping any being fetched right now); returns how many were removed. Also runs
    /// on its own after fetches, at most once per grace period (and per minute).
    pub async fn sweep_mirrors(&self) -> usize {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.sweep_mirrors())
            .await
            .unwrap_or(0)
    }

    async fn sweep_if_due(&self) {
        let every = self.inner.mirror_grace.min(Duration::from_secs(60));
        let due = {
            let mut last = lock(&self.inner.last_sweep);
            let due = last.is_none_or(|t| t.elapsed() >= every);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            self.sweep_mirrors().await;
        }
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

    /// Release the pin of `owner` and its reference to a mirror (e.g. when the object is
    /// deleted): the mirror goes after the grace period unless someone else uses it.
    pub fn unpin(&self, owner: &OwnerKey) {
        let mut state = lock(&self.inner.state);
        state.index.unpin(owner);
        state.release_mirror(owner);
    }

    /// Number of per-mirror locks currently held or waited for (for tests and metrics).
    pub fn mirror_locks(&self) -> usize {
        lock(&self.inner.mirror_locks).len()
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
            mirror_bytes: state.mirror_bytes(),
            mirrors: state.mirrors.len() as u64,
            mirrors_removed: c.mirrors_removed.load(Ordering::Relaxed),
        }
    }
}

impl Inner {
    fn artifact_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("artifacts").join(digest.hex())
    }

    /// Moves a complete `staging` directory to `target` (its artifact path) and makes the
    /// rename durable. Another writer that published the same digest first wins: the
    /// content is the same, so `staging` is dropped. `staging` never outlives a failure.
    fn publish_artifact(&self, staging: &Path, target: &Path) -> Result<(), Error> {
        match std::fs::rename(staging, target) {
            Ok(()) => {}
            Err(_) if target.is_dir() => {
                let _ = std::fs::remove_dir_all(staging);
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(staging);
                return Err(Error::storage("publishing", target, e));
            }
        }
        sync_parent(target)?;
        self.counters.checkouts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn temp_path(&self, label: &str) -> PathBuf {
        let n = self.temp_seq.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join("tmp")
            .join(format!("{label}-{}-{n}", std::process::id()))
    }

    fn mirror_path(&self, url: &str) -> PathBuf {
        self.dir.join("mirrors").join(mirror_key(url))
    }

    fn mirror_lock(&self, key: &str) -> MirrorLock {
        lock(&self.mirror_locks)
            .entry(key.to_owned())
            .or_default()
            .clone()
    }

    /// Drop the lock entry of mirror `key` if nobody holds or waits for it.
    fn forget_idle_lock(&self, key: &str) {
        let mut locks = lock(&self.mirror_locks);
        if locks.get(key).is_some_and(|m| Arc::strong_count(m) == 1) {
            locks.remove(key);
        }
    }

    fn sweep_mirrors(self: &Arc<Self>) -> usize {
        let candidates: Vec<String> = {
            let state = lock(&self.state);
            state
                .mirrors
                .iter()
                .filter(|(_, m)| m.owners.is_empty() && m.last_used.elapsed() >= self.mirror_grace)
                .map(|(k, _)| k.clone())
                .collect()
        };
        let mut removed = 0;
        for key in candidates {
            let mutex = self.mirror_lock(&key);
            let Ok(guard) = mutex.try_lock_owned() else {
                continue; // being fetched: in use after all
            };
            let guard = MirrorGuard {
                guard: Some(guard),
                key: key.clone(),
                inner: self.clone(),
            };
            {
                let mut state = lock(&self.state);
                let still_idle = state.mirrors.get(&key).is_some_and(|m| {
                    m.owners.is_empty() && m.last_used.elapsed() >= self.mirror_grace
                });
                if !still_idle {
                    continue;
                }
                state.mirrors.remove(&key);
            }
            let path = self.dir.join("mirrors").join(&key);
            let doomed = self.temp_path("mirror");
            if std::fs::rename(&path, &doomed).is_ok() {
                let _ = std::fs::remove_dir_all(&doomed);
            }
            drop(guard);
            self.counters
                .mirrors_removed
                .fetch_add(1, Ordering::Relaxed);
            removed += 1;
            tracing::debug!(mirror = key.as_str(), "removed unreferenced mirror");
        }
        // Locks abandoned by cancelled waiters.
        lock(&self.mirror_locks).retain(|_, m| Arc::strong_count(m) > 1);
        removed
    }

    /// Re-measure mirror `key` after a fetch into it.
    fn measure_mirror(&self, key: &str, path: &Path) {
        let bytes = dir_size(path).unwrap_or(0);
        if let Some(m) = lock(&self.state).mirrors.get_mut(key) {
            m.bytes = bytes;
        }
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
            let repo = open_or_init_mirror(&self.mirror_path(&req.url), &display, &self.limits)?;
            lock(&self.state).use_mirror(&mirror_key(&req.url), req.owner.as_ref());
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
        sparse: &[String],
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
        let tag_object_missing = req
            .verify
            .as_ref()
            .is_some_and(|v| v.mode != VerifyMode::Head)
            && resolved
                .tag
                .as_ref()
                .and_then(|t| t.object.as_deref())
                .and_then(|o| ObjectId::from_hex(o.as_bytes()).ok())
                .is_some_and(|o| !repo.has_object(o));
        let repo = if !repo.has_object(commit) || needs_history || tip_missing || tag_object_missing
        {
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
            let fetched = fetch_refs(
                &repo,
                &spec,
                &resolved.fetch_refs,
                shallow,
                interrupt,
                &self.limits,
            );
            tracing::debug!(url = url_shown.as_str(), elapsed = ?started.elapsed(), ok = fetched.is_ok(), "fetched into mirror");
            if scratch.exists() {
                let _ = std::fs::remove_dir_all(&scratch);
            }
            self.measure_mirror(&mirror_key(&req.url), &mirror);
            fetched.map_err(|e| match e {
                Error::LimitExceeded { url, message, .. } => Error::LimitExceeded {
                    url,
                    commit: commit.to_string(),
                    message,
                },
                other => other,
            })?;
            let repo = open_mirror(&mirror, &url_shown, &self.limits)?;
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

        // Signatures first: an unverified commit is never checked out.
        let verified = match &req.verify {
            Some(verification) => Some(verify_signatures(
                &repo,
                commit,
                &resolved,
                verification,
                &url_shown,
            )?),
            None => None,
        };
        let mut key = content_key(&commit.to_string(), req.ignore.as_deref(), sparse);
        if req.recurse_submodules {
            key.push_str("-submodules");
        }
        if let Some(mut artifact) = self.lookup(&key, &resolved) {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            artifact.verified = verified;
            return Ok(artifact);
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let listing = list_commit(
            &repo,
            commit,
            req.ignore.as_deref(),
            sparse,
            &url_shown,
            &self.limits,
        )?;
        let mut submodules = Vec::new();
        let mut listing = listing;
        if req.recurse_submodules && !listing.gitlinks.is_empty() {
            let mut walk = SubmoduleWalk {
                req,
                interrupt,
                count: 0,
                held: vec![mirror_key(&req.url)],
                out: &mut submodules,
            };
            self.submodules(&mut walk, &repo, commit, &req.url, &listing.gitlinks, "", 1)?;
            let mut all = listing.files.clone();
            for (_, sub) in &submodules {
                all.extend(sub.files.iter().cloned());
            }
            let total: u64 = all.iter().map(|f| f.size).sum();
            if total > self.limits.max_artifact_bytes {
                return Err(Error::LimitExceeded {
                    url: url_shown.clone(),
                    commit: commit.to_string(),
                    message: format!(
                        "the files with submodules add up to {total} bytes, over the artifact limit of {} bytes (--max-artifact-bytes)",
                        self.limits.max_artifact_bytes
                    ),
                });
            }
            listing.digest = crate::digest::digest_of(&all);
        }
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
            let written = submodules.iter().try_fold(
                write_listing(&repo, &listing, &staging, &url_shown),
                |acc, (sub, sub_listing)| -> Result<Result<u64, Error>, Error> {
                    Ok(match acc {
                        Ok(n) => {
                            write_listing(sub, sub_listing, &staging, &url_shown).map(|m| n + m)
                        }
                        Err(e) => Err(e),
                    })
                },
            )?;
            tracing::debug!(url = url_shown.as_str(), %digest, files = listing.files.len(), elapsed = ?started.elapsed(), "checked out");
            let size = match written {
                Ok(size) => size,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&staging);
                    return Err(e);
                }
            };
            self.publish_artifact(&staging, &target)?;
            size
        };
        self.record(key, &digest, size)?;
        Ok(Artifact {
            revision: resolved.revision,
            commit: resolved.commit,
            path: target,
            digest,
            size,
            verified,
        })
    }

    /// Fetch and list the submodules at `gitlinks` of `commit` (of the repository at `url`),
    /// and theirs, into `walk.out` with paths below `prefix`.
    #[allow(clippy::too_many_arguments)]
    fn submodules(
        &self,
        walk: &mut SubmoduleWalk<'_>,
        repo: &gix::Repository,
        commit: ObjectId,
        url: &str,
        gitlinks: &[(String, ObjectId)],
        prefix: &str,
        depth: usize,
    ) -> Result<(), Error> {
        use crate::submodules::{MAX_SUBMODULE_DEPTH, MAX_SUBMODULES, origin, resolve_url};
        let top = display_url(&walk.req.url);
        let fail = |path: &str, reason: &'static str, message: String| Error::Submodule {
            url: top.clone(),
            path: path.to_owned(),
            message,
            reason,
        };
        let gitmodules = repo
            .find_commit(commit)
            .ok()
            .and_then(|c| c.tree().ok())
            .and_then(|t| t.lookup_entry_by_path(".gitmodules").ok().flatten())
            .and_then(|e| e.object().ok())
            .map(|o| o.data.clone())
            .unwrap_or_default();
        let entries = crate::submodules::parse_gitmodules(&gitmodules)
            .map_err(|m| fail(prefix, "GitOperationFailed", m))?;
        for (path, sub_commit) in gitlinks {
            let full = if prefix.is_empty() {
                path.clone()
            } else {
                format!("{prefix}/{path}")
            };
            walk.count += 1;
            if walk.count > MAX_SUBMODULES {
                return Err(fail(
                    &full,
                    "GitOperationFailed",
                    format!("more than {MAX_SUBMODULES} submodules"),
                ));
            }
            if depth > MAX_SUBMODULE_DEPTH {
                return Err(fail(
                    &full,
                    "GitOperationFailed",
                    format!("submodules nested deeper than {MAX_SUBMODULE_DEPTH}"),
                ));
            }
            let raw = entries
                .iter()
                .find(|(p, _)| {
                    crate::relative_path::normalize(p).ok().as_deref() == Some(path.as_str())
                })
                .map(|(_, u)| u.clone())
                .ok_or_else(|| {
                    fail(
                        &full,
                        "GitOperationFailed",
                        "no url for it in .gitmodules".to_owned(),
                    )
                })?;
            let sub_url = resolve_url(url, &raw).map_err(|m| fail(&full, "URLNotAllowed", m))?;
            let shown = display_url(&sub_url);
            if let Some(check) = &walk.req.submodule_url_check {
                check(&sub_url).map_err(|m| fail(&full, "URLNotAllowed", m))?;
            }
            // Credentials only to the superproject's own origin.
            let auth = walk.req.auth.as_ref().filter(|_| {
                origin(&sub_url).is_some() && origin(&sub_url) == origin(&walk.req.url)
            });
            let key = mirror_key(&sub_url);
            let lock = (!walk.held.contains(&key)).then(|| self.mirror_lock(&key));
            let guard = lock.as_ref().map(|m| m.clone().blocking_lock_owned());
            walk.held.push(key.clone());
            let result = (|| {
                let sub = open_or_init_mirror(&self.mirror_path(&sub_url), &shown, &self.limits)?;
                lock_state(self).use_mirror(&key, None);
                let sub = if sub.has_object(*sub_commit) {
                    sub
                } else {
                    let scratch = self.temp_path("ssh");
                    let spec = RemoteSpec::new(&sub_url, auth, scratch.clone());
                    self.counters.fetches.fetch_add(1, Ordering::Relaxed);
                    let fetched = fetch_refs(
                        &sub,
                        &spec,
                        &["refs/heads/*".to_owned(), "refs/tags/*".to_owned()],
                        Shallow::NoChange,
                        walk.interrupt,
                        &self.limits,
                    );
                    if scratch.exists() {
                        let _ = std::fs::remove_dir_all(&scratch);
                    }
                    self.measure_mirror(&key, sub.path());
                    fetched?;
                    let sub = open_mirror(sub.path(), &shown, &self.limits)?;
                    if !sub.has_object(*sub_commit) {
                        return Err(fail(
                            &full,
                            "GitOperationFailed",
                            format!("commit {sub_commit} not found on {shown}"),
                        ));
                    }
                    sub
                };
                let mut listing = list_commit(&sub, *sub_commit, None, &[], &shown, &self.limits)?;
                let rules = crate::ignore_rules::IgnoreRules::new(&[], walk.req.ignore.as_deref());
                for f in &mut listing.files {
                    f.path = format!("{full}/{}", f.path);
                }
                listing.files.retain(|f| {
                    let parts: Vec<&str> = f.path.split('/').collect();
                    !(1..=parts.len())
                        .any(|n| rules.is_excluded(&parts[..n].join("/"), n < parts.len()))
                });
                let nested = std::mem::take(&mut listing.gitlinks);
                if !nested.is_empty() {
                    self.submodules(walk, &sub, *sub_commit, &sub_url, &nested, &full, depth + 1)?;
                }
                walk.out.push((sub, listing));
                Ok(())
            })();
            walk.held.pop();
            drop(guard);
            if lock.is_some() {
                drop(lock);
                self.forget_idle_lock(&key);
            }
            result?;
        }
        Ok(())
    }

    fn import_blocking(&self, req: &ImportRequest) -> Result<Artifact, Error> {
        let key = format!(
            "import-{}-{}",
            short_hash(&req.key),
            short_hash(req.ignore.as_deref().unwrap_or_default())
        );
        let resolved = Resolved {
            revision: req.revision.clone(),
            commit: req.key.clone(),
            fetch_refs: Vec::new(),
            must_be_reachable_from: None,
            tag: None,
        };
        if let Some(artifact) = self.lookup(&key, &resolved) {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(artifact);
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let file = std::fs::File::open(&req.archive)
            .map_err(|e| Error::storage("reading", &req.archive, e))?;
        let staging = self.temp_path("import");
        let extracted = crate::tar_import::extract_tar_gz(
            std::io::BufReader::new(file),
            &staging,
            &self.limits,
            req.ignore.as_deref(),
            &req.origin,
            &req.revision,
        );
        let extracted = match extracted {
            Ok(extracted) => extracted,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        };
        let digest = crate::tar_import::digest(&extracted.files);
        let target = self.artifact_path(&digest);
        if target.is_dir() {
            let _ = std::fs::remove_dir_all(&staging);
        } else {
            let dir = std::fs::File::open(&staging)
                .map_err(|e| Error::storage("syncing", &staging, e))?;
            rustix::fs::syncfs(&dir).map_err(|e| Error::storage("syncing", &staging, e))?;
            self.publish_artifact(&staging, &target)?;
        }
        if req.keep_tarball {
            let path = self.tarball_path(&digest);
            let tmp = self.temp_path("tarball");
            std::fs::copy(&req.archive, &tmp).map_err(|e| Error::storage("copying", &tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| Error::storage("publishing", &path, e))?;
        }
        self.record(key, &digest, extracted.bytes)?;
        Ok(Artifact {
            revision: req.revision.clone(),
            commit: req.key.clone(),
            path: target,
            digest,
            size: extracted.bytes,
            verified: None,
        })
    }

    fn compose_blocking(&self, req: &ComposeRequest, flight_key: &str) -> Result<Artifact, Error> {
        let key = format!("compose-{}", short_hash(flight_key));
        let base = &req.base;
        let mut checked = Vec::with_capacity(req.includes.len());
        for (i, inc) in req.includes.iter().enumerate() {
            // Paths first: nothing is read for a hostile spec.
            checked.push(inc.check(i, PathBuf::new())?);
        }
        let resolved = Resolved {
            revision: base.revision.clone(),
            commit: base.commit.clone(),
            fetch_refs: Vec::new(),
            must_be_reachable_from: None,
            tag: None,
        };
        if let Some(mut artifact) = self.lookup(&key, &resolved) {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            artifact.verified = base.verified.clone();
            return Ok(artifact);
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let present = |digest: &Digest| lock(&self.state).index.touch(digest);
        if !present(&base.digest) {
            return Err(Error::ArtifactNotFound(base.digest.to_string()));
        }
        for (inc, checked) in req.includes.iter().zip(checked.iter_mut()) {
            if !present(&inc.digest) {
                return Err(Error::Include {
                    include: inc.name.clone(),
                    from_path: checked.from.clone(),
                    to_path: checked.to.clone(),
                    message: format!("its artifact {} is not in the source cache", inc.digest),
                });
            }
            checked.dir = self.artifact_path(&inc.digest);
        }
        let plan = crate::compose::plan(
            &self.artifact_path(&base.digest),
            &checked,
            req.ignore.as_deref(),
            &self.limits,
        )?;
        let digest = plan.digest.clone();
        let target = self.artifact_path(&digest);
        if !target.is_dir() {
            let staging = self.temp_path("compose");
            if let Err(e) = crate::compose::write(&plan, &staging) {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
            self.publish_artifact(&staging, &target)?;
        }
        self.record(key, &digest, plan.bytes)?;
        Ok(Artifact {
            revision: base.revision.clone(),
            commit: base.commit.clone(),
            path: target,
            digest,
            size: plan.bytes,
            verified: base.verified.clone(),
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
            verified: None,
        })
    }

    /// Records a published artifact: `key` now names `digest` (on disk and in the index),
    /// then evicts what the budget no longer holds, never `digest` itself.
    fn record(&self, key: String, digest: &Digest, size: u64) -> Result<(), Error> {
        self.write_key(&key, digest)?;
        {
            let mut state = lock(&self.state);
            state.index.insert(digest.clone(), size);
            state.keys.insert(key, digest.clone());
        }
        self.evict(digest);
        Ok(())
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
            // Mirrors count toward the budget; only artifacts can be evicted for it.
            let budget = self.budget.saturating_sub(state.mirror_bytes());
            let plan = state.index.eviction_plan(budget, Some(keep));
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
