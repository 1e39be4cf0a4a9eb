//! Kubernetes label selector expressions (`a=b,c!=d,e in (x,y),f notin (z),g,!h`), as
//! `labels.Parse` reads them: used by kustomize's target selectors and replacements, and by
//! the Kustomization's `spec.ignore` targets (on labels and on annotations).

use std::collections::BTreeMap;

/// Longest selector expression parsed.
pub const MAX_SELECTOR_BYTES: usize = 4096;

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A Kubernetes label selector expression (`a=b,c!=d,e in (x,y),f notin (z),g,!h`), also
/// used on annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    /// Parses the selector syntax; keys are label keys (an optional DNS prefix and `/`, then
    /// a name of at most 63 characters), values at most 63 characters of `[A-Za-z0-9-_.]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_SELECTOR_BYTES {
            return Err(format!(
                "selector is {} bytes long, at most {MAX_SELECTOR_BYTES} are allowed",
                text.len()
            ));
        }
        let mut requirements = Vec::new();
        for part in split_outside_parentheses(text)? {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!("empty requirement in {text:?}"));
            }
            let requirement = if let Some(key) = part.strip_prefix('!') {
                Requirement::NotExists(key_of(key)?)
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotEquals(key_of(key)?, value_of(value)?)
            } else if let Some((key, value)) = part.split_once("==") {
                Requirement::Equals(key_of(key)?, value_of(value)?)
            } else if let Some((key, value)) = part.split_once('=') {
                Requirement::Equals(key_of(key)?, value_of(value)?)
            } else if let Some((key, values)) = set_of(part, "notin")? {
                Requirement::NotIn(key, values)
            } else if let Some((key, values)) = set_of(part, "in")? {
                Requirement::In(key, values)
            } else {
                Requirement::Exists(key_of(part)?)
            };
            requirements.push(requirement);
        }
        Ok(Self(requirements))
    }

    /// True when every requirement holds for `labels`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|requirement| match requirement {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, set) => labels.get(k).is_some_and(|v| set.contains(v)),
            Requirement::NotIn(k, set) => labels.get(k).is_none_or(|v| !set.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        })
    }
}

fn split_outside_parentheses(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, c) in text.char_indices() {
        match c {
            '(' if depth == 0 => depth = 1,
            '(' => return Err(format!("nested parentheses in {text:?}")),
            ')' if depth == 1 => depth = 0,
            ')' => return Err(format!("unbalanced ')' in {text:?}")),
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '(' in {text:?}"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn name_part(name: &str) -> bool {
    let bytes = name.as_bytes();
    !name.is_empty()
        && name.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn key_of(key: &str) -> Result<String, String> {
    let key = key.trim();
    let valid = match key.split_once('/') {
        Some((prefix, name)) => {
            !prefix.is_empty()
                && prefix.len() <= 253
                && prefix
                    .split('.')
                    .all(|label| name_part(label) && !label.contains(['_', '.']))
                && name_part(name)
        }
        None => name_part(key),
    };
    if valid {
        Ok(key.to_owned())
    } else {
        Err(format!("invalid key {key:?}"))
    }
}

fn value_of(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || name_part(value) {
        Ok(value.to_owned())
    } else {
        Err(format!("invalid value {value:?}"))
    }
}

/// `key in (a, b)` / `key notin (a, b)`: `None` when `part` does not use `operator`.
fn set_of(part: &str, operator: &str) -> Result<Option<(String, Vec<String>)>, String> {
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default();
    let rest = words.next().unwrap_or_default().trim_start();
    let Some(set) = rest.strip_prefix(operator) else {
        return Ok(None);
    };
    let set = set.trim();
    if !set.starts_with('(') {
        // e.g. a key `index` followed by something else: not this operator.
        return if rest.starts_with(operator) && rest[operator.len()..].starts_with(' ') {
            Err(format!("expected '(' after {operator:?} in {part:?}"))
        } else {
            Ok(None)
        };
    }
    let inner = set
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("expected (value, ...) in {part:?}"))?;
    let values = inner
        .split(',')
        .map(value_of)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some((key_of(key)?, values)))
}
