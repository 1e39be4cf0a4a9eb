//! The `replicas` field.

use serde_json::Value;

use crate::error::{Failure, Outcome};
use crate::fieldspec::{self, CreateKind, FieldSpec};
use crate::kustomization::Replica;
use crate::resmap::ResMap;

/// Sets the replica count at the fields `specs` name (the `replicas` field or a
/// ReplicaCountTransformer) of workloads whose current or any previous name matches.
pub(crate) fn set_replicas(
    resmap: &mut ResMap,
    replicas: &[Replica],
    specs: &[FieldSpec],
) -> Outcome<()> {
    for replica in replicas {
        let mut found = false;
        for spec in specs {
            for res in &mut resmap.items {
                let selected = res
                    .all_ids()
                    .iter()
                    .any(|id| id.name == replica.name && id.gvk.is_selected_by(&spec.gvk));
                if !selected {
                    continue;
                }
                found = true;
                if !spec.matches(&res.gvk()) {
                    continue;
                }
                fieldspec::apply(&mut res.obj, spec, CreateKind::Scalar, &mut |node| {
                    *node = Value::from(replica.count);
                    Ok(())
                })?;
            }
        }
        if !found {
            let kinds: Vec<String> = specs.iter().map(|s| s.gvk.display()).collect();
            return Err(Failure::new(format!(
                "resource with name {} does not match a config with the following GVK [{}]",
                replica.name,
                kinds.join(" ")
            )));
        }
    }
    Ok(())
}
