//! The status each Kustomization was last written with, and at which resourceVersion. A
//! reconcile that runs before the watch cache holds its Kustomization's own last status
//! write compares with that write instead of the older cached status, so the same status
//! is not written twice.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, MutexGuard, PoisonError};

use driftless_api::kustomize::KustomizationStatus;

/// Last status writes by Kustomization uid (a digest of the status, not the status).
#[derive(Default)]
pub struct WrittenStatuses {
    written: Mutex<HashMap<String, Written>>,
}

struct Written {
    version: u64,
    digest: u64,
}

impl WrittenStatuses {
    /// Whether writing `status` would change nothing. Compared with the cached object's
    /// status, unless the cached object (at `cached_version`) is older than the last write.
    pub fn unchanged(
        &self,
        uid: &str,
        cached_version: Option<&str>,
        cached: Option<&KustomizationStatus>,
        status: &KustomizationStatus,
    ) -> bool {
        let cached_version = cached_version.and_then(|v| v.parse::<u64>().ok());
        if let (Some(written), Some(cached_version)) = (self.lock().get(uid), cached_version)
            && cached_version < written.version
        {
            return written.digest == digest(status);
        }
        cached == Some(status)
    }

    /// Records a write of `status` that left the object at `version`. A version that is not
    /// a number cannot be ordered: the record is dropped and the cache is trusted.
    pub fn record(&self, uid: &str, version: Option<&str>, status: &KustomizationStatus) {
        let mut written = self.lock();
        match version.and_then(|v| v.parse::<u64>().ok()) {
            Some(version) => {
                written.insert(
                    uid.to_owned(),
                    Written {
                        version,
                        digest: digest(status),
                    },
                );
            }
            None => {
                written.remove(uid);
            }
        }
    }

    /// Forgets a deleted Kustomization.
    pub fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Written>> {
        self.written.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn digest(status: &KustomizationStatus) -> u64 {
    let mut hasher = DefaultHasher::new();
    serde_json::to_vec(status)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(revision: &str) -> KustomizationStatus {
        KustomizationStatus {
            last_applied_revision: Some(revision.to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn a_stale_cache_is_compared_with_the_last_write() {
        let written = WrittenStatuses::default();
        let new = status("main@sha1:2");
        // Nothing written yet: the cache decides.
        assert!(!written.unchanged("u", Some("10"), None, &new));
        written.record("u", Some("11"), &new);
        // The cache still holds rv 10, without the write: the same status is not written again.
        assert!(written.unchanged("u", Some("10"), None, &new));
        // A different status is.
        assert!(!written.unchanged("u", Some("10"), None, &status("main@sha1:3")));
    }

    #[test]
    fn a_cache_that_caught_up_decides_again() {
        let written = WrittenStatuses::default();
        let new = status("main@sha1:2");
        written.record("u", Some("11"), &new);
        // Someone else changed the status after our write: the cache shows it, and ours differs.
        let theirs = status("edited");
        assert!(!written.unchanged("u", Some("12"), Some(&theirs), &new));
        assert!(written.unchanged("u", Some("12"), Some(&new), &new));
    }

    #[test]
    fn unordered_versions_and_forgotten_objects_trust_the_cache() {
        let written = WrittenStatuses::default();
        let new = status("main@sha1:2");
        written.record("u", Some("11"), &new);
        assert!(!written.unchanged("u", Some("not-a-number"), None, &new));
        written.forget("u");
        assert!(!written.unchanged("u", Some("10"), None, &new));
        written.record("v", Some("opaque"), &new);
        assert!(!written.unchanged("v", Some("10"), None, &new));
    }
}
