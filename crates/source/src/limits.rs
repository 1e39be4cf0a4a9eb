//! Bounds on what one commit may make the cache do, so a hostile repository cannot exhaust
//! memory or disk of the process every tenant shares.

/// Limits applied to every fetch and checkout (see [`crate::SourceCache::open_with`]).
///
/// - `max_file_bytes` is checked from the object header, before the blob is inflated. The
///   same value (but never less than [`FETCH_ALLOC_FLOOR`]) also bounds every single
///   allocation while a fetched pack is indexed, so a highly compressible blob (a "zip
///   bomb") is refused by the fetch before it is ever inflated in memory.
/// - `max_artifact_bytes` bounds the sum of the file sizes of one artifact.
/// - `max_tree_depth` bounds directory nesting; `max_tree_entries` bounds files plus
///   directories of one commit (a tree may name the same subtree many times over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest single file, in bytes.
    pub max_file_bytes: u64,
    /// Largest artifact (sum of its files), in bytes.
    pub max_artifact_bytes: u64,
    /// Deepest directory nesting (the top-level directory is depth 1).
    pub max_tree_depth: usize,
    /// Most files and directories in one commit's tree.
    pub max_tree_entries: usize,
}

/// Default of [`Limits::max_file_bytes`]: 16 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 16 << 20;
/// Default of [`Limits::max_artifact_bytes`]: 1 GiB.
pub const DEFAULT_MAX_ARTIFACT_BYTES: u64 = 1 << 30;
/// Default of [`Limits::max_tree_depth`].
pub const DEFAULT_MAX_TREE_DEPTH: usize = 64;
/// Default of [`Limits::max_tree_entries`].
pub const DEFAULT_MAX_TREE_ENTRIES: usize = 250_000;

/// The smallest per-allocation limit applied while indexing a fetched pack. Indexing also
/// allocates a table proportional to the number of objects in the pack, so a very small
/// `max_file_bytes` must not make large (but honest) packs unfetchable.
pub const FETCH_ALLOC_FLOOR: u64 = 16 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_artifact_bytes: DEFAULT_MAX_ARTIFACT_BYTES,
            max_tree_depth: DEFAULT_MAX_TREE_DEPTH,
            max_tree_entries: DEFAULT_MAX_TREE_ENTRIES,
        }
    }
}

impl Limits {
    /// The per-allocation limit (`gitoxide.objects.allocLimit`) for reading and indexing
    /// objects of a mirror.
    pub(crate) fn alloc_limit(&self) -> u64 {
        self.max_file_bytes.max(FETCH_ALLOC_FLOOR)
    }
}
