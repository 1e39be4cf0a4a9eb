//! A hook on the files a build reads: the caller may transform their contents in memory
//! before the engine parses them (what a controller uses to decrypt SOPS files without
//! writing the plaintext anywhere).

use std::path::Path;

/// What a file read by the build is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileUse<'a> {
    /// A `resources` entry (Kubernetes YAML).
    Resource,
    /// A patch file (`patches[].path`, `patchesStrategicMerge`).
    Patch,
    /// A generator's `envs` file.
    EnvFile,
    /// A generator's `files` entry, stored under `key`.
    File {
        /// The data key the file's contents go under.
        key: &'a str,
    },
}

/// Transforms file contents as the build reads them.
pub trait InputFilter: Send + Sync + std::fmt::Debug {
    /// Returns the contents the build should use for `path` (a canonical path inside the
    /// build's boundary). An error fails the build; it names what went wrong, never contents.
    fn filter(
        &self,
        path: &Path,
        usage: FileUse<'_>,
        bytes: Vec<u8>,
    ) -> std::result::Result<Vec<u8>, String>;
}
