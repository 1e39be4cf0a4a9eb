//! Patches: `patches`, `patchesStrategicMerge` and `patchesJson6902`.

pub(crate) mod json6902;
pub(crate) mod schema;
pub(crate) mod selector;
pub(crate) mod strategic_merge;

use serde_json::{Map, Value};

use crate::error::{Failure, Outcome};
use crate::kustomization::Selector;
use crate::limits::Limits;
use crate::resmap::ResMap;
use crate::resource::Resource;
use selector::CompiledSelector;

/// A loaded patch ready to apply.
#[derive(Debug, Clone)]
pub(crate) enum LoadedPatch {
    /// Strategic-merge patch documents.
    Strategic(Vec<Map<String, Value>>),
    /// JSON6902 operations.
    Json(Vec<json6902::Operation>),
}

/// Classifies patch text as strategic-merge or JSON6902 (kustomize's rule: exactly one must parse).
///
/// The text is parsed as given: trimming it would drop the line break that
/// ends a final `|` block scalar (kustomize trims inline patches only, which
/// [`crate::target`] does before calling this).
pub(crate) fn load(text: &str, source: &str, limits: &Limits) -> Outcome<LoadedPatch> {
    let as_json = json6902::parse(text, limits);
    let as_smp = parse_smp(text, limits);
    match (as_smp, as_json) {
        (Ok(docs), Err(_)) => Ok(LoadedPatch::Strategic(docs)),
        (Err(_), Ok(ops)) => Ok(LoadedPatch::Json(ops)),
        (Ok(_), Ok(_)) => Err(Failure::new(format!(
            "illegally qualifies as both an SM and JSON patch: {source}"
        ))),
        (Err(e), Err(_)) => Err(Failure::new(format!(
            "unable to parse SM or JSON patch from {source}: {e}"
        ))),
    }
}

/// Parses strategic-merge patch documents (each needs a kind; `*List` is not expanded).
pub(crate) fn parse_smp(text: &str, limits: &Limits) -> Outcome<Vec<Map<String, Value>>> {
    let docs = crate::yaml_io::parse_documents(text, std::path::Path::new("patch"), limits)
        .map_err(|e| Failure::new(e.to_string()))?;
    let mut out = Vec::new();
    for doc in docs {
        match doc {
            Value::Object(m) if m.is_empty() => {}
            Value::Object(m) => {
                if m.get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
                {
                    return Err(Failure::new("missing kind in strategic merge patch"));
                }
                out.push(m);
            }
            _ => return Err(Failure::new("a strategic merge patch must be a mapping")),
        }
    }
    if out.is_empty() {
        return Err(Failure::new("no patch documents"));
    }
    Ok(out)
}

/// Applies a strategic-merge patch to one object, keeping its name, kind and
/// namespace unless the options allow changing them.
pub(crate) fn apply_smp(
    res: &mut Resource,
    patch: &Map<String, Value>,
    allow_name_change: bool,
    allow_kind_change: bool,
    schema: &crate::openapi::Schema,
) -> Outcome<()> {
    let (name, namespace, kind) = (
        res.name().to_string(),
        res.namespace().to_string(),
        res.kind().to_string(),
    );
    if allow_name_change || allow_kind_change {
        res.store_previous_id();
    }
    let gvk = res.gvk();
    let merged = strategic_merge::merge_object(&res.obj, patch, &gvk, schema)
        .map_err(|e| Failure::new(format!("applying patch to {}: {e}", res.cur_id())))?;
    match merged {
        None => res.obj = Map::new(),
        Some(m) if m.is_empty() => res.obj = Map::new(),
        Some(m) => {
            res.obj = m;
            if !allow_kind_change {
                res.obj.insert("kind".into(), Value::String(kind));
            }
            if !allow_name_change {
                res.set_name(&name);
            }
            res.set_namespace(&namespace);
        }
    }
    Ok(())
}

/// Indexes of objects selected by a target selector.
pub(crate) fn select(resmap: &ResMap, target: &Selector) -> Outcome<Vec<usize>> {
    let compiled = CompiledSelector::new(target)?;
    Ok(resmap
        .items
        .iter()
        .enumerate()
        .filter(|(_, r)| compiled.matches(r))
        .map(|(i, _)| i)
        .collect())
}

/// The one object whose current or previous identity equals the patch's
/// (kustomize's GetById on the patch's identity).
pub(crate) fn find_patch_target(resmap: &ResMap, patch: &Map<String, Value>) -> Outcome<usize> {
    let id = crate::resid::ResId::of(patch);
    let matches = resmap.find_by_any_id(|other| other.equals(&id));
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(Failure::new(format!(
            "no resource matches strategic merge patch \"{id}\": no matches for Id {id}; failed to find unique target for patch {id}"
        ))),
        _ => Err(Failure::new(format!(
            "multiple matches for Id {id}; failed to find unique target for patch {id}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The springboot example's patch file ends with a `|` block scalar: its
    /// value ends with a line break (which feeds the generated name's hash).
    #[test]
    fn a_patch_file_ending_with_a_block_scalar_keeps_its_line_break() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  app.properties: |\n    a=1\n    b=2\n";
        let Ok(LoadedPatch::Strategic(docs)) = load(text, "patch.yaml", &Limits::default()) else {
            panic!("a strategic-merge patch");
        };
        assert_eq!(docs[0]["data"]["app.properties"], "a=1\nb=2\n");
    }
}
