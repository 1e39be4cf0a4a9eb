//! One object being built, with the bookkeeping kustomize keeps beside it
//! (previous identities, prefixes/suffixes applied, generator flags).

use serde_json::{Map, Value};

use crate::resid::{Gvk, ResId};

/// How a generated object combines with an existing one of the same identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Behavior {
    /// A new object; an existing one of the same identity is an error.
    #[default]
    Create,
    /// Replace the data of the existing object.
    Replace,
    /// Merge data into the existing object.
    Merge,
}

/// An object plus build-time bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    /// The object itself.
    pub obj: Map<String, Value>,
    /// Identities the object had before renames, oldest first.
    pub prev_ids: Vec<ResId>,
    /// Name prefixes applied, innermost first.
    pub prefixes: Vec<String>,
    /// Name suffixes applied, innermost first.
    pub suffixes: Vec<String>,
    /// Generated object whose name gets a content hash.
    pub needs_hash: bool,
    /// Generator behavior.
    pub behavior: Behavior,
    /// Names of the vars that read this object (kustomize's refVarNames).
    pub ref_var_names: Vec<String>,
    /// Where the object came from (tracked when the build asks for build metadata).
    pub origin: Option<crate::build_metadata::Origin>,
    /// Transformers that changed the object, in order (same condition).
    pub transformations: Vec<crate::build_metadata::Origin>,
}

impl Resource {
    /// Wraps a parsed object.
    pub fn new(obj: Map<String, Value>) -> Resource {
        Resource {
            obj,
            prev_ids: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            needs_hash: false,
            behavior: Behavior::Create,
            ref_var_names: Vec::new(),
            origin: None,
            transformations: Vec::new(),
        }
    }

    /// Current identity.
    pub fn cur_id(&self) -> ResId {
        ResId::of(&self.obj)
    }

    /// The first identity the object had.
    pub fn org_id(&self) -> ResId {
        self.prev_ids
            .first()
            .cloned()
            .unwrap_or_else(|| self.cur_id())
    }

    /// Previous identities followed by the current one.
    pub fn all_ids(&self) -> Vec<ResId> {
        let mut ids = self.prev_ids.clone();
        ids.push(self.cur_id());
        ids
    }

    /// Records the current identity as a previous one (before a rename).
    pub fn store_previous_id(&mut self) {
        let id = self.cur_id();
        let ns = id.effective_namespace().to_string();
        self.prev_ids.push(ResId {
            gvk: id.gvk,
            name: id.name,
            namespace: ns,
        });
    }

    /// The kind.
    pub fn kind(&self) -> &str {
        self.obj.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    /// Group, version and kind.
    pub fn gvk(&self) -> Gvk {
        let api_version = self
            .obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        Gvk::from_api_version(api_version, self.kind())
    }

    /// metadata.name.
    pub fn name(&self) -> &str {
        self.meta_str("name")
    }

    /// metadata.namespace.
    pub fn namespace(&self) -> &str {
        self.meta_str("namespace")
    }

    fn meta_str(&self, key: &str) -> &str {
        self.obj
            .get("metadata")
            .and_then(Value::as_object)
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The metadata map, created when missing.
    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let meta = self.obj.entry("metadata").or_insert(Value::Null);
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        meta.as_object_mut()
            .expect("metadata was just made an object")
    }

    /// Sets metadata.name.
    pub fn set_name(&mut self, name: &str) {
        self.metadata_mut()
            .insert("name".into(), Value::String(name.to_string()));
    }

    /// Sets metadata.namespace (removes it when empty).
    pub fn set_namespace(&mut self, namespace: &str) {
        let meta = self.metadata_mut();
        if namespace.is_empty() {
            meta.remove("namespace");
        } else {
            meta.insert("namespace".into(), Value::String(namespace.to_string()));
        }
    }

    /// A string map under metadata (labels or annotations).
    pub fn string_map(&self, field: &str) -> Vec<(String, String)> {
        self.obj
            .get("metadata")
            .and_then(Value::as_object)
            .and_then(|m| m.get(field))
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), scalar_text(v))).collect())
            .unwrap_or_default()
    }

    /// True when the object is empty (deleted by a patch).
    pub fn is_empty(&self) -> bool {
        self.obj.is_empty()
    }
}

/// Text of a scalar as YAML would print it; empty for maps and lists.
pub(crate) fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        _ => String::new(),
    }
}
