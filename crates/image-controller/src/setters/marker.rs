//! Finding `# {"$imagepolicy": "<ns>:<policy>[:tag|:name]"}` markers in one YAML text and
//! the exact bytes of the scalar each one marks.

use std::fmt;
use std::ops::Range;

/// Which part of the image a marker's value holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkedField {
    /// `name:tag` (no suffix).
    Image,
    /// The tag only (`:tag`).
    Tag,
    /// The name only (`:name`).
    Name,
}

/// An ImagePolicy named by a marker.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyKey {
    /// Namespace of the policy.
    pub namespace: String,
    /// Name of the policy.
    pub name: String,
}

impl fmt::Display for PolicyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.name)
    }
}

/// A marker found in a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// 1-based line number.
    pub line: usize,
    /// Byte range of the marked scalar's value (inside quotes when quoted).
    pub value: Range<usize>,
    /// The policy named.
    pub policy: PolicyKey,
    /// The part of the image the value holds.
    pub field: MarkedField,
}

/// A malformed marker: line and reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkerError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

const KEY: &str = "$imagepolicy";

/// Every marker in `text`. A marker without a namespace (`"web"`) names a policy in
/// `default_namespace`.
pub fn find_markers(text: &str, default_namespace: &str) -> Result<Vec<Marker>, MarkerError> {
    let mut markers = Vec::new();
    let mut offset = 0;
    for (index, raw_line) in text.split_inclusive('\n').enumerate() {
        let line_start = offset;
        offset += raw_line.len();
        if !raw_line.contains(KEY) {
            continue;
        }
        let line = raw_line.trim_end_matches(['\n', '\r']);
        let number = index + 1;
        let fail = |reason: String| MarkerError {
            line: number,
            reason,
        };
        let Some(comment) = comment_start(line) else {
            continue;
        };
        if line[..comment].trim().is_empty() {
            // A comment on a line of its own marks nothing.
            continue;
        }
        let comment_text = line[comment + 1..].trim();
        if !comment_text.starts_with('{') {
            continue;
        }
        let json: serde_json::Map<String, serde_json::Value> = serde_json::from_str(comment_text)
            .map_err(|e| {
            fail(format!(
                "setter marker '{comment_text}' is not a JSON object: {e}"
            ))
        })?;
        let Some(reference) = json.get(KEY) else {
            continue;
        };
        let reference = reference.as_str().ok_or_else(|| {
            fail(format!(
                "setter marker '{comment_text}': \"{KEY}\" must be a string"
            ))
        })?;
        let (policy, field) = parse_reference(reference, default_namespace).map_err(fail)?;
        let value = value_range(&line[..comment]).map_err(fail)?;
        markers.push(Marker {
            line: number,
            value: line_start + value.start..line_start + value.end,
            policy,
            field,
        });
    }
    Ok(markers)
}

/// `ns:name`, `ns:name:tag`, `ns:name:name`, or `name` alone.
fn parse_reference(
    reference: &str,
    default_namespace: &str,
) -> Result<(PolicyKey, MarkedField), String> {
    let parts: Vec<&str> = reference.split(':').collect();
    let (namespace, name, field) = match parts.as_slice() {
        [name] => (default_namespace, *name, MarkedField::Image),
        [ns, name] => (*ns, *name, MarkedField::Image),
        [ns, name, "tag"] => (*ns, *name, MarkedField::Tag),
        [ns, name, "name"] => (*ns, *name, MarkedField::Name),
        [_, _, other] => {
            return Err(format!(
                "setter marker '{reference}': unknown field ':{other}' (expected ':tag' or ':name')"
            ));
        }
        _ => {
            return Err(format!(
                "setter marker '{reference}': expected '<namespace>:<policy>[:tag|:name]'"
            ));
        }
    };
    if namespace.is_empty() || name.is_empty() {
        return Err(format!(
            "setter marker '{reference}': empty namespace or policy name"
        ));
    }
    Ok((
        PolicyKey {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        },
        field,
    ))
}

/// Byte offset of the `#` starting a comment: at the line start or after whitespace, outside quotes.
fn comment_start(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(b'"') if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) => return Some(i),
            None if (b == b'"' || b == b'\'')
                && (i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b'-' | b':')) =>
            {
                quote = Some(b)
            }
            None => {}
        }
        i += 1;
    }
    None
}

/// Byte range of the scalar value in `content` (a line up to its comment): after list
/// markers and a `key:`; inside the quotes of a quoted scalar.
fn value_range(content: &str) -> Result<Range<usize>, String> {
    let trimmed_end = content.trim_end().len();
    let mut i = content.len() - content.trim_start().len();
    let bytes = content.as_bytes();
    // `- ` list item markers, possibly nested (`- - value`).
    while i < trimmed_end
        && bytes[i] == b'-'
        && bytes.get(i + 1).is_some_and(|b| b.is_ascii_whitespace())
    {
        i += 1;
        while i < trimmed_end && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
    }
    if let Some(after_key) = key_end(&content[i..trimmed_end]) {
        i += after_key;
        while i < trimmed_end && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
    }
    if i >= trimmed_end {
        return Err(
            "setter marker on a line without a scalar value (put it on the value's line)"
                .to_owned(),
        );
    }
    match bytes[i] {
        q @ (b'"' | b'\'') => {
            if trimmed_end - i < 2 || bytes[trimmed_end - 1] != q {
                return Err("setter marker on an unterminated quoted value".to_owned());
            }
            Ok(i + 1..trimmed_end - 1)
        }
        b'{' | b'[' => Err("setter markers on flow collections are not supported".to_owned()),
        b'|' | b'>' => Err("setter markers on block scalars are not supported".to_owned()),
        _ => Ok(i..trimmed_end),
    }
}

/// If `text` starts with a mapping key (`key:` followed by a space or the end), the offset
/// just after its colon.
fn key_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    if let Some(&q @ (b'"' | b'\'')) = bytes.first() {
        let close = text[1..].find(q as char)? + 1;
        return (bytes.get(close + 1) == Some(&b':')
            && bytes.get(close + 2).is_none_or(|b| b.is_ascii_whitespace()))
        .then_some(close + 2);
    }
    let mut search = 0;
    while let Some(pos) = text[search..].find(':') {
        let colon = search + pos;
        if bytes.get(colon + 1).is_none_or(|b| b.is_ascii_whitespace()) {
            return Some(colon + 1);
        }
        search = colon + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of<'a>(text: &'a str, m: &Marker) -> &'a str {
        &text[m.value.clone()]
    }

    #[test]
    fn finds_values_in_every_shape() {
        let text = concat!(
            "spec:\n",
            "  image: ghcr.io/acme/web:1.0.0 # {\"$imagepolicy\": \"team-a:web\"}\n",
            "  tag: \"1.0.0\"   # {\"$imagepolicy\": \"team-a:web:tag\"}\r\n",
            "  - 'ghcr.io/acme/web' #{\"$imagepolicy\":\"team-a:web:name\"}\n",
            "    - image: localhost:5000/x:2 # {\"$imagepolicy\": \"web\"}\n",
            "  # {\"$imagepolicy\": \"team-a:web\"} a comment alone is no marker\n",
            "  note: \"a # {\\\"$imagepolicy\\\": 1} in a string\"\n",
        );
        let markers = find_markers(text, "default-ns").unwrap();
        let values: Vec<(&str, usize, MarkedField)> = markers
            .iter()
            .map(|m| (value_of(text, m), m.line, m.field))
            .collect();
        assert_eq!(
            values,
            [
                ("ghcr.io/acme/web:1.0.0", 2, MarkedField::Image),
                ("1.0.0", 3, MarkedField::Tag),
                ("ghcr.io/acme/web", 4, MarkedField::Name),
                ("localhost:5000/x:2", 5, MarkedField::Image),
            ]
        );
        assert_eq!(
            markers[3].policy,
            PolicyKey {
                namespace: "default-ns".into(),
                name: "web".into()
            }
        );
        assert_eq!(markers[0].policy.to_string(), "team-a:web");
    }

    #[test]
    fn malformed_markers_name_the_line() {
        for (text, needle) in [
            (
                "a: b # {\"$imagepolicy\": \"ns:web:digest\"}\n",
                "unknown field",
            ),
            ("a: b # {\"$imagepolicy\": 3}\n", "must be a string"),
            (
                "a: b # {\"$imagepolicy\": \"ns:web\"\n",
                "not a JSON object",
            ),
            (
                "x: 1\nimage: # {\"$imagepolicy\": \"ns:web\"}\n",
                "without a scalar value",
            ),
            (
                "image: [a, b] # {\"$imagepolicy\": \"ns:web\"}\n",
                "flow collections",
            ),
            (
                "image: a:b:c:d # {\"$imagepolicy\": \"a:b:c:d\"}\n",
                "expected",
            ),
        ] {
            let err = find_markers(text, "ns").expect_err(text);
            assert!(err.reason.contains(needle), "{text}: {}", err.reason);
            assert_eq!(err.line, text.lines().count(), "{text}");
        }
    }
}
