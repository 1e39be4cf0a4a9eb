//! The `openapi` field: which schema strategic merge patches use to find
//! merge keys. `version` names a built-in schema (kustomize v5.5.0 has only
//! v1.21.2, the default); `path` names an OpenAPI document (JSON or YAML,
//! `definitions` with `x-kubernetes-group-version-kind`) that replaces the
//! built-in schema for the whole build: kinds it does not define have no
//! merge keys at all.
//!
//! Like kustomize, the first kustomization reached (the top one first) whose
//! `openapi` field sets a schema decides it for the rest of the build.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::patch::schema::ListStrategy;
use crate::target::Target;

/// The built-in schema versions `openapi.version` may name.
const BUILTIN_VERSIONS: &[&str] = &["v1.21.2"];

/// Most `$ref` hops followed to resolve one schema node.
const MAX_REF_HOPS: usize = 64;

/// The schema strategic merge patches consult.
#[derive(Debug, Clone, Default)]
pub(crate) enum Schema {
    /// kustomize's built-in Kubernetes schema.
    #[default]
    Builtin,
    /// A document given with `openapi.path`.
    Custom(Arc<CustomSchema>),
}

/// A parsed custom OpenAPI document.
#[derive(Debug)]
pub(crate) struct CustomSchema {
    /// The built-in schema is loaded beside the document (kustomize parses it
    /// too when a kind it does not know, or a patch, was met before a
    /// kustomization below the top set the custom schema).
    with_builtin: bool,
    definitions: Map<String, Value>,
    /// Definition name of each group/version/kind.
    by_gvk: HashMap<(String, String, String), String>,
}

/// Which schema a build uses, as kustomizations are reached.
#[derive(Debug, Default)]
pub(crate) struct SchemaState {
    /// The schema in force.
    pub schema: Schema,
    /// Set by some kustomization's `openapi` field (later ones are ignored).
    set: bool,
    /// kustomize has loaded its built-in schema (a patch was applied, or an
    /// object of a kind it does not know was read, before any custom schema).
    pub builtin_loaded: bool,
}

impl SchemaState {
    /// Notes what makes kustomize load its built-in schema: `patched` (a
    /// strategic merge patch applied) or objects of a group it does not know.
    pub fn note(&mut self, patched: bool, groups: impl IntoIterator<Item = String>) {
        if self.builtin_loaded || matches!(self.schema, Schema::Custom(_)) {
            return;
        }
        self.builtin_loaded = patched
            || groups
                .into_iter()
                .any(|g| !crate::patch::schema::is_builtin_group(&g));
    }

    /// kustomize's SetSchema for one kustomization; `top` is the build's own
    /// kustomization (which always decides).
    pub fn apply(&mut self, t: &Target<'_>, top: bool) -> Result<()> {
        let field = &t.kustomization.openapi;
        if field.is_empty() && !top {
            return Ok(());
        }
        // The file is read even when a schema is already set (kustomize does).
        let custom = match field.get("path") {
            Some(path) => Some(load(t, path)?),
            None => None,
        };
        if self.set && !top {
            return Ok(());
        }
        let version = field.get("version");
        if let Some(mut custom) = custom {
            custom.with_builtin = !top && self.builtin_loaded;
            if version.is_some() {
                return Err(Error::invalid(
                    &t.file,
                    "openapi: builtin version and custom schema provided, cannot use both",
                ));
            }
            self.schema = Schema::Custom(Arc::new(custom));
            self.set = true;
            return Ok(());
        }
        match version.map(String::as_str) {
            None | Some("") => {
                self.set = false;
                Ok(())
            }
            Some(v) if BUILTIN_VERSIONS.contains(&v) => {
                self.schema = Schema::Builtin;
                self.set = true;
                Ok(())
            }
            Some(v) => Err(Error::invalid(
                &t.file,
                format!(
                    "openapi.version: the specified OpenAPI version '{v}' is not built in (built in: {})",
                    BUILTIN_VERSIONS.join(", ")
                ),
            )),
        }
    }
}

fn load(t: &Target<'_>, entry: &str) -> Result<CustomSchema> {
    if entry.contains("://") {
        return Err(Error::invalid(
            &t.file,
            format!("openapi.path: remote schema '{entry}' is not supported (only local files)"),
        ));
    }
    let (real, text) = t.loader.read_field_file(entry, &t.file, "openapi.path")?;
    let doc = crate::yaml_io::parse_documents(&text, &real, &t.loader.limits)?
        .into_iter()
        .next()
        .unwrap_or(Value::Null);
    CustomSchema::from_document(&doc, &real)
}

impl CustomSchema {
    /// Indexes the definitions of an OpenAPI document by group/version/kind.
    pub fn from_document(doc: &Value, path: &Path) -> Result<CustomSchema> {
        let definitions = match doc.get("definitions") {
            Some(Value::Object(m)) => m.clone(),
            None | Some(Value::Null) => Map::new(),
            Some(_) => {
                return Err(Error::invalid(
                    path,
                    "openapi: 'definitions' must be a mapping",
                ));
            }
        };
        let mut by_gvk = HashMap::new();
        for (name, def) in &definitions {
            let Some(Value::Array(gvks)) = def.get("x-kubernetes-group-version-kind") else {
                continue;
            };
            for gvk in gvks {
                let text = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                by_gvk
                    .entry((text("group"), text("version"), text("kind")))
                    .or_insert_with(|| name.clone());
            }
        }
        Ok(CustomSchema {
            with_builtin: false,
            definitions,
            by_gvk,
        })
    }

    fn is_array(node: &Value) -> bool {
        match node.get("type") {
            Some(Value::String(t)) => t == "array",
            Some(Value::Array(types)) => types.len() == 1 && types[0] == "array",
            _ => false,
        }
    }

    /// How the list at `path` (field names from the object root; list
    /// positions skipped) of an object of kind `gvk` merges.
    pub fn list_strategy(&self, gvk: &crate::resid::Gvk, path: &[String]) -> ListStrategy {
        let key = (gvk.group.clone(), gvk.version.clone(), gvk.kind.clone());
        let Some(name) = self.by_gvk.get(&key) else {
            if self.with_builtin {
                return crate::patch::schema::list_strategy(&gvk.group, &gvk.kind, path);
            }
            return ListStrategy::Replace;
        };
        let Some(mut node) = self.definitions.get(name) else {
            return ListStrategy::Replace;
        };
        for (i, segment) in path.iter().enumerate() {
            let resolved = match self.resolve_or_builtin(node, &path[i..]) {
                Ok(n) => n,
                Err(strategy) => return strategy,
            };
            node = resolved;
            if Self::is_array(node) {
                let Some(items) = node.get("items") else {
                    return ListStrategy::Replace;
                };
                node = match self.resolve_or_builtin(items, &path[i..]) {
                    Ok(n) => n,
                    Err(strategy) => return strategy,
                };
            }
            let child = node
                .get("properties")
                .and_then(|p| p.get(segment.as_str()))
                .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()));
            match child {
                Some(next) => node = next,
                None => return ListStrategy::Replace,
            }
        }
        let node = match self.resolve_or_builtin(node, &[]) {
            Ok(n) => n,
            Err(strategy) => return strategy,
        };
        strategy_of(node)
    }

    /// Resolves `node`'s `$ref`s; a reference the document lacks continues in
    /// the built-in schema (when loaded) for the `rest` of the path.
    fn resolve_or_builtin<'a>(
        &'a self,
        mut node: &'a Value,
        rest: &[String],
    ) -> std::result::Result<&'a Value, ListStrategy> {
        for _ in 0..MAX_REF_HOPS {
            let Some(reference) = node.get("$ref").and_then(Value::as_str) else {
                return Ok(node);
            };
            let name = reference
                .strip_prefix("#/definitions/")
                .unwrap_or(reference);
            match self.definitions.get(name) {
                Some(next) => node = next,
                None if self.with_builtin => {
                    return Err(crate::patch::schema::builtin_type_strategy(name, rest));
                }
                None => return Err(ListStrategy::Replace),
            }
        }
        Err(ListStrategy::Replace)
    }
}

/// The merge strategy a list's schema node declares.
fn strategy_of(node: &Value) -> ListStrategy {
    let strategy = node
        .get("x-kubernetes-patch-strategy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !strategy.split(',').any(|s| s == "merge") {
        return ListStrategy::Replace;
    }
    let keys: Vec<String> = match node.get("x-kubernetes-list-map-keys") {
        Some(Value::Array(keys)) => keys
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => node
            .get("x-kubernetes-patch-merge-key")
            .and_then(Value::as_str)
            .map(|k| vec![k.to_string()])
            .unwrap_or_default(),
    };
    if keys.is_empty() {
        ListStrategy::MergePrimitives
    } else {
        ListStrategy::MergeByOwnedKeys(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> CustomSchema {
        let doc = serde_json::json!({"definitions": {
            "v1alpha1.MyCRD": {
                "properties": {"spec": {"properties": {"template": {"$ref": "#/definitions/Tpl"}}}},
                "x-kubernetes-group-version-kind": [{"group": "example.com", "kind": "MyCRD", "version": "v1alpha1"}]
            },
            "Tpl": {"properties": {"spec": {"properties": {"containers": {
                "type": "array",
                "items": {"$ref": "#/definitions/C"},
                "x-kubernetes-patch-merge-key": "name",
                "x-kubernetes-patch-strategy": "merge"
            }}}}},
            "C": {"properties": {"ports": {
                "type": "array",
                "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                "x-kubernetes-patch-merge-key": "containerPort",
                "x-kubernetes-patch-strategy": "merge"
            }}},
            "Loop": {"$ref": "#/definitions/Loop"}
        }});
        CustomSchema::from_document(&doc, Path::new("s.json")).unwrap()
    }

    fn gvk(g: &str, v: &str, k: &str) -> crate::resid::Gvk {
        crate::resid::Gvk {
            group: g.into(),
            version: v.into(),
            kind: k.into(),
        }
    }

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(str::to_string).collect()
    }

    #[test]
    fn merge_keys_come_from_the_document() {
        let s = schema();
        assert_eq!(
            s.list_strategy(
                &gvk("example.com", "v1alpha1", "MyCRD"),
                &p("spec.template.spec.containers")
            ),
            ListStrategy::MergeByOwnedKeys(vec!["name".into()])
        );
        assert_eq!(
            s.list_strategy(
                &gvk("example.com", "v1alpha1", "MyCRD"),
                &p("spec.template.spec.containers.ports")
            ),
            ListStrategy::MergeByOwnedKeys(vec!["containerPort".into(), "protocol".into()])
        );
        // Kinds the document does not define have no merge keys.
        assert_eq!(
            s.list_strategy(
                &gvk("apps", "v1", "Deployment"),
                &p("spec.template.spec.containers")
            ),
            ListStrategy::Replace
        );
    }

    #[test]
    fn with_the_builtin_schema_beside_it_missing_refs_resolve_there() {
        let mut s = schema();
        s.with_builtin = true;
        // Tpl refers to C which is there; a doc whose ref is missing falls back.
        s.definitions.insert(
            "Tpl".into(),
            serde_json::json!({"$ref": "#/definitions/io.k8s.api.core.v1.PodTemplateSpec"}),
        );
        assert_eq!(
            s.list_strategy(
                &gvk("example.com", "v1alpha1", "MyCRD"),
                &p("spec.template.spec.volumes")
            ),
            ListStrategy::MergeByKeys(&["name"])
        );
        assert_eq!(
            s.list_strategy(
                &gvk("apps", "v1", "Deployment"),
                &p("spec.template.spec.containers")
            ),
            ListStrategy::MergeByKeys(&["name"])
        );
    }

    #[test]
    fn reference_loops_end() {
        let s = schema();
        let looping = serde_json::json!({"$ref": "#/definitions/Loop"});
        assert_eq!(
            s.resolve_or_builtin(&looping, &[]).unwrap_err(),
            ListStrategy::Replace
        );
    }
}
