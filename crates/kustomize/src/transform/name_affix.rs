//! namePrefix and nameSuffix.

use serde_json::Value;

use crate::error::{Failure, Outcome};
use crate::fieldspec::{self, CreateKind, FieldSpec};
use crate::resmap::ResMap;

/// Kinds never renamed.
fn skipped(kind: &str, group: &str) -> bool {
    kind == "CustomResourceDefinition"
        || kind == "Namespace"
        || (kind == "APIService" && group == "apiregistration.k8s.io")
}

/// Adds `affix` (a prefix or a suffix) at every field `specs` name
/// (metadata/name by default; `configurations`, `crds` and transformer configs
/// may add more). Renaming metadata/name records the previous identity and the
/// affix for name references.
pub(crate) fn add_affix(
    resmap: &mut ResMap,
    affix: &str,
    is_prefix: bool,
    specs: &[FieldSpec],
) -> Outcome<()> {
    for res in &mut resmap.items {
        let org = res.org_id();
        if skipped(&org.gvk.kind, &org.gvk.group) {
            continue;
        }
        for spec in specs {
            if !org.gvk.is_selected_by(&spec.gvk) {
                continue;
            }
            if !affix.is_empty()
                && spec.path.len() == 2
                && spec.path[0] == "metadata"
                && spec.path[1] == "name"
            {
                if is_prefix {
                    res.prefixes.push(affix.to_string());
                } else {
                    res.suffixes.push(affix.to_string());
                }
                res.store_previous_id();
            }
            let id = res.cur_id();
            fieldspec::apply(&mut res.obj, spec, CreateKind::Scalar, &mut |node| {
                if node.is_object() || node.is_array() {
                    return Err(Failure::new("expected a scalar node"));
                }
                let current = crate::resource::scalar_text(node);
                *node = Value::String(if is_prefix {
                    format!("{affix}{current}")
                } else {
                    format!("{current}{affix}")
                });
                Ok(())
            })
            .map_err(|e| Failure::new(format!("{e} of object {id}")))?;
        }
    }
    Ok(())
}
