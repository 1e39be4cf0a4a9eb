//! Deterministic `.tar.gz` of an artifact directory for the HTTP artifact endpoint:
//! entries sorted by path, mtime 0, uid/gid 0, no user names, modes 0755/0644, gzip
//! header without a timestamp. The same tree always gives the same bytes.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::Error;

fn collect(root: &Path, rel: &str, out: &mut Vec<(String, bool)>) -> Result<(), Error> {
    let dir = if rel.is_empty() {
        root.to_owned()
    } else {
        root.join(rel)
    };
    let mut names: Vec<(String, bool)> = Vec::new();
    for entry in fs::read_dir(&dir).map_err(|e| Error::storage("reading", &dir, e))? {
        let entry = entry.map_err(|e| Error::storage("reading", &dir, e))?;
        let ty = entry
            .file_type()
            .map_err(|e| Error::storage("reading", entry.path(), e))?;
        if !(ty.is_dir() || ty.is_file()) {
            continue;
        }
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
            collect(root, &path, out)?;
        }
    }
    Ok(())
}

/// Write the deterministic tarball of `dir` to `out` (regular files and directories only;
/// the same tree always gives the same bytes).
pub fn write_tarball(dir: &Path, out: impl Write) -> Result<(), Error> {
    let mut entries = Vec::new();
    collect(dir, "", &mut entries)?;
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(out, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for (rel, is_dir) in entries {
        let path = dir.join(&rel);
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        if is_dir {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            tar.append_data(&mut header, format!("{rel}/"), std::io::empty())
                .map_err(|e| Error::storage("archiving", &path, e))?;
        } else {
            let file = fs::File::open(&path).map_err(|e| Error::storage("reading", &path, e))?;
            let meta = file
                .metadata()
                .map_err(|e| Error::storage("reading", &path, e))?;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            });
            header.set_size(meta.len());
            tar.append_data(&mut header, &rel, file)
                .map_err(|e| Error::storage("archiving", &path, e))?;
        }
    }
    let gz = tar
        .into_inner()
        .map_err(|e| Error::storage("archiving", dir, e))?;
    let mut out = gz
        .finish()
        .map_err(|e| Error::storage("compressing", dir, e))?;
    out.flush()
        .map_err(|e| Error::storage("compressing", dir, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) {
        fs::create_dir_all(root.join("b/c")).unwrap();
        fs::write(root.join("a.yaml"), "a: 1\n").unwrap();
        fs::write(root.join("b/c/d.yaml"), "d: 2\n").unwrap();
        fs::write(root.join("run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn tarball_is_deterministic_and_complete() {
        let t1 = tempfile::tempdir().unwrap();
        let t2 = tempfile::tempdir().unwrap();
        tree(t1.path());
        tree(t2.path());
        // Different mtimes must not matter.
        fs::write(t2.path().join("a.yaml"), "a: 1\n").unwrap();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        write_tarball(t1.path(), &mut x).unwrap();
        write_tarball(t2.path(), &mut y).unwrap();
        assert_eq!(x, y);

        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&x[..]));
        let mut seen = Vec::new();
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            seen.push((
                e.path().unwrap().to_string_lossy().into_owned(),
                e.header().mode().unwrap(),
                e.header().mtime().unwrap(),
            ));
        }
        let names: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(names, vec!["a.yaml", "b/", "b/c/", "b/c/d.yaml", "run.sh"]);
        assert!(seen.iter().all(|s| s.2 == 0));
        assert_eq!(seen[4].1, 0o755);
        assert_eq!(seen[0].1, 0o644);
    }
}
