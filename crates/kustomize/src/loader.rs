//! File access restricted the way kubectl restricts it: files a kustomization
//! reads must sit in or below its own directory, and nothing may leave the
//! build's boundary directory (symlinks are resolved before checking).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Loader of one kustomization directory.
#[derive(Debug, Clone)]
pub(crate) struct Loader {
    /// Canonical directory of the kustomization.
    pub root: PathBuf,
    /// Canonical directory nothing may leave (None: no boundary).
    pub boundary: Option<PathBuf>,
    /// Files must be in or below `root` (kubectl's LoadRestrictionsRootOnly).
    pub root_only: bool,
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
        let bytes = std::fs::read(&real).map_err(|source| Error::Io {
            path: self.join(rel),
            source,
        })?;
        Ok((real, bytes))
    }

    /// Reads a file as UTF-8 text.
    pub fn read_text(&self, rel: &str, referrer: &Path) -> Result<(PathBuf, String)> {
        let (real, bytes) = self.read_file(rel, referrer)?;
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
        })
    }
}
