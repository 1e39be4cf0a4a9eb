//! The in-memory index of artifacts: sizes, recency, and pins held by owners.
//! Pure bookkeeping; the cache does the file work.

use std::collections::HashMap;

use crate::digest::Digest;

/// Who holds a pin on an artifact, e.g. `GitRepository/team-a/apps`. One pin per owner:
/// pinning again moves the pin.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnerKey(pub String);

impl OwnerKey {
    /// An owner key for a namespaced object of `kind`.
    pub fn object(kind: &str, namespace: &str, name: &str) -> Self {
        OwnerKey(format!("{kind}/{namespace}/{name}"))
    }
}

#[derive(Debug, Clone)]
struct Entry {
    size: u64,
    last_used: u64,
}

/// Artifacts by digest with LRU order and pins.
#[derive(Debug, Default)]
pub(crate) struct LruIndex {
    entries: HashMap<Digest, Entry>,
    pins: HashMap<OwnerKey, Digest>,
    clock: u64,
    total: u64,
}

impl LruIndex {
    /// Record an artifact (or refresh it) as most recently used.
    pub fn insert(&mut self, digest: Digest, size: u64) {
        self.clock += 1;
        let last_used = self.clock;
        if let Some(old) = self.entries.insert(digest, Entry { size, last_used }) {
            self.total -= old.size;
        }
        self.total += size;
    }

    /// Record an artifact found on disk with a recency rank (older ranks are smaller).
    pub fn insert_with_rank(&mut self, digest: Digest, size: u64, rank: u64) {
        self.insert(digest.clone(), size);
        if let Some(e) = self.entries.get_mut(&digest) {
            e.last_used = rank;
        }
        self.clock = self.clock.max(rank);
    }

    /// Mark an artifact as used now; false if unknown.
    pub fn touch(&mut self, digest: &Digest) -> bool {
        self.clock += 1;
        match self.entries.get_mut(digest) {
            Some(e) => {
                e.last_used = self.clock;
                true
            }
            None => false,
        }
    }

    /// Whether the artifact is indexed.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.entries.contains_key(digest)
    }

    /// Size of an indexed artifact.
    pub fn size(&self, digest: &Digest) -> Option<u64> {
        self.entries.get(digest).map(|e| e.size)
    }

    /// Forget an artifact.
    pub fn remove(&mut self, digest: &Digest) {
        if let Some(e) = self.entries.remove(digest) {
            self.total -= e.size;
        }
    }

    /// Total bytes of indexed artifacts.
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// Number of indexed artifacts.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Pin `digest` for `owner` (replacing the owner's previous pin).
    pub fn pin(&mut self, owner: OwnerKey, digest: Digest) {
        self.pins.insert(owner, digest);
    }

    /// Drop the pin of `owner`.
    pub fn unpin(&mut self, owner: &OwnerKey) {
        self.pins.remove(owner);
    }

    /// Whether any owner pins `digest`.
    pub fn is_pinned(&self, digest: &Digest) -> bool {
        self.pins.values().any(|d| d == digest)
    }

    /// Artifacts to evict, least recently used first, until the total fits `budget`.
    /// Pinned artifacts and `keep` are never chosen, so the result may not reach the budget.
    pub fn eviction_plan(&self, budget: u64, keep: Option<&Digest>) -> Vec<Digest> {
        if self.total <= budget {
            return Vec::new();
        }
        let mut candidates: Vec<(&Digest, &Entry)> = self
            .entries
            .iter()
            .filter(|(d, _)| Some(*d) != keep && !self.is_pinned(d))
            .collect();
        candidates.sort_by_key(|(d, e)| (e.last_used, (*d).clone()));
        let mut total = self.total;
        let mut plan = Vec::new();
        for (d, e) in candidates {
            if total <= budget {
                break;
            }
            total -= e.size;
            plan.push(d.clone());
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        Digest::parse(&format!("{:02x}", n).repeat(32)).unwrap()
    }

    #[test]
    fn evicts_least_recently_used_until_within_budget() {
        let mut idx = LruIndex::default();
        idx.insert(d(1), 100);
        idx.insert(d(2), 100);
        idx.insert(d(3), 100);
        assert_eq!(idx.total_bytes(), 300);
        assert!(idx.touch(&d(1)));
        assert_eq!(idx.eviction_plan(300, None), Vec::<Digest>::new());
        assert_eq!(idx.eviction_plan(200, None), vec![d(2)]);
        assert_eq!(idx.eviction_plan(100, None), vec![d(2), d(3)]);
    }

    #[test]
    fn pinned_and_kept_artifacts_are_never_evicted() {
        let mut idx = LruIndex::default();
        idx.insert(d(1), 100);
        idx.insert(d(2), 100);
        idx.insert(d(3), 100);
        idx.pin(OwnerKey::object("GitRepository", "a", "x"), d(1));
        assert_eq!(idx.eviction_plan(0, Some(&d(3))), vec![d(2)]);
        // Moving the pin releases the old artifact.
        idx.pin(OwnerKey::object("GitRepository", "a", "x"), d(2));
        assert_eq!(idx.eviction_plan(0, Some(&d(3))), vec![d(1)]);
        idx.unpin(&OwnerKey::object("GitRepository", "a", "x"));
        assert_eq!(idx.eviction_plan(0, None), vec![d(1), d(2), d(3)]);
    }

    #[test]
    fn two_owners_pinning_one_artifact_both_protect_it() {
        let mut idx = LruIndex::default();
        idx.insert(d(1), 10);
        idx.pin(OwnerKey("a".into()), d(1));
        idx.pin(OwnerKey("b".into()), d(1));
        idx.unpin(&OwnerKey("a".into()));
        assert!(idx.is_pinned(&d(1)));
        assert!(idx.eviction_plan(0, None).is_empty());
    }

    #[test]
    fn reinsert_and_remove_keep_totals_right() {
        let mut idx = LruIndex::default();
        idx.insert(d(1), 10);
        idx.insert(d(1), 30);
        assert_eq!(idx.total_bytes(), 30);
        assert_eq!(idx.len(), 1);
        idx.remove(&d(1));
        assert_eq!(idx.total_bytes(), 0);
        assert!(!idx.contains(&d(1)));
    }

    #[test]
    fn rank_orders_artifacts_found_on_disk() {
        let mut idx = LruIndex::default();
        idx.insert_with_rank(d(1), 10, 500);
        idx.insert_with_rank(d(2), 10, 100);
        assert_eq!(idx.eviction_plan(10, None), vec![d(2)]);
        idx.insert(d(3), 10);
        assert_eq!(idx.eviction_plan(20, None), vec![d(2)]);
    }
}
