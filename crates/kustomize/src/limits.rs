//! Bounds on what one build may consume. Many tenants share one controller, so
//! a repository must not be able to take the process down: every file is
//! measured before it is read, every YAML document while it is parsed (before
//! an alias is expanded), and every kustomization's object count as it grows.
//! Input past a limit is an [`crate::Error::Limit`] naming the file and the limit.

/// What a build may consume. [`Limits::default`] suits a shared controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file the engine reads (kustomization files, resources, patches,
    /// generator inputs, replacement files, the files Flux's generated
    /// kustomization lists), in bytes. Checked from metadata before reading, and
    /// the read itself stops past it.
    pub max_file_bytes: u64,
    /// Most objects one kustomization (the top one included) may hold.
    pub max_build_objects: usize,
    /// Most that YAML aliases may produce in one file, measured as the size of
    /// what they expand to: [`YAML_NODE_BYTES`] per node plus the bytes of every
    /// scalar. Aliases may also produce at most [`YAML_ALIAS_RATIO`] times the
    /// size of the document's own nodes (go-yaml's "excessive aliasing" rule,
    /// which kubectl applies) once past [`YAML_ALIAS_FLOOR`].
    pub max_yaml_alias_bytes: u64,
    /// Deepest nesting of a YAML document (aliases included). Values above 128
    /// have no effect on resource files: serde_norway stops at 128 itself.
    pub max_yaml_depth: usize,
    /// Deepest chain of kustomizations (resources and components that are
    /// directories, each loading the next).
    pub max_kustomization_depth: usize,
}

/// Default of [`Limits::max_file_bytes`]: 16 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Default of [`Limits::max_build_objects`].
pub const DEFAULT_MAX_BUILD_OBJECTS: usize = 10_000;
/// Default of [`Limits::max_yaml_alias_bytes`]: 8 MiB (about half a million
/// alias-produced nodes, go-yaml's order of magnitude).
pub const DEFAULT_MAX_YAML_ALIAS_BYTES: u64 = 8 * 1024 * 1024;
/// Default of [`Limits::max_yaml_depth`] (serde_norway's own limit).
pub const DEFAULT_MAX_YAML_DEPTH: usize = 128;
/// Default of [`Limits::max_kustomization_depth`].
pub const DEFAULT_MAX_KUSTOMIZATION_DEPTH: usize = 64;

/// What one YAML node counts for in alias accounting (about what a parsed
/// value costs in memory besides its text).
pub const YAML_NODE_BYTES: u64 = 16;
/// Aliases may produce this many times the size of the document's own nodes
/// (go-yaml allows 99% of decoded nodes to come from aliases).
pub const YAML_ALIAS_RATIO: u64 = 100;
/// Aliases may always produce this much, whatever the ratio says (go-yaml does
/// not check small documents either).
pub const YAML_ALIAS_FLOOR: u64 = 64 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_build_objects: DEFAULT_MAX_BUILD_OBJECTS,
            max_yaml_alias_bytes: DEFAULT_MAX_YAML_ALIAS_BYTES,
            max_yaml_depth: DEFAULT_MAX_YAML_DEPTH,
            max_kustomization_depth: DEFAULT_MAX_KUSTOMIZATION_DEPTH,
        }
    }
}

impl Limits {
    /// What aliases may produce when the document's own nodes measure `own`.
    pub(crate) fn alias_allowance(&self, own: u64) -> u64 {
        own.saturating_mul(YAML_ALIAS_RATIO)
            .max(YAML_ALIAS_FLOOR)
            .min(self.max_yaml_alias_bytes)
    }
}
