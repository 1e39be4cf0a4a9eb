//! namePrefix and nameSuffix.

use serde_json::Value;

use crate::error::Outcome;
use crate::resmap::ResMap;

/// Kinds never renamed.
fn skipped(kind: &str, group: &str) -> bool {
    kind == "CustomResourceDefinition"
        || kind == "Namespace"
        || (kind == "APIService" && group == "apiregistration.k8s.io")
}

/// Adds `prefix` and/or `suffix` to metadata.name.
pub(crate) fn add_affixes(resmap: &mut ResMap, prefix: &str, suffix: &str) -> Outcome<()> {
    for (affix, is_prefix) in [(prefix, true), (suffix, false)] {
        if affix.is_empty() {
            continue;
        }
        for res in &mut resmap.items {
            let org = res.org_id();
            if skipped(&org.gvk.kind, &org.gvk.group) {
                continue;
            }
            if is_prefix {
                res.prefixes.push(affix.to_string());
            } else {
                res.suffixes.push(affix.to_string());
            }
            res.store_previous_id();
            let name = res.name().to_string();
            let renamed = if is_prefix {
                format!("{affix}{name}")
            } else {
                format!("{name}{affix}")
            };
            res.metadata_mut()
                .insert("name".into(), Value::String(renamed));
        }
    }
    Ok(())
}

/// A PrefixTransformer/SuffixTransformer config: adds `affix` at every field
/// `specs` name, recording a rename when the field is metadata/name.
pub(crate) fn add_affix_at(
    resmap: &mut ResMap,
    affix: &str,
    is_prefix: bool,
    specs: &[crate::fieldspec::FieldSpec],
) -> Outcome<()> {
    use crate::fieldspec::{self, CreateKind};
    for res in &mut resmap.items {
        let org = res.org_id();
        if skipped(&org.gvk.kind, &org.gvk.group) {
            continue;
        }
        for spec in specs {
            if !org.gvk.is_selected_by(&spec.gvk) {
                continue;
            }
            if spec.path_string() == "metadata/name" && !affix.is_empty() {
                if is_prefix {
                    res.prefixes.push(affix.to_string());
                } else {
                    res.suffixes.push(affix.to_string());
                }
                res.store_previous_id();
            }
            fieldspec::apply(&mut res.obj, spec, CreateKind::Scalar, &mut |node| {
                let current = match &*node {
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(),
                    other => crate::resource::scalar_text(other),
                };
                *node = Value::String(if is_prefix {
                    format!("{affix}{current}")
                } else {
                    format!("{current}{affix}")
                });
                Ok(())
            })?;
        }
    }
    Ok(())
}
