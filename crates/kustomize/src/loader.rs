//! File access restricted the way kubectl restricts it: files a kustomization
//! reads must sit in or below its own directory, and nothing may leave the
//! build's boundary directory (symlinks are resolved before checking).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::input_filter::{FileUse, InputFilter};
use crate::kustomization::Kustomization;
use crate::limits::Limits;

/// Loader of one kustomization directory.
#[derive(Debug, Clone)]
pub(crate) struct Loader {
    /// Canonical directory of the kustomization.
    pub root: PathBuf,
    /// Canonical directory nothing may leave (None: no boundary).
    pub boundary: Option<PathBuf>,
    /// Files must be in or below `root` (kubectl's LoadRestrictionsRootOnly).
    pub root_only: bool,
    /// What the build may consume.
    pub limits: Limits,
    /// Transforms file contents as they are read.
    pub input_filter: Option<Arc<dyn InputFilter>>,
}

/// Canonical form of a path, with the error naming it.
pub(crate) fn canonical(path: &Path) -> Result<PathBuf> {
    path.canonicalize().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl Loader {
    /// Joins a path written in the kustomization to its directory.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Refuses a path whose `..` components leave the boundary before the file system is
    /// asked anything: a missing path outside must not answer differently from an existing
    /// one (that would tell a tenant what exists outside its artifact).
    pub(crate) fn check_lexical(&self, referrer: &Path, joined: &Path) -> Result<()> {
        if self.boundary.is_none() {
            return Ok(());
        }
        let mut normal = PathBuf::new();
        for component in joined.components() {
            match component {
                std::path::Component::ParentDir => {
                    normal.pop();
                }
                std::path::Component::CurDir => {}
                other => normal.push(other),
            }
        }
        // Compare with the boundary as the root was reached (the root is canonical).
        self.check_boundary(referrer, &normal)
    }

    fn check_boundary(&self, referrer: &Path, target: &Path) -> Result<()> {
        if let Some(boundary) = &self.boundary
            && !target.starts_with(boundary)
        {
            return Err(Error::LoadRestriction {
                path: referrer.to_path_buf(),
                target: target.to_path_buf(),
                root: boundary.clone(),
            });
        }
        Ok(())
    }

    /// Resolves and checks a file path; `referrer` is the kustomization file naming it.
    pub fn resolve_file(&self, rel: &str, referrer: &Path) -> Result<PathBuf> {
        let joined = self.join(rel);
        self.check_lexical(referrer, &joined)?;
        let real = canonical(&joined)?;
        self.check_boundary(referrer, &real)?;
        if self.root_only && !real.starts_with(&self.root) {
            return Err(Error::LoadRestriction {
                path: referrer.to_path_buf(),
                target: real,
                root: self.root.clone(),
            });
        }
        Ok(real)
    }

    /// Reads a file named in the kustomization.
    pub fn read_file(&self, rel: &str, referrer: &Path) -> Result<(PathBuf, Vec<u8>)> {
        let real = self.resolve_file(rel, referrer)?;
        let bytes = read_bounded(&real, &self.limits)?;
        Ok((real, bytes))
    }

    /// Reads a file as UTF-8 text.
    pub fn read_text(&self, rel: &str, referrer: &Path) -> Result<(PathBuf, String)> {
        let real = self.resolve_file(rel, referrer)?;
        let text = read_text_bounded(&real, &self.limits)?;
        Ok((real, text))
    }

    /// [`Loader::read_text`] for a file a kustomization field names: a file
    /// that cannot be read is an error naming the kustomization and the field.
    pub fn read_field_file(
        &self,
        rel: &str,
        referrer: &Path,
        field: &str,
    ) -> Result<(PathBuf, String)> {
        self.read_text(rel, referrer).map_err(|e| match e {
            Error::Io { path, source } => Error::invalid(
                referrer,
                format!("{field}: '{rel}': {}: {source}", path.display()),
            ),
            other => other,
        })
    }

    /// Reads a file named in the kustomization for `usage`, through the input filter.
    pub fn read_file_for(
        &self,
        rel: &str,
        referrer: &Path,
        usage: FileUse<'_>,
    ) -> Result<(PathBuf, Vec<u8>)> {
        let (real, bytes) = self.read_file(rel, referrer)?;
        let Some(filter) = &self.input_filter else {
            return Ok((real, bytes));
        };
        let out = filter
            .filter(&real, usage, bytes)
            .map_err(|message| Error::invalid(&real, message))?;
        if out.len() as u64 > self.limits.max_file_bytes {
            return Err(too_big(
                &real,
                format!(
                    "filtered contents are {} bytes, more than the {} allowed",
                    out.len(),
                    self.limits.max_file_bytes
                ),
                self.limits.max_file_bytes,
            ));
        }
        Ok((real, out))
    }

    /// Reads a file as UTF-8 text for `usage`, through the input filter.
    pub fn read_text_for(
        &self,
        rel: &str,
        referrer: &Path,
        usage: FileUse<'_>,
    ) -> Result<(PathBuf, String)> {
        let (real, bytes) = self.read_file_for(rel, referrer, usage)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::invalid(&real, "file is not valid UTF-8"))?;
        Ok((real, text))
    }

    /// A loader for a sub-directory (base or component); only the boundary applies.
    pub fn child(&self, dir: &Path, referrer: &Path) -> Result<Loader> {
        self.check_lexical(referrer, dir)?;
        let real = canonical(dir)?;
        self.check_boundary(referrer, &real)?;
        Ok(Loader {
            root: real,
            boundary: self.boundary.clone(),
            root_only: self.root_only,
            limits: self.limits,
            input_filter: self.input_filter.clone(),
        })
    }

    /// Loads the kustomization file of the loader's directory. The file may be a
    /// symlink, but not to somewhere outside the boundary.
    pub fn load_kustomization(&self) -> Result<(Kustomization, PathBuf)> {
        let Some(file) = Kustomization::find_file(&self.root)? else {
            return Err(Error::MissingKustomization {
                dir: self.root.clone(),
            });
        };
        let real = canonical(&file)?;
        self.check_boundary(&file, &real)?;
        let text = read_text_bounded(&real, &self.limits)?;
        let k = Kustomization::from_yaml_with(&text, &file, &self.limits)?;
        Ok((k, file))
    }
}

/// Reads a regular file of at most [`Limits::max_file_bytes`]. The size is
/// checked from metadata before the file is opened (a FIFO or device is
/// refused, never opened for a blocking read), again on the open handle, and
/// the read stops one byte past the limit in case the file grows meanwhile.
pub(crate) fn read_bounded(path: &Path, limits: &Limits) -> Result<Vec<u8>> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let max = limits.max_file_bytes;
    check_file(path, &std::fs::metadata(path).map_err(io)?, max)?;
    // Non-blocking: if the path was swapped for a FIFO since, opening does not wait.
    let fd = rustix::fs::open(
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| io(e.into()))?;
    let file = std::fs::File::from(fd);
    check_file(path, &file.metadata().map_err(io)?, max)?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(too_big(
            path,
            format!("file grew to more than the {max} bytes allowed"),
            max,
        ));
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text.
pub(crate) fn read_text_bounded(path: &Path, limits: &Limits) -> Result<String> {
    String::from_utf8(read_bounded(path, limits)?)
        .map_err(|_| Error::invalid(path, "file is not valid UTF-8"))
}

fn check_file(path: &Path, meta: &std::fs::Metadata, max: u64) -> Result<()> {
    if !meta.is_file() {
        return Err(Error::invalid(
            path,
            "not a regular file (FIFOs, devices and sockets are never read)",
        ));
    }
    if meta.len() > max {
        return Err(too_big(
            path,
            format!("file is {} bytes, more than the {max} allowed", meta.len()),
            max,
        ));
    }
    Ok(())
}

fn too_big(path: &Path, message: String, max: u64) -> Error {
    Error::Limit {
        path: path.to_path_buf(),
        message,
        limit: format!("max-file-bytes={max}"),
    }
}
