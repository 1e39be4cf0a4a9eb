//! RFC 6902 JSON patches (add, remove, replace, move, copy, test).

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Failure, Outcome};
use crate::limits::Limits;

/// One operation.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Operation {
    op: String,
    path: String,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    from: Option<String>,
}

/// Parses a list of operations from JSON or YAML text.
pub(crate) fn parse(text: &str, limits: &Limits) -> Outcome<Vec<Operation>> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(Failure::new("empty json patch operations"));
    }
    let yaml = || {
        crate::yaml_io::parse_value(trimmed, std::path::Path::new("patch"), limits).map_err(|e| {
            Failure::new(match e {
                Error::Yaml { message, .. } => format!("invalid JSON patch: {message}"),
                other => format!("invalid JSON patch: {other}"),
            })
        })
    };
    let value: Value = if trimmed.starts_with('[') {
        match serde_json::from_str(trimmed) {
            Ok(v) => v,
            Err(_) => yaml()?,
        }
    } else {
        yaml()?
    };
    if !value.is_array() {
        return Err(Failure::new("a JSON patch must be a list of operations"));
    }
    let ops: Vec<Operation> = serde_json::from_value(value)
        .map_err(|e| Failure::new(format!("invalid JSON patch operation: {e}")))?;
    for op in &ops {
        match op.op.as_str() {
            "add" | "replace" | "test" if op.value.is_none() => {
                return Err(Failure::new(format!(
                    "operation '{}' at '{}' needs a value",
                    op.op, op.path
                )));
            }
            "move" | "copy" if op.from.is_none() => {
                return Err(Failure::new(format!(
                    "operation '{}' at '{}' needs 'from'",
                    op.op, op.path
                )));
            }
            "add" | "remove" | "replace" | "move" | "copy" | "test" => {}
            other => {
                return Err(Failure::new(format!(
                    "unexpected kind of operation: {other}"
                )));
            }
        }
    }
    Ok(ops)
}

/// Applies operations in order.
pub(crate) fn apply(doc: &mut Value, ops: &[Operation]) -> Outcome<()> {
    for op in ops {
        apply_one(doc, op)
            .map_err(|e| Failure::new(format!("{} operation at '{}': {e}", op.op, op.path)))?;
    }
    Ok(())
}

fn pointer(path: &str) -> Outcome<Vec<String>> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(Failure::new(format!("invalid JSON pointer '{path}'")));
    };
    Ok(rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn apply_one(doc: &mut Value, op: &Operation) -> Outcome<()> {
    let path = pointer(&op.path)?;
    match op.op.as_str() {
        "add" => add(doc, &path, op.value.clone().unwrap_or(Value::Null)),
        "remove" => remove(doc, &path).map(|_| ()),
        "replace" => {
            let target = get_mut(doc, &path)?;
            *target = op.value.clone().unwrap_or(Value::Null);
            Ok(())
        }
        "move" => {
            let from = pointer(op.from.as_deref().unwrap_or(""))?;
            let v = remove(doc, &from)?;
            add(doc, &path, v)
        }
        "copy" => {
            let from = pointer(op.from.as_deref().unwrap_or(""))?;
            let v = get_mut(doc, &from)?.clone();
            add(doc, &path, v)
        }
        "test" => {
            let v = get_mut(doc, &path)?;
            if Some(&*v) == op.value.as_ref() {
                Ok(())
            } else {
                Err(Failure::new("testing value failed"))
            }
        }
        other => Err(Failure::new(format!(
            "unexpected kind of operation: {other}"
        ))),
    }
}

fn index(items: &[Value], token: &str, allow_end: bool) -> Outcome<usize> {
    if allow_end && token == "-" {
        return Ok(items.len());
    }
    let i: usize = token
        .parse()
        .map_err(|_| Failure::new(format!("invalid array index '{token}'")))?;
    let limit = if allow_end {
        items.len()
    } else {
        items.len().saturating_sub(1)
    };
    if i > limit || (!allow_end && items.is_empty()) {
        return Err(Failure::new(format!("array index {i} out of bounds")));
    }
    Ok(i)
}

fn get_mut<'a>(doc: &'a mut Value, path: &[String]) -> Outcome<&'a mut Value> {
    let mut cur = doc;
    for token in path {
        cur = match cur {
            Value::Object(m) => m.get_mut(token).ok_or_else(|| {
                Failure::new(format!("doc is missing path: missing key '{token}'"))
            })?,
            Value::Array(items) => {
                let i = index(items, token, false)?;
                &mut items[i]
            }
            _ => return Err(Failure::new(format!("doc is missing path at '{token}'"))),
        };
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &[String], value: Value) -> Outcome<()> {
    let Some((last, parent_path)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    let parent = get_mut(doc, parent_path)?;
    match parent {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            let i = index(items, last, true)?;
            items.insert(i, value);
            Ok(())
        }
        _ => Err(Failure::new("parent of the path is not a container")),
    }
}

fn remove(doc: &mut Value, path: &[String]) -> Outcome<Value> {
    let Some((last, parent_path)) = path.split_last() else {
        return Err(Failure::new("cannot remove the whole document"));
    };
    let parent = get_mut(doc, parent_path)?;
    match parent {
        Value::Object(m) => m
            .shift_remove(last)
            .ok_or_else(|| Failure::new(format!("unable to remove nonexistent key: {last}"))),
        Value::Array(items) => {
            let i = index(items, last, false)?;
            Ok(items.remove(i))
        }
        _ => Err(Failure::new("parent of the path is not a container")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_in_yaml_form() {
        let ops = parse("- op: add\n  path: /a/-\n  value: 3\n- op: replace\n  path: /b\n  value: x\n- op: remove\n  path: /c\n", &Limits::default())
            .unwrap_or_default();
        let mut doc = serde_json::json!({"a": [1, 2], "b": "y", "c": true});
        assert!(apply(&mut doc, &ops).is_ok());
        assert_eq!(doc, serde_json::json!({"a": [1, 2, 3], "b": "x"}));
    }

    #[test]
    fn replace_of_missing_key_fails() {
        let ops = parse(
            r#"[{"op":"replace","path":"/zz","value":1}]"#,
            &Limits::default(),
        )
        .unwrap_or_default();
        let mut doc = serde_json::json!({});
        assert!(apply(&mut doc, &ops).is_err());
    }
}
