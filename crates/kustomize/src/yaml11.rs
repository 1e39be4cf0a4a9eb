//! Reading kustomization files the way kubectl does: `sigs.k8s.io/yaml`
//! resolves plain scalars with YAML 1.1 rules, so `yes`, `on`, `y` are
//! booleans and `0755` is octal there (resource files, read by kyaml, follow
//! YAML 1.2 and go through [`crate::yaml_io`] instead).

use std::collections::HashMap;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::yaml_meter::Meter;

/// Parses every document of `text`, resolving plain scalars with YAML 1.1 rules.
/// Aliases and nesting are measured before each node is built (see [`Meter`]).
pub(crate) fn parse_documents(text: &str, path: &Path, limits: &Limits) -> Result<Vec<Value>> {
    let mut builder = Builder {
        meter: Meter::new(limits),
        stack: Vec::new(),
        anchors: HashMap::new(),
        documents: Vec::new(),
    };
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| Error::Yaml {
            path: path.to_path_buf(),
            message: format!(
                "{} at line {} column {}",
                e.info(),
                e.marker().line(),
                e.marker().col() + 1
            ),
        })?;
        builder
            .meter
            .event(&event)
            .map_err(|e| Error::limit(path, e))?;
        builder.event(event).map_err(|message| Error::Yaml {
            path: path.to_path_buf(),
            message: format!("{message} at line {}", span.start.line()),
        })?;
    }
    Ok(builder.documents)
}

/// A container being filled.
enum Frame {
    Seq(Vec<Value>, usize),
    Map(Map<String, Value>, Option<String>, usize),
}

struct Builder {
    meter: Meter,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Value>,
    documents: Vec<Value>,
}

impl Builder {
    /// Builds one event; the meter has accepted it already.
    fn event(&mut self, event: Event<'_>) -> std::result::Result<(), String> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let forced_string = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let value = if style == ScalarStyle::Plain && !forced_string {
                    resolve_plain(&text)
                } else {
                    Value::String(text.into_owned())
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.push(value)
            }
            Event::Alias(id) => {
                let value = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| "unknown anchor".to_string())?;
                self.push(value)
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Frame::Seq(Vec::new(), anchor));
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(Map::new(), None, anchor));
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(items, anchor)) => (Value::Array(items), anchor),
                    Some(Frame::Map(map, _, anchor)) => (Value::Object(map), anchor),
                    None => return Err("unbalanced YAML structure".into()),
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.push(value)
            }
            _ => Ok(()),
        }
    }

    fn push(&mut self, value: Value) -> std::result::Result<(), String> {
        match self.stack.last_mut() {
            None => {
                if !value.is_null() {
                    self.documents.push(value);
                }
                Ok(())
            }
            Some(Frame::Seq(items, _)) => {
                items.push(value);
                Ok(())
            }
            Some(Frame::Map(map, pending, _)) => {
                match pending.take() {
                    None => {
                        *pending = Some(key_text(&value)?);
                    }
                    Some(key) => {
                        map.insert(key, value);
                    }
                }
                Ok(())
            }
        }
    }
}

/// Map keys become strings the way sigs.k8s.io/yaml converts them.
fn key_text(v: &Value) -> std::result::Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok("null".into()),
        _ => Err("mapping keys must be scalars".into()),
    }
}

/// YAML 1.1 resolution of a plain scalar (go-yaml v2 rules).
fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Value::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Value::Bool(false);
        }
        _ => {}
    }
    if let Some(v) = resolve_int(s) {
        return v;
    }
    if let Some(v) = resolve_float(s) {
        return v;
    }
    Value::String(s.to_string())
}

fn resolve_int(s: &str) -> Option<Value> {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let plain: String = body.chars().filter(|c| *c != '_').collect();
    if plain.is_empty() {
        return None;
    }
    let parsed = if let Some(hex) = plain.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if let Some(bin) = plain.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()
    } else if plain.len() > 1 && plain.starts_with('0') && plain.chars().all(|c| c.is_ascii_digit())
    {
        i64::from_str_radix(&plain[1..], 8).ok()
    } else if plain.chars().all(|c| c.is_ascii_digit()) {
        plain.parse::<i64>().ok()
    } else {
        None
    }?;
    Some(Value::from(if negative { -parsed } else { parsed }))
}

fn resolve_float(s: &str) -> Option<Value> {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    if matches!(body, ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN") {
        // Not representable in JSON; kept as text.
        return None;
    }
    let has_digit = body.chars().any(|c| c.is_ascii_digit());
    let shape_ok = body.contains('.')
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '_' | 'e' | 'E' | '+' | '-'));
    if !(has_digit && shape_ok) {
        return None;
    }
    let cleaned: String = s.chars().filter(|c| *c != '_').collect();
    cleaned
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Value {
        parse_documents(text, Path::new("k.yaml"), &Limits::default())
            .ok()
            .and_then(|d| d.into_iter().next())
            .unwrap_or(Value::Null)
    }

    #[test]
    fn yaml_1_1_scalars() {
        let v = one(
            "a: yes\nb: 'yes'\nc: on\nd: 0755\ne: 1.5\nf: ~\ng: y\nh: !!str on\ni: text\nj: 0x1f\n",
        );
        assert_eq!(
            v,
            serde_json::json!({"a": true, "b": "yes", "c": true, "d": 493, "e": 1.5, "f": null, "g": true, "h": "on", "i": "text", "j": 31})
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("a: {}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_documents(&deep, Path::new("k.yaml"), &Limits::default()).is_err());
    }

    #[test]
    fn anchors_and_errors() {
        assert_eq!(
            one("a: &x [1, 2]\nb: *x\n"),
            serde_json::json!({"a": [1, 2], "b": [1, 2]})
        );
        let err = parse_documents("a: [\n", Path::new("k.yaml"), &Limits::default())
            .expect_err("malformed");
        assert!(err.to_string().contains("line"), "{err}");
    }
}
