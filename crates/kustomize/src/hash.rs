//! kustomize's content hash of generated ConfigMaps and Secrets: Go's
//! `encoding/json` rendering of selected fields, SHA-256, then the first ten
//! hex digits with some characters swapped so the suffix never spells words.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The hash suffix of an object (ConfigMap, Secret or other).
pub(crate) fn hash_suffix(obj: &Map<String, Value>) -> String {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    // kustomize looks the name up as a single field called "metadata/name",
    // which never exists: the name hashed is always empty.
    let name = Value::String(String::new());
    let field = |k: &str| match obj.get(k) {
        None | Some(Value::Null) => Value::String(String::new()),
        Some(v) => v.clone(),
    };
    let encoded = match kind {
        "ConfigMap" => {
            let mut m = Map::new();
            m.insert("kind".into(), Value::String("ConfigMap".into()));
            m.insert("name".into(), name);
            m.insert("data".into(), field("data"));
            if let Some(b @ Value::Object(_)) = obj.get("binaryData") {
                m.insert("binaryData".into(), b.clone());
            }
            go_json(&Value::Object(m))
        }
        "Secret" => {
            let mut m = Map::new();
            m.insert("kind".into(), Value::String("Secret".into()));
            m.insert("type".into(), field("type"));
            m.insert("name".into(), name);
            m.insert("data".into(), field("data"));
            if let Some(s @ Value::Object(_)) = obj.get("stringData") {
                m.insert("stringData".into(), s.clone());
            }
            go_json(&Value::Object(m))
        }
        _ => go_json(&Value::Object(obj.clone())),
    };
    encode(&hex::encode(Sha256::digest(encoded.as_bytes())))
}

/// First ten hex digits with 0,1,3,a,e replaced (kustomize's `encode`).
fn encode(hex: &str) -> String {
    hex.chars()
        .take(10)
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            other => other,
        })
        .collect()
}

/// Renders a value the way Go's `json.Marshal` renders the equivalent
/// `map[string]interface{}`: keys sorted, HTML characters escaped.
pub(crate) fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_value(v, &mut out);
    out
}

fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_value(&map[k.as_str()], out);
            }
            out.push('}');
        }
    }
}

/// Numbers pass through Go's float64 (values come back from a JSON round trip).
fn write_number(n: &serde_json::Number, out: &mut String) {
    if n.is_i64() || n.is_u64() {
        out.push_str(&n.to_string());
        return;
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        out.push_str(&format!("{f:.0}"));
    } else {
        out.push_str(&n.to_string());
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_json_sorts_keys_and_escapes_html() {
        let v = serde_json::json!({"b": "<&>", "a": 1});
        assert_eq!(go_json(&v), r#"{"a":1,"b":"\u003c\u0026\u003e"}"#);
    }

    #[test]
    fn encode_swaps_vowel_prone_digits() {
        assert_eq!(encode("0123456789abcdef"), "gh2k456789");
        assert_eq!(encode("ae3ae3ae3ae3"), "mtkmtkmtkm");
    }
}
