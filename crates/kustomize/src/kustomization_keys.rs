//! kubectl reads a kustomization with Go's `encoding/json`, which matches
//! field names without regard to case: `nameprefix`, `patchesJSON6902` and
//! `NamePrefix` are all accepted. This module renames such keys to their
//! canonical spelling (at every level whose fields are known, never inside
//! user maps such as `commonLabels`) and folds the deprecated `imageTags`
//! into `images`, before the typed parse.

use serde_json::{Map, Value};

/// What a known field holds.
enum Shape {
    /// A scalar or a user-keyed map: keys below are left alone.
    Leaf,
    /// An object with these fields.
    Object(&'static [Field]),
    /// A list of objects with these fields.
    Objects(&'static [Field]),
}

/// A known field name and what it holds.
struct Field(&'static str, Shape);

const SELECTOR: &[Field] = &[
    Field("group", Shape::Leaf),
    Field("version", Shape::Leaf),
    Field("kind", Shape::Leaf),
    Field("name", Shape::Leaf),
    Field("namespace", Shape::Leaf),
    Field("labelSelector", Shape::Leaf),
    Field("annotationSelector", Shape::Leaf),
];

const PATCH: &[Field] = &[
    Field("path", Shape::Leaf),
    Field("patch", Shape::Leaf),
    Field("target", Shape::Object(SELECTOR)),
    Field("options", Shape::Leaf),
];

const GENERATOR_OPTIONS: &[Field] = &[
    Field("labels", Shape::Leaf),
    Field("annotations", Shape::Leaf),
    Field("disableNameSuffixHash", Shape::Leaf),
    Field("immutable", Shape::Leaf),
];

const GENERATOR: &[Field] = &[
    Field("name", Shape::Leaf),
    Field("namespace", Shape::Leaf),
    Field("behavior", Shape::Leaf),
    Field("literals", Shape::Leaf),
    Field("files", Shape::Leaf),
    Field("envs", Shape::Leaf),
    Field("env", Shape::Leaf),
    Field("options", Shape::Object(GENERATOR_OPTIONS)),
    Field("type", Shape::Leaf),
];

const IMAGE: &[Field] = &[
    Field("name", Shape::Leaf),
    Field("newName", Shape::Leaf),
    Field("newTag", Shape::Leaf),
    Field("digest", Shape::Leaf),
    Field("tagSuffix", Shape::Leaf),
];

const REPLICA: &[Field] = &[Field("name", Shape::Leaf), Field("count", Shape::Leaf)];

const FIELD_SPEC: &[Field] = &[
    Field("path", Shape::Leaf),
    Field("group", Shape::Leaf),
    Field("version", Shape::Leaf),
    Field("kind", Shape::Leaf),
    Field("create", Shape::Leaf),
];

const LABEL: &[Field] = &[
    Field("pairs", Shape::Leaf),
    Field("includeSelectors", Shape::Leaf),
    Field("includeTemplates", Shape::Leaf),
    Field("fields", Shape::Objects(FIELD_SPEC)),
];

const LEGACY_SORT: &[Field] = &[
    Field("orderFirst", Shape::Leaf),
    Field("orderLast", Shape::Leaf),
];

const SORT_OPTIONS: &[Field] = &[
    Field("order", Shape::Leaf),
    Field("legacySortOptions", Shape::Object(LEGACY_SORT)),
];

/// Every field of kustomize v5.5.0's Kustomization type.
const KUSTOMIZATION: &[Field] = &[
    Field("apiVersion", Shape::Leaf),
    Field("kind", Shape::Leaf),
    Field("metadata", Shape::Leaf),
    Field("openapi", Shape::Leaf),
    Field("namePrefix", Shape::Leaf),
    Field("nameSuffix", Shape::Leaf),
    Field("namespace", Shape::Leaf),
    Field("commonLabels", Shape::Leaf),
    Field("labels", Shape::Objects(LABEL)),
    Field("commonAnnotations", Shape::Leaf),
    Field("patchesStrategicMerge", Shape::Leaf),
    Field("patchesJson6902", Shape::Objects(PATCH)),
    Field("patches", Shape::Objects(PATCH)),
    Field("images", Shape::Objects(IMAGE)),
    Field("imageTags", Shape::Objects(IMAGE)),
    Field("replacements", Shape::Leaf),
    Field("replicas", Shape::Objects(REPLICA)),
    Field("vars", Shape::Leaf),
    Field("sortOptions", Shape::Object(SORT_OPTIONS)),
    Field("resources", Shape::Leaf),
    Field("components", Shape::Leaf),
    Field("crds", Shape::Leaf),
    Field("bases", Shape::Leaf),
    Field("configMapGenerator", Shape::Objects(GENERATOR)),
    Field("secretGenerator", Shape::Objects(GENERATOR)),
    Field("helmGlobals", Shape::Leaf),
    Field("helmCharts", Shape::Leaf),
    Field("helmChartInflationGenerator", Shape::Leaf),
    Field("generatorOptions", Shape::Object(GENERATOR_OPTIONS)),
    Field("configurations", Shape::Leaf),
    Field("generators", Shape::Leaf),
    Field("transformers", Shape::Leaf),
    Field("validators", Shape::Leaf),
    Field("buildMetadata", Shape::Leaf),
];

/// Canonicalizes the keys of a kustomization document in place.
pub(crate) fn normalize(doc: &mut Map<String, Value>) {
    normalize_object(doc, KUSTOMIZATION);
    if let Some(tags) = doc.remove("imageTags") {
        let mut images = match doc.remove("images") {
            Some(Value::Array(a)) => a,
            Some(Value::Null) | None => Vec::new(),
            Some(other) => vec![other],
        };
        match tags {
            Value::Array(a) => images.extend(a),
            Value::Null => {}
            other => images.push(other),
        }
        doc.insert("images".into(), Value::Array(images));
    }
}

fn normalize_object(map: &mut Map<String, Value>, fields: &[Field]) {
    let needs_rename = map
        .keys()
        .any(|k| !fields.iter().any(|f| f.0 == k) && canonical(k, fields).is_some());
    if needs_rename {
        let old = std::mem::take(map);
        for (k, v) in old {
            let key = canonical(&k, fields).map_or(k, str::to_string);
            // A later spelling of the same field wins, as in Go.
            map.insert(key, v);
        }
    }
    for field in fields {
        let Some(v) = map.get_mut(field.0) else {
            continue;
        };
        match (&field.1, v) {
            (Shape::Object(sub), Value::Object(m)) => normalize_object(m, sub),
            (Shape::Objects(sub), Value::Array(items)) => {
                for item in items {
                    if let Value::Object(m) = item {
                        normalize_object(m, sub);
                    }
                }
            }
            _ => {}
        }
    }
}

fn canonical<'a>(key: &str, fields: &'a [Field]) -> Option<&'a str> {
    fields
        .iter()
        .find(|f| f.0.eq_ignore_ascii_case(key))
        .map(|f| f.0)
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use serde_json::json;

    #[test]
    fn legacy_spellings_become_canonical() {
        let mut doc = json!({
            "nameprefix": "p-",
            "NameSuffix": "-s",
            "patchesJSON6902": [{"Path": "p.yaml", "target": {"Kind": "Deployment"}}],
            "commonLabels": {"App": "x"},
            "imageTags": [{"name": "a", "newTag": "1"}],
        });
        let map = doc.as_object_mut().unwrap();
        normalize(map);
        assert_eq!(
            doc,
            json!({
                "namePrefix": "p-",
                "nameSuffix": "-s",
                "patchesJson6902": [{"path": "p.yaml", "target": {"kind": "Deployment"}}],
                "commonLabels": {"App": "x"},
                "images": [{"name": "a", "newTag": "1"}],
            })
        );
    }

    #[test]
    fn unknown_fields_stay_unknown() {
        let mut doc = json!({"nameprefixx": "p-"});
        normalize(doc.as_object_mut().unwrap());
        assert_eq!(doc, json!({"nameprefixx": "p-"}));
    }
}
