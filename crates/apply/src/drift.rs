//! Has an object drifted? Compares the live object with the server-side dry-run result of
//! applying the manifest to it.

use serde_json::Value;

/// True when applying would change the live object: the dry-run result differs from it.
///
/// Both come from the same API server, so defaulted fields match; the only field compared
/// loosely is `metadata.managedFields[].time`, which a dry-run may refresh without any
/// change. A changed field set or owner in `managedFields` does count: applying takes
/// ownership of the fields the manifest sets.
pub fn has_drifted(live: &Value, dry_run: &Value) -> bool {
    comparable(live) != comparable(dry_run)
}

fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(entries) = object
        .pointer_mut("/metadata/managedFields")
        .and_then(Value::as_array_mut)
    {
        for entry in entries {
            if let Some(entry) = entry.as_object_mut() {
                entry.remove("time");
            }
        }
    }
    object
}

/// What a drift watch compares to tell a spec change from a status-only update: the
/// object's `generation` (`g<n>`), or its `resourceVersion` (`rv<v>`) for kinds without one
/// (ConfigMaps, Secrets, ...). The applier reports it for every object it wrote or read, so
/// a reconciler can tell its own writes from someone else's.
pub fn fingerprint(generation: Option<i64>, resource_version: Option<&str>) -> String {
    match generation {
        Some(generation) => format!("g{generation}"),
        None => format!("rv{}", resource_version.unwrap_or_default()),
    }
}

/// What a read or a write returned about a live object: its [`fingerprint`], and the
/// `resourceVersion` it had then, which tells a drift watch that has not delivered that
/// version yet from one that has seen the object change since.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// [`fingerprint`] of the object.
    pub fingerprint: String,
    /// Its `resourceVersion`, when the server sent one.
    pub resource_version: Option<String>,
}

impl Observed {
    /// From an object's `generation` and `resourceVersion`.
    pub fn new(generation: Option<i64>, resource_version: Option<&str>) -> Self {
        Observed {
            fingerprint: fingerprint(generation, resource_version),
            resource_version: resource_version.map(str::to_owned),
        }
    }
}

/// A digest of a manifest exactly as it would be applied (after namespace defaulting and
/// owner labels): equal digests mean the same desired state. Only meaningful within one
/// process (std's hasher), which is all the reconciler keeps it for.
pub fn manifest_digest(manifest: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    manifest.to_string().hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(data: &str, time: &str, manager: &str) -> Value {
        json!({
            "metadata": {"name": "c", "resourceVersion": "7",
                "managedFields": [{"manager": manager, "operation": "Apply", "time": time}]},
            "data": {"key": data}
        })
    }

    #[test]
    fn managed_field_times_do_not_count() {
        let live = object("a", "2026-01-01T00:00:00Z", "driftless");
        let dry_run = object("a", "2026-01-02T00:00:00Z", "driftless");
        assert!(!has_drifted(&live, &dry_run));
    }

    #[test]
    fn data_and_ownership_changes_count() {
        let live = object("a", "t", "driftless");
        assert!(has_drifted(&live, &object("b", "t", "driftless")));
        assert!(has_drifted(&live, &object("a", "t", "kubectl")));
    }
}
