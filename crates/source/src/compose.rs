//! `spec.include`: a new artifact made of a base artifact (a checkout) with other
//! artifacts' (sub)trees copied in at given paths, then the base's ignore rules applied to
//! the whole, as Flux archives the combined directory.
//!
//! Everything is planned as a listing first (paths checked, collisions and limits found)
//! before a byte is written; files are then hard-linked from the source artifacts (they
//! are immutable) into a staging tree that is published by rename like any checkout.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::digest::{Digest, ListedFile, digest_of};
use crate::error::Error;
use crate::ignore_rules::{IgnoreRules, SOURCEIGNORE_FILE};
use crate::limits::Limits;
use crate::relative_path::is_within;

/// One `spec.include` entry, resolved to an artifact in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludedArtifact {
    /// The included GitRepository's name (for messages).
    pub name: String,
    /// Its artifact.
    pub digest: Digest,
    /// `fromPath` as written (`""`: the artifact root).
    pub from_path: String,
    /// `toPath` as written (callers default it to `name`, as Flux does).
    pub to_path: String,
}

/// [`IncludedArtifact`] with its paths checked and normalized.
pub(crate) struct CheckedInclude {
    pub name: String,
    pub dir: PathBuf,
    pub from: String,
    pub to: String,
}

impl IncludedArtifact {
    /// Normalize the paths of entry `index`; `toPath` must name a place below the root.
    pub(crate) fn check(&self, index: usize, dir: PathBuf) -> Result<CheckedInclude, Error> {
        let from = Error::checked_path(format!("spec.include[{index}].fromPath"), &self.from_path)?;
        let to_field = format!("spec.include[{index}].toPath");
        let to = Error::checked_path(to_field.clone(), &self.to_path)?;
        if to.is_empty() {
            return Err(Error::IllegalPath {
                field: to_field,
                path: self.to_path.escape_debug().to_string(),
                message: "must name a directory below the artifact root".to_owned(),
            });
        }
        Ok(CheckedInclude {
            name: self.name.clone(),
            dir,
            from,
            to,
        })
    }
}

/// A file of the composed artifact: where its bytes are, and its listing entry.
pub(crate) struct Planned {
    pub source: PathBuf,
    pub file: ListedFile,
}

/// The composed listing, keyed by path.
pub(crate) struct Plan {
    pub files: BTreeMap<String, Planned>,
    pub digest: Digest,
    pub bytes: u64,
}

/// Plan the artifact of `base` (an artifact directory) with `includes` copied in and the
/// rules of `.sourceignore` files plus `spec_ignore` applied, within `limits`.
pub(crate) fn plan(
    base: &Path,
    includes: &[CheckedInclude],
    spec_ignore: Option<&str>,
    limits: &Limits,
) -> Result<Plan, Error> {
    let mut files = BTreeMap::new();
    let mut budget = Budget {
        limits,
        entries: 0,
        bytes: 0,
    };
    collect(base, "", "", &mut files, &mut budget, &|m: &str| {
        Error::storage("reading", base, m)
    })?;
    for inc in includes {
        let fail = |message: String| Error::Include {
            include: inc.name.clone(),
            from_path: inc.from.clone(),
            to_path: inc.to.clone(),
            message,
        };
        let source = source_of(&inc.dir, &inc.from).map_err(&fail)?;
        if files.keys().any(|p: &String| is_within(p, &inc.to)) {
            return Err(fail("toPath already exists in the artifact".to_owned()));
        }
        if let Some(file) = files.keys().find(|p| is_within(&inc.to, p)) {
            return Err(fail(format!("'{file}' is a file in the artifact")));
        }
        match source {
            Source::File(path) => {
                let planned = plan_file(&path, &inc.to, &mut budget)?;
                files.insert(inc.to.clone(), planned);
            }
            Source::Dir(path) => {
                collect(&path, "", &inc.to, &mut files, &mut budget, &|m| {
                    fail(m.to_string())
                })?;
            }
        }
    }
    // The including repository's rules over everything, as Flux archives the directory.
    let sourceignores: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter(|(p, _)| p.rsplit('/').next() == Some(SOURCEIGNORE_FILE))
        .map(|(p, f)| {
            let dir = p.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            fs::read(&f.source)
                .map(|bytes| (dir.to_owned(), bytes))
                .map_err(|e| Error::storage("reading", &f.source, e))
        })
        .collect::<Result<_, _>>()?;
    let rules = IgnoreRules::new(&sourceignores, spec_ignore);
    files.retain(|path, _| !excluded(&rules, path));
    let listed: Vec<ListedFile> = files.values().map(|p| p.file.clone()).collect();
    let bytes = listed.iter().map(|f| f.size).sum();
    Ok(Plan {
        files,
        digest: digest_of(&listed),
        bytes,
    })
}

/// Whether `path` or one of its parent directories is excluded.
fn excluded(rules: &IgnoreRules, path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    (1..=parts.len()).any(|n| rules.is_excluded(&parts[..n].join("/"), n < parts.len()))
}

enum Source {
    File(PathBuf),
    Dir(PathBuf),
}

/// `from` inside artifact `dir`, following no symlink (artifacts hold none; one here means
/// the tree was tampered with and is refused).
fn source_of(dir: &Path, from: &str) -> Result<Source, String> {
    let mut path = dir.to_owned();
    for part in from.split('/').filter(|p| !p.is_empty()) {
        path.push(part);
        let meta = fs::symlink_metadata(&path)
            .map_err(|_| format!("fromPath does not exist in the artifact (no '{part}')"))?;
        if meta.file_type().is_symlink() {
            return Err(format!("'{part}' is a symlink"));
        }
    }
    let meta = fs::symlink_metadata(&path).map_err(|e| format!("reading the artifact: {e}"))?;
    Ok(if meta.is_dir() {
        Source::Dir(path)
    } else {
        Source::File(path)
    })
}

struct Budget<'a> {
    limits: &'a Limits,
    entries: usize,
    bytes: u64,
}

impl Budget<'_> {
    fn limit(&self, message: String) -> Error {
        Error::LimitExceeded {
            url: "spec.include".to_owned(),
            commit: String::new(),
            message,
        }
    }

    fn add(&mut self, path: &str, size: u64) -> Result<(), Error> {
        self.entries += 1;
        self.bytes = self.bytes.saturating_add(size);
        if self.entries > self.limits.max_tree_entries {
            return Err(self.limit(format!(
                "the artifact with its includes has more than {} files (--max-tree-entries)",
                self.limits.max_tree_entries
            )));
        }
        if self.bytes > self.limits.max_artifact_bytes {
            return Err(self.limit(format!(
                "the files up to \"{path}\" add up to {} bytes, over the artifact limit of {} bytes (--max-artifact-bytes)",
                self.bytes, self.limits.max_artifact_bytes
            )));
        }
        if path.split('/').count() > self.limits.max_tree_depth {
            return Err(self.limit(format!(
                "\"{path}\" is nested deeper than the limit of {} (--max-tree-depth)",
                self.limits.max_tree_depth
            )));
        }
        Ok(())
    }
}

fn plan_file(source: &Path, path: &str, budget: &mut Budget<'_>) -> Result<Planned, Error> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::symlink_metadata(source).map_err(|e| Error::storage("reading", source, e))?;
    if !meta.is_file() {
        return Err(Error::storage("reading", source, "not a regular file"));
    }
    if meta.len() > budget.limits.max_file_bytes {
        return Err(budget.limit(format!(
            "file \"{path}\" is {} bytes, over the limit of {} bytes (--max-file-bytes)",
            meta.len(),
            budget.limits.max_file_bytes
        )));
    }
    budget.add(path, meta.len())?;
    let data = fs::read(source).map_err(|e| Error::storage("reading", source, e))?;
    let blob = gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, &data)
        .map_err(|e| Error::storage("hashing", source, e))?;
    Ok(Planned {
        source: source.to_owned(),
        file: ListedFile {
            path: path.to_owned(),
            executable: meta.permissions().mode() & 0o111 != 0,
            blob: blob.to_hex().to_string(),
            size: data.len() as u64,
        },
    })
}

/// Every regular file below `root/rel`, listed under `prefix`. A symlink or anything else
/// that is not a file or directory is refused through `refuse`.
fn collect(
    root: &Path,
    rel: &str,
    prefix: &str,
    out: &mut BTreeMap<String, Planned>,
    budget: &mut Budget<'_>,
    refuse: &dyn Fn(&str) -> Error,
) -> Result<(), Error> {
    let dir = if rel.is_empty() {
        root.to_owned()
    } else {
        root.join(rel)
    };
    for entry in fs::read_dir(&dir).map_err(|e| Error::storage("reading", &dir, e))? {
        let entry = entry.map_err(|e| Error::storage("reading", &dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let listed = if prefix.is_empty() {
            child.clone()
        } else {
            format!("{prefix}/{child}")
        };
        let ty = entry
            .file_type()
            .map_err(|e| Error::storage("reading", entry.path(), e))?;
        if ty.is_dir() {
            if listed.split('/').count() > budget.limits.max_tree_depth {
                return Err(budget.limit(format!(
                    "directory \"{listed}\" is nested deeper than the limit of {} (--max-tree-depth)",
                    budget.limits.max_tree_depth
                )));
            }
            collect(root, &child, prefix, out, budget, refuse)?;
        } else if ty.is_file() {
            let planned = plan_file(&entry.path(), &listed, budget)?;
            out.insert(listed, planned);
        } else {
            return Err(refuse(&format!("'{child}' is not a regular file")));
        }
    }
    Ok(())
}

/// Write the planned files into `staging` (hard links to the sources, copies where linking
/// fails) and make the tree durable; the caller publishes it by rename.
pub(crate) fn write(plan: &Plan, staging: &Path) -> Result<(), Error> {
    fs::create_dir_all(staging).map_err(|e| Error::storage("creating", staging, e))?;
    for (path, planned) in &plan.files {
        let target = staging.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::storage("creating", parent, e))?;
        }
        if fs::hard_link(&planned.source, &target).is_err() {
            fs::copy(&planned.source, &target)
                .map_err(|e| Error::storage("copying", &target, e))?;
        }
    }
    let dir = fs::File::open(staging).map_err(|e| Error::storage("syncing", staging, e))?;
    rustix::fs::syncfs(&dir).map_err(|e| Error::storage("syncing", staging, e))?;
    Ok(())
}
