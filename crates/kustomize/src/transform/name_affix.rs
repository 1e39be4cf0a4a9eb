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
