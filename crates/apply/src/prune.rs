//! Pruning: deleting objects a Kustomization applied before and no longer renders.

use std::fmt;

use driftless_api::kustomize::ResourceRef;
use driftless_api::well_known::{DISABLED, PRUNE_ANNOTATION};
use kube::api::DeleteParams;
use serde_json::Value;

use crate::applier::Applier;
use crate::error::{ApplyError, Failures, ObjectFailure, server_reason};
use crate::object::ObjectRef;
use crate::owner::Owner;
use crate::stage::prune_rank;
use crate::target::{api_for, to_json};

/// What pruning did with one stale object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PruneAction {
    /// Deleted (propagation policy Background).
    Deleted,
    /// Already gone (or its kind is no longer served).
    AlreadyAbsent,
    /// Kept: annotated `kustomize.driftless.dev/prune: disabled`.
    KeptPruneDisabled,
    /// Kept: its owner labels name another Kustomization (or none), so someone else owns it now.
    KeptOwnedElsewhere,
}

impl fmt::Display for PruneAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Deleted => "deleted",
            Self::AlreadyAbsent => "already absent",
            Self::KeptPruneDisabled => "kept (prune disabled)",
            Self::KeptOwnedElsewhere => "kept (owned by another Kustomization)",
        })
    }
}

/// One stale object and what pruning did with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PruneEntry {
    /// The object.
    pub object: ObjectRef,
    /// What was done.
    pub action: PruneAction,
}

impl Applier {
    /// Deletes the `stale` inventory entries of `owner` (see [`crate::diff`]).
    ///
    /// **Call this only after a fully successful apply** of the new set: never after a
    /// failed fetch, build, substitution, dry-run or apply, or objects that are merely not
    /// rendered this time would be deleted.
    ///
    /// Objects annotated `kustomize.driftless.dev/prune: disabled` and objects whose owner
    /// labels no longer name `owner` are kept; an object already gone counts as success.
    /// Namespaces are deleted after everything else and CRDs last. Every entry is tried;
    /// the error lists each one that could not be deleted.
    pub async fn prune(
        &self,
        owner: &Owner,
        stale: &[ResourceRef],
    ) -> Result<Vec<PruneEntry>, ApplyError> {
        let mut objects = Vec::with_capacity(stale.len());
        let mut failures = Vec::new();
        for entry in stale {
            match ObjectRef::from_inventory(entry) {
                Some(object) => objects.push(object),
                None => failures.push(ObjectFailure {
                    object: entry.id.clone(),
                    reason: "malformed inventory ID".into(),
                }),
            }
        }
        objects.sort_by_key(prune_rank);
        let mut entries = Vec::with_capacity(objects.len());
        for object in objects {
            match self.prune_one(owner, &object).await {
                Ok(action) => {
                    tracing::info!(object = %object, action = %action, "prune");
                    entries.push(PruneEntry { object, action });
                }
                Err(reason) => failures.push(ObjectFailure {
                    object: object.to_string(),
                    reason,
                }),
            }
        }
        if failures.is_empty() {
            Ok(entries)
        } else {
            Err(ApplyError::PruneFailed {
                failures: Failures(failures),
            })
        }
    }

    async fn prune_one(&self, owner: &Owner, object: &ObjectRef) -> Result<PruneAction, String> {
        let resolved = match self.resolver.resolve(&self.client, object).await {
            Ok(Some(resolved)) => resolved,
            Ok(None) => return Ok(PruneAction::AlreadyAbsent),
            Err(error) => return Err(format!("kind lookup failed: {}", server_reason(&error))),
        };
        let api = api_for(&self.client, &resolved, object);
        let live = match api.get_opt(&object.name).await {
            Ok(Some(live)) => to_json(&live),
            Ok(None) => return Ok(PruneAction::AlreadyAbsent),
            Err(error) => return Err(format!("get failed: {}", server_reason(&error))),
        };
        if let Some(action) = kept(owner, &live) {
            return Ok(action);
        }
        match api.delete(&object.name, &DeleteParams::background()).await {
            Ok(_) => Ok(PruneAction::Deleted),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(PruneAction::AlreadyAbsent),
            Err(error) => Err(format!("delete failed: {}", server_reason(&error))),
        }
    }
}

/// Why a live object must not be pruned by `owner`, if it must not.
fn kept(owner: &Owner, live: &Value) -> Option<PruneAction> {
    let disabled = live
        .pointer("/metadata/annotations")
        .and_then(|annotations| annotations.get(PRUNE_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|value| value.eq_ignore_ascii_case(DISABLED));
    if disabled {
        return Some(PruneAction::KeptPruneDisabled);
    }
    if Owner::from_labels(live).as_ref() != Some(owner) {
        return Some(PruneAction::KeptOwnedElsewhere);
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn live(labels: Value, annotations: Value) -> Value {
        json!({"metadata": {"name": "c", "labels": labels, "annotations": annotations}})
    }

    #[test]
    fn keeps_disabled_and_foreign_objects() {
        let owner = Owner::new("apps", "team-a");
        let ours = json!({"kustomize.driftless.dev/name": "apps",
            "kustomize.driftless.dev/namespace": "team-a"});
        assert_eq!(kept(&owner, &live(ours.clone(), json!({}))), None);
        assert_eq!(
            kept(
                &owner,
                &live(ours, json!({"kustomize.driftless.dev/prune": "disabled"}))
            ),
            Some(PruneAction::KeptPruneDisabled)
        );
        let theirs = json!({"kustomize.driftless.dev/name": "apps",
            "kustomize.driftless.dev/namespace": "team-b"});
        assert_eq!(
            kept(&owner, &live(theirs, json!({}))),
            Some(PruneAction::KeptOwnedElsewhere)
        );
        assert_eq!(
            kept(&owner, &live(json!({}), json!({}))),
            Some(PruneAction::KeptOwnedElsewhere)
        );
    }
}
