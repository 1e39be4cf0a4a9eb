//! Turn one commit of a mirror into an artifact tree: list the files that survive the
//! ignore rules (which also yields the digest), refusing hostile entry names and anything
//! over the [`Limits`] before a byte is written, then write them into a staging
//! directory and make it durable (fsync files and directories) so the caller can
//! publish it with a single rename.

use std::fs;
use std::io::Write;
use std::path::Path;

use gix::ObjectId;

use crate::digest::{Digest, ListedFile, digest_of};
use crate::entry_name;
use crate::error::Error;
use crate::ignore_rules::{IgnoreRules, SOURCEIGNORE_FILE};
use crate::limits::Limits;

/// The files of a commit after ignore rules, with their digest.
pub(crate) struct Listing {
    pub files: Vec<ListedFile>,
    pub digest: Digest,
    /// Submodule commits (gitlinks) at paths the ignore rules keep: `(path, commit)`.
    pub gitlinks: Vec<(String, ObjectId)>,
}

enum Kind {
    Dir,
    File { executable: bool },
    Gitlink,
}

struct TreeEntry {
    path: String,
    kind: Kind,
    id: ObjectId,
}

fn mirror_err(mirror: &Path, url: &str, what: String) -> Error {
    Error::Mirror {
        url: url.to_owned(),
        mirror: mirror.to_owned(),
        message: what,
    }
}

/// What one walk of a commit's tree needs to know and report.
struct Walk<'a> {
    repo: &'a gix::Repository,
    url: &'a str,
    commit: ObjectId,
    limits: &'a Limits,
    out: Vec<TreeEntry>,
}

impl Walk<'_> {
    fn limit(&self, message: String) -> Error {
        Error::LimitExceeded {
            url: self.url.to_owned(),
            commit: self.commit.to_string(),
            message,
        }
    }

    /// Walk `tree` depth-first (pre-order), collecting directories and regular files.
    /// Symlinks and submodules are skipped, but every entry's name is checked first: a
    /// hostile name refuses the whole commit before anything touches disk.
    fn tree(&mut self, tree: ObjectId, prefix: &str, depth: usize) -> Result<(), Error> {
        if depth > self.limits.max_tree_depth {
            return Err(self.limit(format!(
                "directory \"{prefix}\" is nested deeper than the limit of {} (--max-tree-depth)",
                self.limits.max_tree_depth
            )));
        }
        let repo = self.repo;
        let tree = repo
            .find_tree(tree)
            .map_err(|e| mirror_err(repo.path(), self.url, format!("tree {tree}: {e}")))?;
        let mut children = Vec::new();
        for entry in tree.iter() {
            let entry =
                entry.map_err(|e| mirror_err(repo.path(), self.url, format!("tree entry: {e}")))?;
            let raw: &[u8] = entry.filename().as_ref();
            if let Err(refusal) = entry_name::check(raw) {
                let shown = entry_name::escaped(raw);
                return Err(Error::UnsafeTreeEntry {
                    url: self.url.to_owned(),
                    commit: self.commit.to_string(),
                    path: if prefix.is_empty() {
                        shown
                    } else {
                        format!("{}/{shown}", entry_name::escaped(prefix.as_bytes()))
                    },
                    message: refusal.to_string(),
                });
            }
            let name = entry.filename().to_string();
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let mode = entry.mode();
            let kind = if mode.is_tree() {
                Kind::Dir
            } else if mode.is_blob() {
                Kind::File {
                    executable: mode.is_executable(),
                }
            } else if mode.is_commit() {
                Kind::Gitlink
            } else {
                continue;
            };
            children.push(TreeEntry {
                path,
                kind,
                id: entry.object_id(),
            });
        }
        if self.out.len() + children.len() > self.limits.max_tree_entries {
            return Err(self.limit(format!(
                "the tree has more than {} files and directories (--max-tree-entries)",
                self.limits.max_tree_entries
            )));
        }
        for child in children {
            let (is_dir, id, path) = (
                matches!(child.kind, Kind::Dir),
                child.id,
                child.path.clone(),
            );
            self.out.push(child);
            if is_dir {
                self.tree(id, &path, depth + 1)?;
            }
        }
        Ok(())
    }

    /// Walk only the subtrees at `dirs`, with their ancestor directories listed once each
    /// (so ignore rules on an ancestor still apply below it).
    fn sparse(&mut self, root: ObjectId, dirs: &[String]) -> Result<(), Error> {
        let repo = self.repo;
        let root = repo
            .find_tree(root)
            .map_err(|e| mirror_err(repo.path(), self.url, format!("tree {root}: {e}")))?;
        let mut listed = std::collections::HashSet::new();
        for dir in dirs {
            let missing = |message: &str| Error::SparseCheckout {
                url: self.url.to_owned(),
                commit: self.commit.to_string(),
                path: dir.clone(),
                message: message.to_owned(),
            };
            let entry = root
                .lookup_entry_by_path(dir.as_str())
                .map_err(|e| mirror_err(repo.path(), self.url, format!("{dir}: {e}")))?
                .ok_or_else(|| missing("does not exist in repository"))?;
            if !entry.mode().is_tree() {
                return Err(missing("is not a directory"));
            }
            let mut ancestor = String::new();
            let mut depth = 0;
            for part in dir.split('/') {
                if !ancestor.is_empty() {
                    ancestor.push('/');
                }
                ancestor.push_str(part);
                depth += 1;
                if listed.insert(ancestor.clone()) {
                    self.out.push(TreeEntry {
                        path: ancestor.clone(),
                        kind: Kind::Dir,
                        id: ObjectId::null(gix::hash::Kind::Sha1),
                    });
                }
            }
            self.tree(entry.object_id(), dir, depth + 1)?;
        }
        Ok(())
    }

    /// The size of blob `id` at `path` from its object header (nothing is inflated),
    /// refused beyond `max_file_bytes`.
    fn blob_size(&self, id: ObjectId, path: &str) -> Result<u64, Error> {
        let size = self
            .repo
            .find_header(id)
            .map_err(|e| mirror_err(self.repo.path(), self.url, format!("{path}: {e}")))?
            .size();
        if size > self.limits.max_file_bytes {
            return Err(self.limit(format!(
                "file \"{}\" is {size} bytes, over the limit of {} bytes (--max-file-bytes)",
                entry_name::escaped(path.as_bytes()),
                self.limits.max_file_bytes
            )));
        }
        Ok(size)
    }
}

/// List the files of `commit` that survive Flux's default excludes, the tree's
/// `.sourceignore` files and `spec_ignore`, after checking every tree entry's name and
/// every file's size against `limits` (from object headers: nothing large is inflated).
///
/// With `sparse` (normalized directories, none inside another; see
/// [`crate::relative_path`]) only the trees below those directories are walked, as
/// `spec.sparseCheckout` asks; a directory the commit does not have is refused.
pub(crate) fn list_commit(
    repo: &gix::Repository,
    commit: ObjectId,
    spec_ignore: Option<&str>,
    sparse: &[String],
    url: &str,
    limits: &Limits,
) -> Result<Listing, Error> {
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree_id().map(|id| id.detach()))
        .map_err(|e| mirror_err(repo.path(), url, format!("commit {commit}: {e}")))?;
    let mut walk = Walk {
        repo,
        url,
        commit,
        limits,
        out: Vec::new(),
    };
    if sparse.is_empty() {
        walk.tree(tree, "", 1)?;
    } else {
        walk.sparse(tree, sparse)?;
    }
    let entries = std::mem::take(&mut walk.out);

    let mut sourceignores = Vec::new();
    for e in &entries {
        let (dir, name) = e.path.rsplit_once('/').unwrap_or(("", e.path.as_str()));
        if name == SOURCEIGNORE_FILE && matches!(e.kind, Kind::File { .. }) {
            walk.blob_size(e.id, &e.path)?;
            let blob = repo
                .find_blob(e.id)
                .map_err(|err| mirror_err(repo.path(), url, format!("{}: {err}", e.path)))?;
            sourceignores.push((dir.to_owned(), blob.data.clone()));
        }
    }
    let rules = IgnoreRules::new(&sourceignores, spec_ignore);

    let mut files = Vec::new();
    let mut gitlinks = Vec::new();
    let mut total = 0u64;
    let mut excluded_dir: Option<String> = None;
    for e in entries {
        if let Some(dir) = &excluded_dir {
            if e.path.starts_with(dir.as_str()) && e.path.as_bytes().get(dir.len()) == Some(&b'/') {
                continue;
            }
            excluded_dir = None;
        }
        let is_dir = matches!(e.kind, Kind::Dir | Kind::Gitlink);
        if rules.is_excluded(&e.path, is_dir) {
            if is_dir {
                excluded_dir = Some(e.path);
            }
            continue;
        }
        if let Kind::Gitlink = e.kind {
            gitlinks.push((e.path, e.id));
            continue;
        }
        if let Kind::File { executable } = e.kind {
            let size = walk.blob_size(e.id, &e.path)?;
            total = total.saturating_add(size);
            if total > limits.max_artifact_bytes {
                return Err(walk.limit(format!(
                    "the files up to \"{}\" add up to {total} bytes, over the artifact limit of {} bytes (--max-artifact-bytes)",
                    entry_name::escaped(e.path.as_bytes()),
                    limits.max_artifact_bytes
                )));
            }
            files.push(ListedFile {
                path: e.path,
                executable,
                blob: e.id.to_hex().to_string(),
                size,
            });
        }
    }
    let digest = digest_of(&files);
    Ok(Listing {
        files,
        digest,
        gitlinks,
    })
}

fn sync_dir(path: &Path) -> Result<(), Error> {
    fs::File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::storage("syncing", path, e))
}

/// Threads writing files of one checkout (file creation dominates on most disks).
const WRITERS: usize = 4;

/// Write `listing` into `staging` (which must not exist) and make it durable.
/// Returns the number of bytes written.
///
/// Directories are created first, then files are written by a few threads without
/// individual fsyncs; one `syncfs` on the staging directory's filesystem then flushes
/// them all (far cheaper than one fsync per file for trees of thousands of files),
/// before the caller publishes the tree by rename.
pub(crate) fn write_listing(
    repo: &gix::Repository,
    listing: &Listing,
    staging: &Path,
    url: &str,
) -> Result<u64, Error> {
    fs::create_dir_all(staging).map_err(|e| Error::storage("creating", staging, e))?;
    let dirs: std::collections::BTreeSet<&str> = listing
        .files
        .iter()
        .filter_map(|f| f.path.rsplit_once('/').map(|(d, _)| d))
        .collect();
    for d in dirs {
        let p = staging.join(d);
        fs::create_dir_all(&p).map_err(|e| Error::storage("creating", &p, e))?;
    }
    let chunk = listing.files.len().div_ceil(WRITERS).max(1);
    let totals: Vec<Result<u64, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = listing
            .files
            .chunks(chunk)
            .map(|files| {
                let repo = repo.clone();
                scope.spawn(move || write_files(&repo, files, staging, url))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Task("checkout writer panicked".into())))
            })
            .collect()
    });
    let mut bytes = 0;
    for t in totals {
        bytes += t?;
    }
    let dir = fs::File::open(staging).map_err(|e| Error::storage("syncing", staging, e))?;
    rustix::fs::syncfs(&dir).map_err(|e| Error::storage("syncing", staging, e))?;
    Ok(bytes)
}

fn write_files(
    repo: &gix::Repository,
    files: &[ListedFile],
    staging: &Path,
    url: &str,
) -> Result<u64, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut bytes = 0u64;
    for f in files {
        let target = staging.join(&f.path);
        let id = ObjectId::from_hex(f.blob.as_bytes())
            .map_err(|e| mirror_err(repo.path(), url, format!("{}: {e}", f.path)))?;
        let blob = repo
            .find_blob(id)
            .map_err(|e| mirror_err(repo.path(), url, format!("{}: {e}", f.path)))?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if f.executable { 0o755 } else { 0o644 })
            .open(&target)
            .map_err(|e| Error::storage("creating", &target, e))?;
        file.write_all(&blob.data)
            .map_err(|e| Error::storage("writing", &target, e))?;
        bytes += blob.data.len() as u64;
    }
    Ok(bytes)
}

/// Sync a directory entry after a rename into it.
pub(crate) fn sync_parent(path: &Path) -> Result<(), Error> {
    match path.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}
