//! Where things are in the repository, independent of the test's cwd.

use std::path::{Path, PathBuf};

/// The repository root (the parent of this crate's directory).
pub fn repo_root() -> PathBuf {
    e2e_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(e2e_dir)
}

/// This crate's directory, `e2e/`.
pub(crate) fn e2e_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory of generated CustomResourceDefinitions, `crds/`.
pub fn crds_dir() -> PathBuf {
    repo_root().join("crds")
}
