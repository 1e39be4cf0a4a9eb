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
        // The whole text: a trimmed one loses a final block scalar's line break.
        crate::yaml_io::parse_value(text, std::path::Path::new("patch"), limits).map_err(|e| {
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

/// Applies operations in order. `copy` operations may add at most
/// `max_copied` bytes (as [`weight`] measures them) to the document in all:
/// each copy can double it, so a few dozen would otherwise exhaust memory.
pub(crate) fn apply(doc: &mut Value, ops: &[Operation], max_copied: u64) -> Outcome<()> {
    let mut copied = 0u64;
    for op in ops {
        if op.op == "copy" {
            let from = pointer(op.from.as_deref().unwrap_or(""))?;
            if let Ok(v) = get_mut(doc, &from) {
                copied = copied.saturating_add(weight(v, max_copied.saturating_sub(copied)));
                if copied > max_copied {
                    return Err(Failure::new(format!(
                        "copy operation at '{}': copies add more than {max_copied} bytes to one object (limit max-file-bytes={max_copied})",
                        op.path
                    )));
                }
            }
        }
        apply_one(doc, op)
            .map_err(|e| Failure::new(format!("{} operation at '{}': {e}", op.op, op.path)))?;
    }
    Ok(())
}

/// Size of a value (16 bytes per node plus its text), counted up to just past `budget`.
fn weight(v: &Value, budget: u64) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        total = total.saturating_add(crate::limits::YAML_NODE_BYTES);
        match v {
            Value::String(s) => total = total.saturating_add(s.len() as u64),
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => {
                for (k, v) in map {
                    total = total.saturating_add(k.len() as u64);
                    stack.push(v);
                }
            }
            _ => {}
        }
        if total > budget {
            break;
        }
    }
    total
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
        assert!(apply(&mut doc, &ops, u64::MAX).is_ok());
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
        assert!(apply(&mut doc, &ops, u64::MAX).is_err());
    }

    #[test]
    fn copies_cannot_double_an_object_without_bound() {
        let text: String = (0..64)
            .map(|i| format!("- op: copy\n  from: /data\n  path: /data/k{i}\n"))
            .collect();
        let ops = parse(&text, &Limits::default()).unwrap_or_default();
        assert_eq!(ops.len(), 64);
        let mut doc = serde_json::json!({"data": {"a": "x"}});
        let err = apply(&mut doc, &ops, 1 << 20).expect_err("refused");
        assert!(err.0.contains("max-file-bytes=1048576"), "{err}");
    }

    #[test]
    fn a_final_block_scalar_keeps_its_line_break() {
        let ops = parse(
            "- op: add\n  path: /data/k\n  value: |\n    a\n    b\n",
            &Limits::default(),
        )
        .unwrap_or_default();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].value, Some(Value::String("a\nb\n".into())));
    }
}
