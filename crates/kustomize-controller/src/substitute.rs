//! `postBuild` variable substitution, as Flux does it: on each object's YAML text,
//! `${var}`, `${var:=default}` (and `${var:-default}`), `$${var}` for a literal `${var}`.
//! Objects annotated `kustomize.driftless.dev/substitute: disabled` are left alone.

use std::collections::BTreeMap;

use driftless_api::well_known::{DISABLED, SUBSTITUTE_ANNOTATION};
use serde_json::Value;

use crate::Error;

/// Substitutes `vars` into every object that does not opt out. An undefined variable
/// without a default becomes the empty string, as in Flux.
pub fn substitute_all(objects: &mut [Value], vars: &BTreeMap<String, String>) -> Result<(), Error> {
    for object in objects.iter_mut() {
        let opted_out = object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(SUBSTITUTE_ANNOTATION))
            .and_then(Value::as_str)
            == Some(DISABLED);
        if opted_out {
            continue;
        }
        let text = serde_norway::to_string(object).map_err(|e| Error::Substitution {
            object: describe(object),
            message: e.to_string(),
        })?;
        if !text.contains('$') {
            continue;
        }
        let replaced = substitute(&text, vars).map_err(|message| Error::Substitution {
            object: describe(object),
            message,
        })?;
        *object = serde_norway::from_str(&replaced).map_err(|e| Error::Substitution {
            object: describe(object),
            message: format!("the substituted YAML does not parse: {e}"),
        })?;
    }
    Ok(())
}

/// `Kind/namespace/name` of a manifest, for messages.
pub fn describe(object: &Value) -> String {
    let s = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("");
    match s("/metadata/namespace") {
        "" => format!("{}/{}", s("/kind"), s("/metadata/name")),
        ns => format!("{}/{}/{}", s("/kind"), ns, s("/metadata/name")),
    }
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

/// Substitutes variables in `text`.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(escaped) = after.strip_prefix("${") {
            // `$${var}` is the literal `${var}`.
            out.push_str("${");
            rest = escaped;
            continue;
        }
        let Some(body_start) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some(end) = body_start.find('}') else {
            return Err(format!(
                "unterminated variable reference starting at '${}'",
                truncate(after)
            ));
        };
        let body = &body_start[..end];
        let name_len = body.find(|c: char| !is_name_char(c)).unwrap_or(body.len());
        let name = &body[..name_len];
        if name.is_empty() || !name.starts_with(is_name_start) {
            return Err(format!("invalid variable name in '${{{body}}}'"));
        }
        let value = match &body[name_len..] {
            "" => vars.get(name).cloned().unwrap_or_default(),
            op if op.starts_with(":=") || op.starts_with(":-") => vars
                .get(name)
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(|| op[2..].to_owned()),
            op if op.starts_with('=') || op.starts_with('-') => vars
                .get(name)
                .cloned()
                .unwrap_or_else(|| op[1..].to_owned()),
            other => return Err(format!("unsupported operator '{other}' in '${{{body}}}'")),
        };
        out.push_str(&value);
        rest = &body_start[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn truncate(s: &str) -> &str {
    let end = s.char_indices().nth(20).map_or(s.len(), |(i, _)| i);
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitutes_defaults_and_escapes() {
        let v = vars(&[("app", "web"), ("empty", "")]);
        assert_eq!(substitute("name: ${app}", &v).unwrap(), "name: web");
        assert_eq!(substitute("r: ${replicas:=2}", &v).unwrap(), "r: 2");
        assert_eq!(substitute("r: ${empty:=x}", &v).unwrap(), "r: x");
        assert_eq!(substitute("r: ${empty=x}", &v).unwrap(), "r: ");
        assert_eq!(substitute("lit: $${app}", &v).unwrap(), "lit: ${app}");
        assert_eq!(
            substitute("cost: $5 and $HOME", &v).unwrap(),
            "cost: $5 and $HOME"
        );
        assert_eq!(substitute("u: ${undefined}", &v).unwrap(), "u: ");
        assert!(
            substitute("x: ${app", &v)
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(
            substitute("x: ${1abc}", &v)
                .unwrap_err()
                .contains("invalid variable name")
        );
    }

    #[test]
    fn numbers_become_numbers_and_opted_out_objects_stay() {
        let mut objects = vec![
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "${app}"}, "spec": {"replicas": "${replicas}"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep", "annotations": {SUBSTITUTE_ANNOTATION: "disabled"}}, "data": {"k": "${app}"}}),
        ];
        substitute_all(&mut objects, &vars(&[("app", "web"), ("replicas", "3")])).unwrap();
        assert_eq!(objects[0]["metadata"]["name"], "web");
        assert_eq!(objects[0]["spec"]["replicas"], 3);
        assert_eq!(objects[1]["data"]["k"], "${app}");
    }

    #[test]
    fn errors_name_the_object() {
        let mut objects = vec![
            json!({"kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "apps"}, "data": {"k": "${oops"}}),
        ];
        let err = substitute_all(&mut objects, &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("ConfigMap/apps/cm"), "{err}");
    }
}
