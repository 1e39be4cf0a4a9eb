//! A YAML writer for JSON values, in kubectl's layout (block style, list items
//! at their key's indentation, map keys sorted). Strings that a YAML 1.1 or 1.2 reader could
//! take for anything but a string (`yes`, `on`, `0755`, `1.0`, `~`, …) are
//! quoted, so consumers with older YAML parsers read back exactly what was built.

use std::fmt::Write;

use serde_json::{Map, Value};

/// Renders one document (without a `---` separator).
pub(crate) fn document(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_map(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => write_seq(a, 0, &mut out),
        other => {
            write_scalar_inline(other, 0, &mut out);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

/// Entries in go-yaml's key order, as kubectl prints them.
fn sorted(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    crate::yaml_key_order::sort_entries(&mut entries);
    entries
}

fn write_map(m: &Map<String, Value>, level: usize, out: &mut String) {
    for (k, v) in sorted(m) {
        indent(out, level);
        write_string(k, level, out, false);
        out.push(':');
        write_value_after_key(v, level, out);
    }
}

fn write_value_after_key(v: &Value, level: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(m, level + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(a, level, out);
        }
        other => {
            out.push(' ');
            write_scalar_inline(other, level + 2, out);
            out.push('\n');
        }
    }
}

fn write_seq(a: &[Value], level: usize, out: &mut String) {
    for item in a {
        indent(out, level);
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => {
                let mut first = true;
                for (k, v) in sorted(m) {
                    if !first {
                        indent(out, level + 2);
                    }
                    first = false;
                    write_string(k, level + 2, out, false);
                    out.push(':');
                    write_value_after_key(v, level + 2, out);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_seq(inner, level + 2, out);
            }
            other => {
                write_scalar_inline(other, level + 2, out);
                out.push('\n');
            }
        }
    }
}

fn write_scalar_inline(v: &Value, level: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_string(s, level, out, true),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

/// Writes a string plain when that is unambiguous, as a literal block when it
/// has several lines (values only), double-quoted otherwise.
fn write_string(s: &str, level: usize, out: &mut String, allow_block: bool) {
    if needs_quotes(s) {
        if allow_block && block_friendly(s) {
            write_block(s, level, out);
        } else {
            write_double_quoted(s, out);
        }
    } else {
        out.push_str(s);
    }
}

fn block_friendly(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with(' ')
        && !s.starts_with('\n')
        && s.chars()
            .all(|c| c == '\n' || (!c.is_control() && c != '\u{feff}'))
        && s.lines().all(|l| !l.ends_with(' ') && !l.ends_with('\t'))
}

fn write_block(s: &str, level: usize, out: &mut String) {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    out.push('|');
    match trailing {
        0 => out.push('-'),
        1 => {}
        _ => out.push('+'),
    }
    let text = if trailing > 1 {
        s.strip_suffix('\n').unwrap_or(s)
    } else {
        body
    };
    for line in text.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(out, level);
            out.push_str(line);
        }
    }
}

fn write_double_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Scalars YAML 1.1 or 1.2 readers resolve to something other than a string.
fn is_special_word(s: &str) -> bool {
    matches!(
        s,
        "~" | "null"
            | "Null"
            | "NULL"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "y"
            | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | ".inf"
            | ".Inf"
            | ".INF"
            | "-.inf"
            | "-.Inf"
            | "-.INF"
            | "+.inf"
            | "+.Inf"
            | "+.INF"
            | ".nan"
            | ".NaN"
            | ".NAN"
            | "<<"
            | "="
    )
}

/// True when a number-like reading is possible (kept conservative: any string
/// starting like a number and made of number characters is quoted).
fn looks_numeric(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let Some(first) = body.chars().next() else {
        return false;
    };
    if !(first.is_ascii_digit() || first == '.') || !body.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    body.chars().all(|c| {
        c.is_ascii_hexdigit()
            || matches!(
                c,
                '.' | '_' | ':' | 'x' | 'X' | 'o' | 'O' | 'e' | 'E' | '+' | '-'
            )
    })
}

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || is_special_word(s) || looks_numeric(s) {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    // `-x` is a plain scalar; `-` alone or `- x` starts a list item.
    let dash_word = first == '-' && s.len() > 1 && !s[1..].starts_with(' ');
    let indicator = matches!(
        first,
        '-' | '?'
            | ':'
            | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '#'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
            | ' '
    );
    if indicator && !dash_word {
        return true;
    }
    if first == '-' && s.starts_with("---") {
        return true;
    }
    s.ends_with(' ')
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(" #")
        || s.contains('\t')
        || s.chars().any(|c| {
            c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' || c == '\u{85}'
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: &Value) -> Value {
        let text = document(v);
        serde_norway::from_str(&text).unwrap_or(Value::String(format!("unparsable: {text}")))
    }

    #[test]
    fn ambiguous_strings_are_quoted() {
        for s in [
            "yes", "on", "0755", "1.0", "~", "", "1e3", "0x1F", "12:30", "-1", "true", "- x",
            "a: b", "#x", " x",
        ] {
            assert!(document(&Value::String(s.into())).starts_with('"'), "{s}");
        }
        for s in ["nginx:1.25", "app", "a-b", "-x", "web-config", "http://x/y"] {
            assert!(!document(&Value::String(s.into())).starts_with('"'), "{s}");
        }
    }

    #[test]
    fn nested_values_round_trip() {
        let v = serde_json::json!({
            "a": {"b": [1, "two", {"c": null, "d": [], "e": {}}], "f": "x\ny\n", "g": "x\ny", "h": "x\n\n"},
            "list": [[1, 2], "yes", {"k": "v", "m": {"n": 1.5}}],
            "weird": "tab\there \"q\" back\\slash",
            "yes": "key is quoted"
        });
        assert_eq!(round_trip(&v), v);
    }
}
