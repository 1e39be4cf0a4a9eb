//! What each Kustomization last applied, object by object, so that a reconcile of an
//! unchanged revision whose objects have not drifted asks the API server nothing, and a
//! real change reads and writes only the objects whose desired state changed or drifted.
//!
//! An object counts as *known* when its manifest digest is the one last applied and the
//! drift watch confirms it is as the last apply left it: it sees the fingerprint
//! (generation, or resourceVersion) that the apply left, or it has not yet delivered the
//! version the apply wrote (a watch lagging behind our own writes). Anything else (an edit,
//! a delete, a watch that is not synced yet) makes it unknown, and the applier treats it as before: read,
//! dry-run, write when it differs. The whole record is ignored, so that every object is
//! read and dry-run again, when the identity changed, a reconcile was requested
//! (`requestedAt`), or the periodic full resync is due (`--full-resync-interval`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use driftless_apply::{Action, ChangeSet, ObjectRef, Observed};

/// One applied object.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    object: ObjectRef,
    digest: u64,
    /// The live object right after the apply that wrote or read it.
    live: Observed,
}

#[derive(Debug)]
struct Record {
    identity: String,
    objects: HashMap<String, Entry>,
    /// When every object was last read and dry-run.
    full_at: Instant,
}

/// The records of every Kustomization this controller reconciled (by uid), in memory: a
/// restart begins with full reconciles.
#[derive(Debug)]
pub struct AppliedRecords {
    records: Mutex<HashMap<String, Record>>,
    full_resync: Duration,
}

/// Why a reconcile reads and dry-runs every object instead of trusting the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The record may be used.
    No,
    /// A reconcile was requested (`requestedAt` not handled yet).
    Requested,
}

impl AppliedRecords {
    /// Records that trust an object for at most `full_resync` after it was last read.
    pub fn new(full_resync: Duration) -> Self {
        AppliedRecords {
            records: Mutex::default(),
            full_resync,
        }
    }

    /// Inventory ID → digest of the objects of `uid` that are known (see the module doc);
    /// empty when the reconcile must be a full one. `confirms` asks the drift watch whether
    /// an object is still as a read or write observed it.
    pub fn known(
        &self,
        uid: &str,
        identity: &str,
        full: Full,
        confirms: impl Fn(&ObjectRef, &Observed) -> bool,
    ) -> HashMap<String, u64> {
        let records = self.lock();
        let Some(record) = records.get(uid) else {
            return HashMap::new();
        };
        if full != Full::No
            || record.identity != identity
            || record.full_at.elapsed() >= self.full_resync
        {
            return HashMap::new();
        }
        record
            .objects
            .iter()
            .filter(|(_, entry)| confirms(&entry.object, &entry.live))
            .map(|(id, entry)| (id.clone(), entry.digest))
            .collect()
    }

    /// Remembers what an apply of `uid` did. `full` says every object was read (no object
    /// was known), which restarts the resync period. Objects without a fingerprint (known
    /// ones, not read) keep the one recorded before; skipped objects are not recorded.
    pub fn record(&self, uid: &str, identity: &str, applied: &ChangeSet, full: bool) {
        let mut records = self.lock();
        let previous = records.remove(uid).filter(|r| r.identity == identity);
        let mut objects = HashMap::with_capacity(applied.changes.len());
        for change in &applied.changes {
            if change.action == Action::Skipped {
                continue;
            }
            let id = change.object.to_inventory().id;
            let live = change.live.clone().or_else(|| {
                previous
                    .as_ref()
                    .and_then(|p| p.objects.get(&id))
                    .filter(|e| e.digest == change.digest)
                    .map(|e| e.live.clone())
            });
            if let Some(live) = live {
                objects.insert(
                    id,
                    Entry {
                        object: change.object.clone(),
                        digest: change.digest,
                        live,
                    },
                );
            }
        }
        let full_at = match previous {
            Some(p) if !full => p.full_at,
            _ => Instant::now(),
        };
        records.insert(
            uid.to_owned(),
            Record {
                identity: identity.to_owned(),
                objects,
                full_at,
            },
        );
    }

    /// Forgets `uid` (deleted, or its apply failed midway).
    pub fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use driftless_apply::Change;

    use super::*;

    fn object(name: &str) -> ObjectRef {
        ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("apps".into()),
            name: name.into(),
        }
    }

    fn change(name: &str, digest: u64, live: Option<&str>) -> Change {
        Change {
            object: object(name),
            action: Action::Configured,
            digest,
            live: live.map(|rv| Observed::new(None, Some(rv.trim_start_matches("rv")))),
        }
    }

    /// A drift watch that sees `print` for every object (none when `None`).
    fn sees(print: Option<&str>) -> impl Fn(&ObjectRef, &Observed) -> bool {
        move |_, live| print == Some(live.fingerprint.as_str())
    }

    fn set(changes: Vec<Change>) -> ChangeSet {
        ChangeSet { changes }
    }

    #[test]
    fn only_undrifted_objects_are_known() {
        let records = AppliedRecords::new(Duration::from_secs(3600));
        let none = records.known("u", "sa", Full::No, sees(None));
        assert!(none.is_empty(), "nothing recorded yet");
        records.record(
            "u",
            "sa",
            &set(vec![
                change("a", 1, Some("rv1")),
                change("b", 2, Some("rv2")),
            ]),
            true,
        );
        // The watch sees a as applied, b edited since (another resourceVersion).
        let observed = |o: &ObjectRef, live: &Observed| {
            let seen = if o.name == "a" { "rv1" } else { "rv9" };
            live.fingerprint == seen
        };
        let known = records.known("u", "sa", Full::No, observed);
        assert_eq!(known, HashMap::from([("apps_a__ConfigMap".to_owned(), 1)]));
        // A requested reconcile, another identity, or a watch that does not see it: none.
        assert!(
            records
                .known("u", "sa", Full::Requested, observed)
                .is_empty()
        );
        assert!(records.known("u", "other", Full::No, observed).is_empty());
        assert!(records.known("u", "sa", Full::No, sees(None)).is_empty());
        records.forget("u");
        assert!(records.known("u", "sa", Full::No, observed).is_empty());
    }

    #[test]
    fn known_objects_keep_their_fingerprint_and_resync_expires_the_record() {
        let records = AppliedRecords::new(Duration::from_secs(3600));
        records.record("u", "sa", &set(vec![change("a", 1, Some("rv1"))]), true);
        // Applied again without a read (known): the fingerprint recorded before stays.
        records.record("u", "sa", &set(vec![change("a", 1, None)]), false);
        let known = records.known("u", "sa", Full::No, sees(Some("rv1")));
        assert_eq!(known.len(), 1);
        // A new digest without a read is not trusted.
        records.record("u", "sa", &set(vec![change("a", 2, None)]), false);
        assert!(
            records
                .known("u", "sa", Full::No, sees(Some("rv1")))
                .is_empty()
        );

        let expired = AppliedRecords::new(Duration::ZERO);
        expired.record("u", "sa", &set(vec![change("a", 1, Some("rv1"))]), true);
        assert!(
            expired
                .known("u", "sa", Full::No, sees(Some("rv1")))
                .is_empty(),
            "a due full resync reads everything again"
        );
    }
}
