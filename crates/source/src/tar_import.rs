//! Turn a `.tar.gz` (an OCI artifact layer) into an artifact tree, treating the archive as
//! hostile: every path component passes the [`entry_name`] rules (no `..`, no absolute
//! paths, no `.git`), only regular files and directories are written (symlinks, hard links
//! and devices are skipped, as Flux does), sizes are checked against the [`Limits`] from the
//! entry headers before any content is read, and the decompressed stream itself is bounded,
//! so a decompression bomb stops at the artifact limit. Ignore rules (Flux's default
//! excludes, in-archive `.sourceignore` files, `spec.ignore`) then remove what they exclude,
//! and the listing gives the same content digest a git commit with these files would.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path};

use crate::digest::{ListedFile, digest_of};
use crate::entry_name;
use crate::error::Error;
use crate::ignore_rules::{IgnoreRules, SOURCEIGNORE_FILE};
use crate::limits::Limits;

/// Tar headers and padding allowed on top of `max_artifact_bytes` in the decompressed
/// stream: a quarter of the artifact limit, between 64 KiB and 64 MiB.
fn tar_overhead(limits: &Limits) -> u64 {
    (limits.max_artifact_bytes / 4).clamp(64 << 10, 64 << 20)
}

/// What an extraction produced.
#[derive(Debug)]
pub(crate) struct Extracted {
    /// The files kept after ignore rules, with git blob ids.
    pub files: Vec<ListedFile>,
    /// Their total size.
    pub bytes: u64,
}

/// A reader that fails once more than `left` bytes were read from it.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(
                "the decompressed archive exceeds the artifact limit",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Extract the gzip-compressed tar `archive` into `staging` (which must not exist), then
/// apply the ignore rules. `origin` and `revision` name the source in errors.
pub(crate) fn extract_tar_gz(
    archive: impl Read,
    staging: &Path,
    limits: &Limits,
    spec_ignore: Option<&str>,
    origin: &str,
    revision: &str,
) -> Result<Extracted, Error> {
    let limit = |message: String| Error::LimitExceeded {
        url: origin.to_owned(),
        commit: revision.to_owned(),
        message,
    };
    let archive_err = |message: String| Error::Archive {
        origin: origin.to_owned(),
        revision: revision.to_owned(),
        message,
    };
    fs::create_dir_all(staging).map_err(|e| Error::storage("creating", staging, e))?;
    let stream_limit = limits
        .max_artifact_bytes
        .saturating_add(tar_overhead(limits));
    let bounded = Bounded {
        inner: flate2::read::GzDecoder::new(archive),
        left: stream_limit,
    };
    let mut tar = tar::Archive::new(bounded);
    let mut entries_seen = 0usize;
    let mut total = 0u64;
    let entries = tar
        .entries()
        .map_err(|e| archive_err(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| read_error(e, &limit, &archive_err, stream_limit))?;
        entries_seen += 1;
        if entries_seen > limits.max_tree_entries {
            return Err(limit(format!(
                "the archive has more than {} entries (--max-tree-entries)",
                limits.max_tree_entries
            )));
        }
        let raw = entry.path_bytes().into_owned();
        let shown = entry_name::escaped(&raw);
        let refuse = |message: String| Error::UnsafeArchiveEntry {
            origin: origin.to_owned(),
            revision: revision.to_owned(),
            path: shown.clone(),
            message,
        };
        let relative = safe_relative_path(&raw, limits).map_err(refuse)?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            if let Some(rel) = relative {
                let dir = staging.join(rel);
                fs::create_dir_all(&dir).map_err(|e| Error::storage("creating", &dir, e))?;
            }
            continue;
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            // Symlinks, hard links, devices, FIFOs: skipped, as Flux does.
            continue;
        }
        let Some(rel) = relative else {
            return Err(refuse("a file entry needs a name".to_owned()));
        };
        let size = entry.header().size().unwrap_or(u64::MAX);
        if size > limits.max_file_bytes {
            return Err(limit(format!(
                "file \"{shown}\" is {size} bytes, over the limit of {} bytes (--max-file-bytes)",
                limits.max_file_bytes
            )));
        }
        total = total.saturating_add(size);
        if total > limits.max_artifact_bytes {
            return Err(limit(format!(
                "the files up to \"{shown}\" add up to {total} bytes, over the artifact limit of {} bytes (--max-artifact-bytes)",
                limits.max_artifact_bytes
            )));
        }
        let target = staging.join(&rel);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::storage("creating", parent, e))?;
        }
        let executable = entry.header().mode().unwrap_or(0o644) & 0o111 != 0;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if executable { 0o755 } else { 0o644 })
            .open(&target)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    refuse("the archive holds this path twice".to_owned())
                } else {
                    Error::storage("creating", &target, e)
                }
            })?;
        let copied = std::io::copy(&mut (&mut entry).take(size), &mut file)
            .map_err(|e| read_error(e, &limit, &archive_err, stream_limit))?;
        if copied != size {
            return Err(archive_err(format!("entry \"{shown}\" is truncated")));
        }
        file.flush()
            .map_err(|e| Error::storage("writing", &target, e))?;
    }
    let files = list_kept(staging, spec_ignore, origin)?;
    let bytes = files.iter().map(|f| f.size).sum();
    Ok(Extracted { files, bytes })
}

fn read_error(
    e: std::io::Error,
    limit: &dyn Fn(String) -> Error,
    archive_err: &dyn Fn(String) -> Error,
    stream_limit: u64,
) -> Error {
    if e.to_string().contains("exceeds the artifact limit") {
        limit(format!(
            "the archive decompresses to more than {stream_limit} bytes (--max-artifact-bytes plus tar headers)"
        ))
    } else {
        archive_err(format!("reading the archive: {e}"))
    }
}

/// The relative path of a tar entry, every component checked; `None` for the root (`./`).
fn safe_relative_path(raw: &[u8], limits: &Limits) -> Result<Option<String>, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "the path is not UTF-8".to_owned())?;
    if text.starts_with('/') {
        return Err("absolute paths are not allowed".to_owned());
    }
    let mut parts = Vec::new();
    for component in Path::new(text).components() {
        match component {
            Component::CurDir => {}
            Component::Normal(name) => {
                let name = name.as_encoded_bytes();
                entry_name::check(name).map_err(|refusal| refusal.to_string())?;
                parts.push(String::from_utf8_lossy(name).into_owned());
            }
            Component::ParentDir => return Err(entry_name::Refusal::Relative.to_string()),
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute paths are not allowed".to_owned());
            }
        }
    }
    if parts.len() > limits.max_tree_depth {
        return Err(format!(
            "nested deeper than the limit of {} (--max-tree-depth)",
            limits.max_tree_depth
        ));
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// Walk `root`, remove what the ignore rules exclude, and list what stays.
fn list_kept(
    root: &Path,
    spec_ignore: Option<&str>,
    origin: &str,
) -> Result<Vec<ListedFile>, Error> {
    let mut all = Vec::new();
    walk(root, "", &mut all)?;
    let mut sourceignores = Vec::new();
    for (path, is_dir) in &all {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        if !is_dir && name == SOURCEIGNORE_FILE {
            let p = root.join(path);
            let data = fs::read(&p).map_err(|e| Error::storage("reading", &p, e))?;
            sourceignores.push((dir.to_owned(), data));
        }
    }
    let rules = IgnoreRules::new(&sourceignores, spec_ignore);
    let mut files = Vec::new();
    let mut excluded_dir: Option<String> = None;
    for (path, is_dir) in all {
        if let Some(dir) = &excluded_dir {
            if path.starts_with(dir.as_str()) && path.as_bytes().get(dir.len()) == Some(&b'/') {
                continue;
            }
            excluded_dir = None;
        }
        let p = root.join(&path);
        if rules.is_excluded(&path, is_dir) {
            if is_dir {
                fs::remove_dir_all(&p).map_err(|e| Error::storage("removing", &p, e))?;
                excluded_dir = Some(path);
            } else {
                fs::remove_file(&p).map_err(|e| Error::storage("removing", &p, e))?;
            }
            continue;
        }
        if is_dir {
            continue;
        }
        let data = fs::read(&p).map_err(|e| Error::storage("reading", &p, e))?;
        let meta = fs::metadata(&p).map_err(|e| Error::storage("reading", &p, e))?;
        let blob = gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, &data)
            .map_err(|e| Error::Archive {
                origin: origin.to_owned(),
                revision: String::new(),
                message: format!("hashing {path}: {e}"),
            })?;
        use std::os::unix::fs::PermissionsExt;
        files.push(ListedFile {
            executable: meta.permissions().mode() & 0o111 != 0,
            blob: blob.to_hex().to_string(),
            size: data.len() as u64,
            path,
        });
    }
    Ok(files)
}

/// Every directory and regular file below `root`, depth first, sorted by name.
fn walk(root: &Path, rel: &str, out: &mut Vec<(String, bool)>) -> Result<(), Error> {
    let dir = if rel.is_empty() {
        root.to_owned()
    } else {
        root.join(rel)
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).map_err(|e| Error::storage("reading", &dir, e))? {
        let entry = entry.map_err(|e| Error::storage("reading", &dir, e))?;
        let ty = entry
            .file_type()
            .map_err(|e| Error::storage("reading", entry.path(), e))?;
        names.push((
            entry.file_name().to_string_lossy().into_owned(),
            ty.is_dir(),
        ));
    }
    names.sort();
    for (name, is_dir) in names {
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        out.push((path.clone(), is_dir));
        if is_dir {
            walk(root, &path, out)?;
        }
    }
    Ok(())
}

/// The content digest of extracted files (the same as a git commit holding them).
pub(crate) fn digest(files: &[ListedFile]) -> crate::Digest {
    digest_of(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(entries: &[(&[u8], &[u8], tar::EntryType)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (path, data, kind) in entries {
            let mut header = tar::Header::new_gnu();
            // Write the raw name so hostile paths reach the archive unchanged.
            let name = &mut header.as_gnu_mut().unwrap().name;
            name[..path.len()].copy_from_slice(path);
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn extract(archive: &[u8], limits: &Limits) -> (tempfile::TempDir, Result<Extracted, Error>) {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("out");
        let result = extract_tar_gz(archive, &staging, limits, None, "oci://r/x", "v1@sha256:1");
        (dir, result)
    }

    #[test]
    fn extracts_files_and_applies_default_excludes() {
        let archive = tar_gz(&[
            (b"./", b"", tar::EntryType::Directory),
            (b"./deploy/", b"", tar::EntryType::Directory),
            (b"./deploy/a.yaml", b"a: 1\n", tar::EntryType::Regular),
            (b"logo.png", b"png", tar::EntryType::Regular),
            (b"link", b"", tar::EntryType::Symlink),
        ]);
        let (dir, result) = extract(&archive, &Limits::default());
        let extracted = result.unwrap();
        let paths: Vec<&str> = extracted.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["deploy/a.yaml"]);
        assert_eq!(extracted.bytes, 5);
        // The git blob id of "a: 1\n", as `git hash-object` prints it.
        assert_eq!(
            extracted.files[0].blob,
            gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, b"a: 1\n")
                .unwrap()
                .to_hex()
                .to_string()
        );
        assert!(!dir.path().join("out/logo.png").exists());
    }

    #[test]
    fn hostile_paths_are_refused_before_anything_escapes() {
        for path in [
            &b"../evil.yaml"[..],
            b"a/../../evil.yaml",
            b"/etc/evil",
            b".git/config",
            b"a/.GIT/hooks/x",
        ] {
            let archive = tar_gz(&[(path, b"x", tar::EntryType::Regular)]);
            let (dir, result) = extract(&archive, &Limits::default());
            let err = result.unwrap_err();
            assert!(
                matches!(err, Error::UnsafeArchiveEntry { .. }),
                "{}: {err}",
                entry_name::escaped(path)
            );
            assert!(
                err.to_string().contains(&entry_name::escaped(path)),
                "{err}"
            );
            assert_eq!(err.reason(), "UnsafeArchiveEntry");
            assert!(!dir.path().join("evil.yaml").exists());
        }
    }

    #[test]
    fn sizes_and_bombs_are_bounded() {
        let limits = Limits {
            max_file_bytes: 1000,
            max_artifact_bytes: 1500,
            ..Limits::default()
        };
        let big = vec![b'x'; 1001];
        let (_d, result) = extract(&tar_gz(&[(b"big", &big, tar::EntryType::Regular)]), &limits);
        assert!(result.unwrap_err().to_string().contains("--max-file-bytes"));
        let part = vec![b'x'; 900];
        let (_d, result) = extract(
            &tar_gz(&[
                (b"a", &part, tar::EntryType::Regular),
                (b"b", &part, tar::EntryType::Regular),
            ]),
            &limits,
        );
        assert!(
            result
                .unwrap_err()
                .to_string()
                .contains("--max-artifact-bytes")
        );
        // 64 MiB of zeros behind one tiny header that claims a small size: the decompressed
        // stream limit stops reading long before.
        let gz = {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            let mut header = tar::Header::new_gnu();
            header.set_path("pad").unwrap();
            header.set_size(0);
            header.set_entry_type(tar::EntryType::GNULongName);
            header.set_size(64 << 20);
            header.set_cksum();
            enc.write_all(header.as_bytes()).unwrap();
            let zeros = vec![0u8; 1 << 20];
            for _ in 0..64 {
                enc.write_all(&zeros).unwrap();
            }
            enc.finish().unwrap()
        };
        assert!(gz.len() < 1 << 20, "the bomb is small compressed");
        let (_d, result) = extract(&gz, &limits);
        let err = result.unwrap_err();
        assert!(
            matches!(err, Error::LimitExceeded { .. } | Error::Archive { .. }),
            "{err}"
        );
    }

    #[test]
    fn same_files_give_the_digest_of_a_listing() {
        let archive = tar_gz(&[(b"a.yaml", b"a: 1\n", tar::EntryType::Regular)]);
        let (_d1, r1) = extract(&archive, &Limits::default());
        let archive2 = tar_gz(&[
            (b"./a.yaml", b"a: 1\n", tar::EntryType::Regular),
            (b".gitignore", b"x", tar::EntryType::Regular),
        ]);
        let (_d2, r2) = extract(&archive2, &Limits::default());
        assert_eq!(digest(&r1.unwrap().files), digest(&r2.unwrap().files));
    }
}
