//! Turn one commit of a mirror into an artifact tree: list the files that survive the
//! ignore rules (which also yields the digest), then write them into a staging
//! directory and make it durable (fsync files and directories) so the caller can
//! publish it with a single rename.

use std::fs;
use std::io::Write;
use std::path::Path;

use gix::ObjectId;

use crate::digest::{Digest, ListedFile, digest_of};
use crate::error::Error;
use crate::ignore_rules::{IgnoreRules, SOURCEIGNORE_FILE};

/// The files of a commit after ignore rules, with their digest.
pub(crate) struct Listing {
    pub files: Vec<ListedFile>,
    pub digest: Digest,
}

enum Kind {
    Dir,
    File { executable: bool },
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

/// Walk the tree of `commit` depth-first (pre-order), collecting directories and
/// regular files. Symlinks and submodules are skipped.
fn walk(
    repo: &gix::Repository,
    tree: ObjectId,
    prefix: &str,
    out: &mut Vec<TreeEntry>,
    url: &str,
) -> Result<(), Error> {
    let tree = repo
        .find_tree(tree)
        .map_err(|e| mirror_err(repo.path(), url, format!("tree {tree}: {e}")))?;
    let mut children = Vec::new();
    for entry in tree.iter() {
        let entry = entry.map_err(|e| mirror_err(repo.path(), url, format!("tree entry: {e}")))?;
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
        } else {
            continue;
        };
        children.push(TreeEntry {
            path,
            kind,
            id: entry.object_id(),
        });
    }
    for child in children {
        let (is_dir, id, path) = (
            matches!(child.kind, Kind::Dir),
            child.id,
            child.path.clone(),
        );
        out.push(child);
        if is_dir {
            walk(repo, id, &path, out, url)?;
        }
    }
    Ok(())
}

/// List the files of `commit` that survive Flux's default excludes, the tree's
/// `.sourceignore` files and `spec_ignore`.
pub(crate) fn list_commit(
    repo: &gix::Repository,
    commit: ObjectId,
    spec_ignore: Option<&str>,
    url: &str,
) -> Result<Listing, Error> {
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree_id().map(|id| id.detach()))
        .map_err(|e| mirror_err(repo.path(), url, format!("commit {commit}: {e}")))?;
    let mut entries = Vec::new();
    walk(repo, tree, "", &mut entries, url)?;

    let mut sourceignores = Vec::new();
    for e in &entries {
        let (dir, name) = e.path.rsplit_once('/').unwrap_or(("", e.path.as_str()));
        if name == SOURCEIGNORE_FILE && matches!(e.kind, Kind::File { .. }) {
            let blob = repo
                .find_blob(e.id)
                .map_err(|err| mirror_err(repo.path(), url, format!("{}: {err}", e.path)))?;
            sourceignores.push((dir.to_owned(), blob.data.clone()));
        }
    }
    let rules = IgnoreRules::new(&sourceignores, spec_ignore);

    let mut files = Vec::new();
    let mut excluded_dir: Option<String> = None;
    for e in entries {
        if let Some(dir) = &excluded_dir {
            if e.path.starts_with(dir.as_str()) && e.path.as_bytes().get(dir.len()) == Some(&b'/') {
                continue;
            }
            excluded_dir = None;
        }
        let is_dir = matches!(e.kind, Kind::Dir);
        if rules.is_excluded(&e.path, is_dir) {
            if is_dir {
                excluded_dir = Some(e.path);
            }
            continue;
        }
        if let Kind::File { executable } = e.kind {
            files.push(ListedFile {
                path: e.path,
                executable,
                blob: e.id.to_hex().to_string(),
            });
        }
    }
    let digest = digest_of(&files);
    Ok(Listing { files, digest })
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
