//! Field specs: "this path in objects of this kind", and walking an object along one.

use serde_json::{Map, Value};

use crate::error::{Failure, Outcome};
use crate::resid::Gvk;

/// A path in objects of the selected kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldSpec {
    /// Kinds the spec applies to (empty parts match anything).
    pub gvk: Gvk,
    /// Path segments; a trailing `[]` marks a list.
    pub path: Vec<String>,
    /// Create missing fields along the path.
    pub create: bool,
}

impl FieldSpec {
    /// A spec for objects of group/version/kind (empty parts match anything) at `path`.
    pub fn new(group: &str, version: &str, kind: &str, path: &str, create: bool) -> FieldSpec {
        FieldSpec {
            gvk: Gvk {
                group: group.into(),
                version: version.into(),
                kind: kind.into(),
            },
            path: split_path(path),
            create,
        }
    }

    /// Path as written.
    pub fn path_string(&self) -> String {
        self.path.join("/")
    }

    /// True when the spec applies to an object of this kind (current apiVersion and kind).
    pub fn matches(&self, gvk: &Gvk) -> bool {
        gvk.is_selected_by(&self.gvk)
    }
}

/// Splits a field-spec path on `/`, honouring `\/` escapes.
pub(crate) fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'/') {
            cur.push('/');
            chars.next();
        } else if c == '/' {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// What to create at the end of the path when it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreateKind {
    /// Never create.
    Nothing,
    /// A scalar (set afterwards by the setter).
    Scalar,
    /// An empty mapping.
    Mapping,
}

/// Walks `obj` along `spec` and calls `set` on every node the path reaches.
pub(crate) fn apply(
    obj: &mut Map<String, Value>,
    spec: &FieldSpec,
    create_kind: CreateKind,
    set: &mut dyn FnMut(&mut Value) -> Outcome<()>,
) -> Outcome<()> {
    walk_map(obj, &spec.path, spec.create, create_kind, set)
        .map_err(|e| Failure::new(format!("considering field '{}': {e}", spec.path_string())))
}

fn walk(
    node: &mut Value,
    path: &[String],
    create: bool,
    create_kind: CreateKind,
    set: &mut dyn FnMut(&mut Value) -> Outcome<()>,
) -> Outcome<()> {
    if path.is_empty() {
        return set(node);
    }
    match node {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for item in items {
                walk(item, path, create, create_kind, set)?;
            }
            Ok(())
        }
        Value::Object(map) => walk_map(map, path, create, create_kind, set),
        _ => Err(Failure::new("expected sequence or mapping node")),
    }
}

fn walk_map(
    map: &mut Map<String, Value>,
    path: &[String],
    create: bool,
    create_kind: CreateKind,
    set: &mut dyn FnMut(&mut Value) -> Outcome<()>,
) -> Outcome<()> {
    let (name, is_seq) = match path[0].strip_suffix("[]") {
        Some(n) => (n, true),
        None => (path[0].as_str(), false),
    };
    if name.is_empty() {
        return Err(Failure::new("cannot set or create an empty field name"));
    }
    let may_create = create && create_kind != CreateKind::Nothing && !is_seq;
    let last = path.len() == 1;
    let fresh = || {
        if last && create_kind == CreateKind::Scalar {
            Value::Null
        } else {
            Value::Object(Map::new())
        }
    };
    if !map.contains_key(name) {
        if !may_create {
            return Ok(());
        }
        map.insert(name.to_string(), fresh());
    } else if may_create && map.get(name).is_some_and(Value::is_null) {
        map.insert(name.to_string(), fresh());
    }
    let Some(field) = map.get_mut(name) else {
        return Ok(());
    };
    walk(field, &path[1..], create, create_kind, set)
}
