//! Reading YAML streams into JSON values and writing them back.

use std::collections::VecDeque;
use std::path::Path;

use serde::de::DeserializeSeed;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::limits::{Limits, YAML_NODE_BYTES};
use crate::yaml_meter;
use crate::yaml_value::{Bounded, Budget};

/// Parses every document of a YAML stream; empty documents are skipped.
///
/// Bounded: when the text holds an alias, [`yaml_meter::measure`] weighs what
/// every alias expands to before anything is built; the values are then built
/// under a [`Budget`] (what the text could hold without aliases plus
/// [`Limits::max_yaml_alias_bytes`]) and [`Limits::max_yaml_depth`], in case
/// serde_norway reads the stream differently from the meter's parser.
pub(crate) fn parse_documents(text: &str, path: &Path, limits: &Limits) -> Result<Vec<Value>> {
    let mut docs = parse_stream(text, path, limits)?;
    docs.retain(|v| !v.is_null());
    Ok(docs)
}

fn parse_stream(text: &str, path: &Path, limits: &Limits) -> Result<Vec<Value>> {
    if text.as_bytes().contains(&b'*')
        && let Ok(Err(exceeded)) = yaml_meter::measure(text, limits)
    {
        return Err(Error::limit(path, exceeded));
    }
    build_stream(text, path, limits)
}

/// Builds the documents of a stream under a [`Budget`] alone (no meter).
fn build_stream(text: &str, path: &Path, limits: &Limits) -> Result<Vec<Value>> {
    let budget = Budget::new(
        own_bound(text.len()).saturating_add(limits.max_yaml_alias_bytes),
        limits.max_yaml_depth,
    );
    let mut docs = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let value = Bounded {
            budget: &budget,
            depth: 0,
        }
        .deserialize(document)
        .map_err(|e| {
            if budget.exhausted.get() {
                Error::Limit {
                    path: path.to_path_buf(),
                    message:
                        "document contains excessive aliasing: it expands past what its size allows"
                            .into(),
                    limit: format!("max-yaml-alias-bytes={}", limits.max_yaml_alias_bytes),
                }
            } else if budget.too_deep.get() {
                Error::Limit {
                    path: path.to_path_buf(),
                    message: format!("nesting deeper than {} levels", limits.max_yaml_depth),
                    limit: format!("max-yaml-depth={}", limits.max_yaml_depth),
                }
            } else {
                let message = e.to_string();
                Error::Yaml {
                    path: path.to_path_buf(),
                    message: duplicate_key_lines(text, &message).unwrap_or(message),
                }
            }
        })?;
        docs.push(value);
    }
    Ok(docs)
}

/// kubectl's wording for a key given twice (`line 14: mapping key "env"
/// already defined at line 11`), found from the mapping's position in
/// serde's message; `None` when the lines cannot be told (flow or quoted keys).
fn duplicate_key_lines(text: &str, message: &str) -> Option<String> {
    let rest = message.split("mapping key \"").nth(1)?;
    let (key, rest) = rest.split_once("\" already defined at line ")?;
    let (line, rest) = rest.split_once(" column ")?;
    let line: usize = line.trim().parse().ok()?;
    let column: usize = rest
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    let indent = column.checked_sub(1)?;
    let wanted = format!("{key}:");
    let mut found = Vec::new();
    for (i, l) in text.lines().enumerate().skip(line.checked_sub(1)?) {
        let number = i + 1;
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        let lead = l.len() - l.trim_start_matches([' ', '-']).len();
        if number > line && lead < indent {
            break;
        }
        if lead == indent && l.get(indent..).is_some_and(|k| k.starts_with(&wanted)) {
            found.push(number);
            if found.len() == 2 {
                // kubectl counts from the first non-blank line of the document.
                let lines: Vec<&str> = text.lines().collect();
                let mut start = 0;
                for (j, l) in lines.iter().enumerate().take(found[0]) {
                    if l.starts_with("---") {
                        start = j + 1;
                    }
                }
                while start < lines.len() && lines[start].trim().is_empty() {
                    start += 1;
                }
                let rel = |n: usize| n.saturating_sub(start);
                return Some(format!(
                    "line {}: mapping key \"{key}\" already defined at line {}",
                    rel(found[1]),
                    rel(found[0])
                ));
            }
        }
    }
    None
}

/// The most a text of `len` bytes builds without aliases, in budget units: at
/// most two nodes per byte (`{a,b}`), and scalars at most 1.5 times their
/// source (an escape such as `\L` decodes to three bytes).
fn own_bound(len: usize) -> u64 {
    let len = len as u64;
    len.saturating_mul(2 * YAML_NODE_BYTES + 2)
        .saturating_add(4 * YAML_NODE_BYTES)
}

/// Parses a stream of exactly one YAML document (what `serde_norway::from_str` reads).
pub(crate) fn parse_value(text: &str, path: &Path, limits: &Limits) -> Result<Value> {
    let mut docs = parse_stream(text, path, limits)?;
    match docs.len() {
        1 => Ok(docs.pop().unwrap_or(Value::Null)),
        0 => Err(Error::Yaml {
            path: path.to_path_buf(),
            message: "EOF while parsing a value".into(),
        }),
        _ => Err(Error::Yaml {
            path: path.to_path_buf(),
            message: "deserializing from YAML containing more than one document is not supported"
                .into(),
        }),
    }
}

/// Parses the objects of a resource file: documents must be maps with a kind
/// and (except lists) a metadata.name; `*List` kinds are expanded into their items.
pub(crate) fn parse_objects(
    text: &str,
    path: &Path,
    limits: &Limits,
) -> Result<Vec<Map<String, Value>>> {
    // kustomize expands `*List` documents after the file's other documents:
    // their items join the end of the queue.
    let mut queue: std::collections::VecDeque<Map<String, Value>> = VecDeque::new();
    for doc in parse_documents(text, path, limits)? {
        let Value::Object(obj) = doc else {
            return Err(Error::Yaml {
                path: path.to_path_buf(),
                message: format!("expected a mapping, found {}", describe(&doc)),
            });
        };
        if obj.is_empty() {
            continue;
        }
        queue.push_back(obj);
    }
    let mut out = Vec::new();
    while let Some(obj) = queue.pop_front() {
        push_object(obj, path, &mut out, &mut queue)?;
    }
    Ok(out)
}

fn push_object(
    obj: Map<String, Value>,
    path: &Path,
    out: &mut Vec<Map<String, Value>>,
    queue: &mut VecDeque<Map<String, Value>>,
) -> Result<()> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind.is_empty() {
        return Err(Error::invalid(
            path,
            format!("missing kind in object {}", brief(&obj)),
        ));
    }
    // A `FooList` with an `items` field is a collection; without one
    // (`AccessWhiteList`) it is an object like any other.
    if kind.ends_with("List")
        && let Some(items) = obj.get("items")
    {
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
                Value::Object(o) => queue.push_back(o),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A large string aliased many times, built without the meter: the budget
    /// alone stops it, early.
    #[test]
    fn the_budget_alone_stops_a_wide_bomb() {
        let mut text = format!("a: &big \"{}\"\nb:\n", "x".repeat(1 << 20));
        for _ in 0..10_000 {
            text.push_str("- *big\n");
        }
        let started = std::time::Instant::now();
        let err =
            build_stream(&text, Path::new("wide.yaml"), &Limits::default()).expect_err("refused");
        assert!(started.elapsed() < std::time::Duration::from_secs(3));
        assert!(
            matches!(&err, Error::Limit { limit, .. } if limit.starts_with("max-yaml-alias-bytes=")),
            "{err}"
        );
    }

    #[test]
    fn the_budget_alone_stops_deep_documents() {
        let limits = Limits {
            max_yaml_depth: 10,
            ..Limits::default()
        };
        let text = format!("a: {}{}\n", "[".repeat(11), "]".repeat(11));
        let err = build_stream(&text, Path::new("deep.yaml"), &limits).expect_err("refused");
        assert!(err.to_string().contains("max-yaml-depth=10"), "{err}");
        let text = format!("a: {}{}\n", "[".repeat(9), "]".repeat(9));
        assert!(build_stream(&text, Path::new("deep.yaml"), &limits).is_ok());
    }

    #[test]
    fn values_are_those_serde_json_builds() {
        let text = "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: [x, {g: 'y'}]\nh: 12345678901234567890\ni: .nan\n1: k\n";
        let ours = parse_value(text, Path::new("v.yaml"), &Limits::default()).expect("parses");
        let theirs: Value = serde_norway::from_str(text).expect("parses");
        assert_eq!(ours, theirs);
        // Whatever serde_norway::from_str accepts or refuses, so does parse_value.
        for text in [
            "a\n---\nb\n",
            "",
            "---\n",
            "~",
            "h: 123456789012345678901234567890\n",
            "!x y",
        ] {
            let ours = parse_value(text, Path::new("v.yaml"), &Limits::default()).ok();
            let theirs = serde_norway::from_str::<Value>(text).ok();
            assert_eq!(ours, theirs, "{text:?}");
        }
    }
}
