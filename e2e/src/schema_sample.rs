//! The smallest object an OpenAPI v3 schema accepts: every required field,
//! nothing else. Used to round-trip one object of each CRD kind without
//! hand-writing samples that would drift from the types. URLs point at a closed
//! loopback port (127.0.0.1:9), so a controller reconciling them never leaves the machine.

use regex::Regex;
use serde_json::{Map, Value, json};

/// Strings tried, in order, for a string field with a `pattern`; the first
/// that matches (and fits the length limits) is used.
const PATTERN_CANDIDATES: &[&str] = &[
    "sample",
    "1m",
    "main",
    "https://127.0.0.1:9/sample",
    "http://127.0.0.1:9/sample",
    "ssh://git@127.0.0.1:9/sample",
    "oci://127.0.0.1:9/sample",
    "127.0.0.1:9/sample",
    "1.0.0",
    "v1.0.0",
    ">=1.0.0",
    "sample-name",
    "Sample",
    "sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000",
    "a",
    "1",
];

/// A minimal JSON value valid against `schema` (an `openAPIV3Schema` or any
/// part of one, as JSON): required properties only, enums' first value,
/// numbers at their minimum, strings matching their pattern when one of a
/// few common shapes does. `None` when a pattern matches none of them.
pub fn sample_from_schema(schema: &Value) -> Option<Value> {
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|values| values.first())
    {
        return Some(first.clone());
    }
    if schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true)
    {
        return Some(json!(1));
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") | None => sample_object(schema),
        Some("array") => sample_array(schema),
        Some("string") => sample_string(schema).map(Value::String),
        Some("integer") => Some(json!(number_in_range(schema) as i64)),
        Some("number") => Some(json!(number_in_range(schema))),
        Some("boolean") => Some(json!(false)),
        Some(_) => None,
    }
}

fn sample_object(schema: &Value) -> Option<Value> {
    let mut object = Map::new();
    let required = schema.get("required").and_then(Value::as_array);
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        let property = schema
            .get("properties")
            .and_then(|properties| properties.get(name));
        let value = match property {
            Some(property) => sample_from_schema(property)?,
            None => Value::Object(Map::new()),
        };
        object.insert(name.to_owned(), value);
    }
    Some(Value::Object(object))
}

fn sample_array(schema: &Value) -> Option<Value> {
    let min_items = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
    if min_items == 0 {
        return Some(json!([]));
    }
    let item = sample_from_schema(schema.get("items")?)?;
    Some(Value::Array((0..min_items).map(|_| item.clone()).collect()))
}

fn sample_string(schema: &Value) -> Option<String> {
    let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = schema
        .get("maxLength")
        .and_then(Value::as_u64)
        .map_or(usize::MAX, |max| max as usize);
    let fits = |candidate: &str| (min..=max).contains(&candidate.len());
    match schema.get("format").and_then(Value::as_str) {
        Some("date-time") => return Some(String::from("2024-01-01T00:00:00Z")),
        Some("duration") => return Some(String::from("1m")),
        Some("uri") => return Some(String::from("https://127.0.0.1:9/sample")),
        _ => {}
    }
    match schema.get("pattern").and_then(Value::as_str) {
        Some(pattern) => {
            let regex = Regex::new(pattern).ok()?;
            PATTERN_CANDIDATES
                .iter()
                .find(|candidate| fits(candidate) && regex.is_match(candidate))
                .map(|candidate| (*candidate).to_owned())
        }
        None => {
            let sample = if min > "sample".len() {
                "s".repeat(min)
            } else {
                String::from("sample")
            };
            fits(&sample).then_some(sample)
        }
    }
}

fn number_in_range(schema: &Value) -> f64 {
    let minimum = schema.get("minimum").and_then(Value::as_f64);
    let maximum = schema.get("maximum").and_then(Value::as_f64);
    match (minimum, maximum) {
        (Some(minimum), _) => minimum,
        (None, Some(maximum)) if maximum < 1.0 => maximum,
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_required_fields_are_filled() {
        let schema = json!({
            "type": "object",
            "required": ["url", "interval", "ref"],
            "properties": {
                "url": {"type": "string", "pattern": "^(http|https|ssh)://.*$"},
                "interval": {"type": "string", "pattern": "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"},
                "ref": {"type": "object", "properties": {"branch": {"type": "string"}}},
                "suspend": {"type": "boolean"},
            }
        });
        let sample = sample_from_schema(&schema).expect("a sample for a satisfiable schema");
        assert_eq!(
            sample,
            json!({"url": "https://127.0.0.1:9/sample", "interval": "1m", "ref": {}})
        );
    }

    #[test]
    fn enums_numbers_and_arrays_respect_their_limits() {
        let schema = json!({
            "type": "object",
            "required": ["order", "replicas", "items", "name"],
            "properties": {
                "order": {"type": "string", "enum": ["asc", "desc"]},
                "replicas": {"type": "integer", "minimum": 3},
                "items": {"type": "array", "minItems": 2, "items": {"type": "boolean"}},
                "name": {"type": "string", "minLength": 8},
            }
        });
        let sample = sample_from_schema(&schema).expect("a sample for a satisfiable schema");
        assert_eq!(
            sample,
            json!({"order": "asc", "replicas": 3, "items": [false, false], "name": "ssssssss"})
        );
    }

    #[test]
    fn an_unmatched_pattern_gives_no_sample() {
        let schema = json!({"type": "object", "required": ["x"], "properties": {"x": {"type": "string", "pattern": "^zz[0-9]{9}$"}}});
        assert_eq!(sample_from_schema(&schema), None);
    }
}
