//! Flags bounding what one kustomize build may consume, shared by `driftless run`
//! (the Kustomization controller) and `driftless kustomize`.

use driftless_kustomize::Limits;

/// `--max-file-bytes`, `--max-build-objects`, `--max-yaml-alias-bytes`, `--max-yaml-depth`.
#[derive(clap::Args, Debug, Clone)]
pub struct BuildLimitArgs {
    /// Largest file a kustomize build reads (kustomization files, resources, patches,
    /// generator inputs), in bytes; checked before reading. Larger files fail the build
    /// with an error naming the file. `driftless run` applies it to GitRepository
    /// artifacts too, from the git object header before the file is inflated (and to each
    /// object of a fetch, never below 16 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = driftless_kustomize::DEFAULT_MAX_FILE_BYTES)]
    pub max_file_bytes: u64,
    /// Most objects one kustomization (and so one build) may hold.
    #[arg(long, value_name = "COUNT", default_value_t = driftless_kustomize::DEFAULT_MAX_BUILD_OBJECTS)]
    pub max_build_objects: usize,
    /// Most that YAML aliases may expand to in one file (16 bytes per node plus scalar
    /// text), and never more than 100 times the file's own nodes past 64 KiB: a
    /// "billion laughs" document is refused before it is expanded.
    #[arg(long, value_name = "BYTES", default_value_t = driftless_kustomize::DEFAULT_MAX_YAML_ALIAS_BYTES)]
    pub max_yaml_alias_bytes: u64,
    /// Deepest nesting of a YAML document (resource files stop at 128 whatever the value).
    #[arg(long, value_name = "LEVELS", default_value_t = driftless_kustomize::DEFAULT_MAX_YAML_DEPTH)]
    pub max_yaml_depth: usize,
}

impl BuildLimitArgs {
    /// The engine's limits for these flags.
    pub fn limits(&self) -> Limits {
        Limits {
            max_file_bytes: self.max_file_bytes,
            max_build_objects: self.max_build_objects,
            max_yaml_alias_bytes: self.max_yaml_alias_bytes,
            max_yaml_depth: self.max_yaml_depth,
            ..Limits::default()
        }
    }
}
