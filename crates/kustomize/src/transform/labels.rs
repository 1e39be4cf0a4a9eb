//! commonLabels, labels and commonAnnotations: set string entries in maps at field-spec paths.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{Failure, Outcome};
use crate::fieldspec::{self, CreateKind, FieldSpec};
use crate::resmap::ResMap;

/// Sets every `pairs` entry in the maps the specs reach.
pub(crate) fn set_map_entries(
    resmap: &mut ResMap,
    pairs: &BTreeMap<String, String>,
    specs: &[FieldSpec],
) -> Outcome<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    for res in &mut resmap.items {
        let gvk = res.gvk();
        for spec in specs {
            if !spec.matches(&gvk) {
                continue;
            }
            if let Err(e) = fieldspec::apply(&mut res.obj, spec, CreateKind::Mapping, &mut |node| {
                set_entries(node, pairs)
            }) {
                return Err(Failure::new(format!("{e} of object {}", res.cur_id())));
            }
        }
    }
    Ok(())
}

fn set_entries(node: &mut Value, pairs: &BTreeMap<String, String>) -> Outcome<()> {
    if node.is_null() {
        *node = Value::Object(Map::new());
    }
    let Value::Object(map) = node else {
        return Err(Failure::new("wrong node kind: expected MappingNode"));
    };
    for (k, v) in pairs {
        map.insert(k.clone(), Value::String(v.clone()));
    }
    Ok(())
}

/// Merges user field specs into a list, skipping duplicates (same kind and path).
pub(crate) fn merge_specs(into: &mut Vec<FieldSpec>, more: &[FieldSpec]) {
    for spec in more {
        if !into
            .iter()
            .any(|s| s.gvk == spec.gvk && s.path == spec.path)
        {
            into.push(spec.clone());
        }
    }
}
