//! Reading YAML streams into JSON values and writing them back.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Parses every document of a YAML stream; empty documents are skipped.
pub(crate) fn parse_documents(text: &str, path: &Path) -> Result<Vec<Value>> {
    let mut docs = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|e| Error::Yaml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// Parses the objects of a resource file: documents must be maps with a kind
/// and (except lists) a metadata.name; `*List` kinds are expanded into their items.
pub(crate) fn parse_objects(text: &str, path: &Path) -> Result<Vec<Map<String, Value>>> {
    let mut out = Vec::new();
    for doc in parse_documents(text, path)? {
        let Value::Object(obj) = doc else {
            return Err(Error::Yaml {
                path: path.to_path_buf(),
                message: format!("expected a mapping, found {}", describe(&doc)),
            });
        };
        if obj.is_empty() {
            continue;
        }
        push_object(obj, path, &mut out)?;
    }
    Ok(out)
}

fn push_object(
    obj: Map<String, Value>,
    path: &Path,
    out: &mut Vec<Map<String, Value>>,
) -> Result<()> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind.is_empty() {
        return Err(Error::invalid(
            path,
            format!("missing kind in object {}", brief(&obj)),
        ));
    }
    if kind.ends_with("List") {
        if let Some(items) = obj.get("items") {
            let items = match items {
                Value::Array(a) => a.clone(),
                Value::Null => Vec::new(),
                other => {
                    return Err(Error::invalid(
                        path,
                        format!("items of {kind} must be a list, found {}", describe(other)),
                    ));
                }
            };
            for item in items {
                match item {
                    Value::Object(o) if o.is_empty() => {}
                    Value::Object(o) => push_object(o, path, out)?,
                    other => {
                        return Err(Error::invalid(
                            path,
                            format!(
                                "item of {kind} must be a mapping, found {}",
                                describe(&other)
                            ),
                        ));
                    }
                }
            }
            return Ok(());
        }
        return Ok(());
    }
    let name = obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        return Err(Error::invalid(
            path,
            format!("missing metadata.name in object {}", brief(&obj)),
        ));
    }
    if let Some(meta) = obj.get("metadata")
        && !meta.is_object()
    {
        return Err(Error::invalid(path, "metadata must be a mapping"));
    }
    out.push(obj);
    Ok(())
}

/// Short description of an object for messages.
fn brief(obj: &Map<String, Value>) -> String {
    let s = serde_json::to_string(obj).unwrap_or_default();
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

/// The YAML type name of a value.
pub(crate) fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Renders objects as a YAML stream separated by `---`.
pub(crate) fn to_yaml_stream(objects: &[Value]) -> String {
    let mut out = String::new();
    for (i, obj) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&crate::yaml_emit::document(obj));
    }
    out
}
