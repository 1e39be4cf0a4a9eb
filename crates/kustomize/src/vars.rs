//! `vars`: `$(NAME)` references replaced by the value of a field of another
//! object, read once every rename is done (kustomize's refvar transformer).
//!
//! A var is attached to the object it names when its kustomization finishes
//! (the object's identity then, or any earlier one, must match); at the end of
//! the build the value is read from that object, so a var naming a renamed
//! object yields its final name. Replacement is one pass, never recursive, and
//! the bytes it adds are bounded.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Failure, Outcome, Result};
use crate::fieldspec::{self, CreateKind};
use crate::kustomization::Var;
use crate::resid::{Gvk, ResId};
use crate::resmap::ResMap;

/// kustomize's default field of a var.
const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// kustomize's Var.Defaulting: the default field path, apiVersion split into
/// group and version.
fn defaulted(mut v: Var) -> Var {
    if v.fieldref.field_path.is_empty() {
        v.fieldref.field_path = DEFAULT_FIELD_PATH.to_string();
    }
    let api_version = v.objref.api_version.clone();
    if !api_version.is_empty() {
        match api_version.split_once('/') {
            Some((g, ver)) if !ver.contains('/') => {
                v.objref.group = g.to_string();
                v.objref.version = ver.to_string();
            }
            Some(_) => {}
            None => v.objref.version = api_version,
        }
    }
    v
}

/// How kustomize prints a var in its messages.
fn describe(v: &Var) -> String {
    format!(
        "{} (objref {}/{}, fieldref {})",
        v.name,
        Gvk {
            group: v.objref.group.clone(),
            version: v.objref.version.clone(),
            kind: v.objref.kind.clone(),
        }
        .display(),
        v.objref.name,
        v.fieldref.field_path
    )
}

/// kustomize's VarSet.Merge of several vars: a name seen twice is an error.
pub(crate) fn merge_set(
    set: &mut BTreeMap<String, Var>,
    incoming: impl IntoIterator<Item = Var>,
) -> Outcome<()> {
    for v in incoming {
        if set.contains_key(&v.name) {
            return Err(Failure::new(format!(
                "var '{}' already encountered",
                v.name
            )));
        }
        let v = defaulted(v);
        set.insert(v.name.clone(), v);
    }
    Ok(())
}

/// kustomize's MergeVars: attaches each var to the one object it names (by
/// any identity the object has had) and adds it to the accumulated set.
pub(crate) fn merge_vars(ra: &mut ResMap, vars: &[Var]) -> Outcome<()> {
    for v in vars {
        let d = defaulted(v.clone());
        let target = ResId {
            gvk: Gvk {
                group: d.objref.group.clone(),
                version: d.objref.version.clone(),
                kind: d.objref.kind.clone(),
            },
            name: d.objref.name.clone(),
            namespace: d.objref.namespace.clone(),
        };
        let with_namespace = !target.namespace.is_empty() || target.gvk.is_cluster_scoped();
        let matched = ra.find_by_any_id(|id| {
            if with_namespace {
                target.equals(id)
            } else {
                id.name == target.name && id.gvk == target.gvk
            }
        });
        if matched.len() > 1 {
            return Err(Failure::new(format!(
                "found {} resId matches for var {} (unable to disambiguate)",
                matched.len(),
                describe(&d)
            )));
        }
        if let [i] = matched.as_slice() {
            ra.items[*i].ref_var_names.push(v.name.clone());
        }
    }
    merge_set(&mut ra.vars, vars.iter().cloned())
}

/// kustomize's ResolveVars: reads every var's value from the object it is
/// attached to and replaces `$(NAME)` in the varReference fields.
/// `max_added_bytes` bounds what replacement may add to the build in total.
pub(crate) fn resolve(ra: &mut ResMap, file: &Path, max_added_bytes: u64) -> Result<()> {
    if ra.vars.is_empty() {
        return Ok(());
    }
    let invalid = |e: Failure| Error::invalid(file, format!("vars: {e}"));
    let mut values: HashMap<String, Value> = HashMap::new();
    for v in ra.vars.values() {
        let holder = ra.items.iter().find(|r| r.ref_var_names.contains(&v.name));
        let Some(holder) = holder else {
            return Err(invalid(Failure::new(format!(
                "var '{}' cannot be mapped to a field in the set of known resources",
                describe(v)
            ))));
        };
        let Some(value) = field_value(&holder.obj, &v.fieldref.field_path) else {
            return Err(invalid(Failure::new(format!(
                "field specified in var '{}' not found in corresponding resource {}",
                describe(v),
                holder.cur_id()
            ))));
        };
        values.insert(v.name.clone(), value);
    }
    let config = std::sync::Arc::clone(&ra.config);
    let mut replacer = Replacer {
        values: &values,
        budget: max_added_bytes,
        exhausted: false,
    };
    for res in &mut ra.items {
        let gvk = res.gvk();
        for spec in &config.var_reference {
            if !spec.matches(&gvk) {
                continue;
            }
            let outcome = fieldspec::apply(&mut res.obj, spec, CreateKind::Nothing, &mut |node| {
                replacer.set(node)
            });
            if replacer.exhausted {
                return Err(Error::Limit {
                    path: file.to_path_buf(),
                    message: format!(
                        "vars: replacing var references in {} would add more than {max_added_bytes} bytes",
                        res.cur_id()
                    ),
                    limit: format!("max-file-bytes={max_added_bytes}"),
                });
            }
            outcome
                .map_err(|e| invalid(Failure::new(format!("{e} of object {}", res.cur_id()))))?;
        }
    }
    Ok(())
}

/// A var's value as kyaml's GetFieldValue reads it: dotted path, `[n]` list
/// positions, `[key=value]` list elements.
fn field_value(obj: &Map<String, Value>, path: &str) -> Option<Value> {
    let parts = path_parts(path);
    let (first, rest) = parts.split_first()?;
    let mut cur = obj.get(first.as_str())?;
    for part in rest {
        cur = step(cur, part)?;
    }
    Some(match cur {
        // kyaml returns a null's text ("null" as parsed here).
        Value::Null => Value::String("null".to_string()),
        // A whole-number float is written without a fraction ('f' format).
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => cur.clone(),
        },
        other => other.clone(),
    })
}

fn step<'a>(node: &'a Value, part: &str) -> Option<&'a Value> {
    match node {
        Value::Object(m) => m.get(part),
        Value::Array(items) => {
            if let Some(inner) = part.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
                let (k, want) = inner.split_once('=')?;
                items.iter().find(|i| {
                    i.as_object()
                        .and_then(|m| m.get(k))
                        .is_some_and(|x| crate::resource::scalar_text(x) == want)
                })
            } else {
                part.parse::<usize>().ok().and_then(|i| items.get(i))
            }
        }
        _ => None,
    }
}

/// kyaml's SmarterPathSplitter on `.` followed by convertSliceIndex.
fn path_parts(path: &str) -> Vec<String> {
    let mut raw: Vec<String> = Vec::new();
    let mut pieces: Vec<&str> = path.split('.').collect();
    if pieces.len() > 1 && pieces[0].is_empty() {
        pieces.remove(0);
    }
    for p in pieces {
        match raw.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(p);
            }
            _ => raw.push(p.to_string()),
        }
    }
    let mut joined: Vec<String> = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let elem = &raw[i];
        if elem.starts_with('[') && !elem.ends_with(']') {
            let mut bracketed = vec![elem.clone()];
            while i < raw.len() - 1 {
                i += 1;
                bracketed.push(raw[i].clone());
                if raw[i].ends_with(']') {
                    break;
                }
            }
            let s = bracketed.join(".");
            if s.contains('=') {
                joined.push(s);
            } else {
                joined.push(s.trim_matches(|c| c == '[' || c == ']').to_string());
            }
        } else {
            joined.push(elem.clone());
        }
        i += 1;
    }
    let mut out = Vec::new();
    for s in joined {
        if let Some(open) = s.rfind('[')
            && s.ends_with(']')
            && !s[open + 1..s.len() - 1].is_empty()
            && s[open + 1..s.len() - 1].bytes().all(|b| b.is_ascii_digit())
        {
            if open > 0 {
                out.push(s[..open].to_string());
            }
            out.push(s[open + 1..s.len() - 1].to_string());
        } else {
            out.push(s);
        }
    }
    out
}

/// Replaces var references in the nodes a varReference spec reaches.
struct Replacer<'a> {
    values: &'a HashMap<String, Value>,
    /// Bytes replacement may still add.
    budget: u64,
    /// The budget ran out.
    exhausted: bool,
}

impl Replacer<'_> {
    fn set(&mut self, node: &mut Value) -> Outcome<()> {
        match node {
            Value::Null => Ok(()),
            Value::String(_) => self.replace(node),
            Value::Object(map) => {
                for v in map.values_mut() {
                    if v.is_string() {
                        self.replace(v)?;
                    }
                }
                Ok(())
            }
            Value::Array(items) => {
                for item in items {
                    if !item.is_string() {
                        return Err(Failure::new("invalid value type expect a string"));
                    }
                    self.replace(item)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn replace(&mut self, node: &mut Value) -> Outcome<()> {
        let Value::String(text) = node else {
            return Ok(());
        };
        if !text.contains('$') {
            return Ok(());
        }
        let before = text.len() as u64;
        let replaced = expand(text, self.values);
        let after = match &replaced {
            Value::String(s) => s.len() as u64,
            other => crate::resource::scalar_text(other).len() as u64,
        };
        let added = after.saturating_sub(before);
        if added > self.budget {
            self.exhausted = true;
            return Err(Failure::new("var replacement produces too much text"));
        }
        self.budget -= added;
        *node = replaced;
        Ok(())
    }
}

/// The text of a value as Go's `%v` prints it inside a string.
fn go_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => go_float_g(f),
            _ => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// Go's `%v` of a float64 (shortest `%g`, exponent from 1e21 or below 1e-4).
fn go_float_g(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return format!("{f}");
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..21).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// A var value usable in place of a whole string (kustomize keeps its type);
/// lists and mappings are not replaced.
fn primitive(v: &Value) -> Option<&Value> {
    match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(v),
        _ => None,
    }
}

/// kustomize's DoReplacements: `$(NAME)` is replaced when NAME is a var with
/// a primitive value, `$$` is a literal `$`; a string that is exactly one
/// reference takes the value's type.
fn expand(input: &str, values: &HashMap<String, Value>) -> Value {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest.as_bytes()[0] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest[1..].find(')') {
                    Some(close) => {
                        let name = &rest[1..1 + close];
                        let mapped = values.get(name).and_then(primitive);
                        if input.len() == name.len() + 3 {
                            return match mapped {
                                Some(v) => v.clone(),
                                None => Value::String(input.to_string()),
                            };
                        }
                        match mapped {
                            Some(v) => out.push_str(&go_text(v)),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        close + 2
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    // "$" and the next character, copied as they are.
                    let ch = rest.chars().next().map_or(1, char::len_utf8);
                    out.push('$');
                    out.push_str(&rest[..ch]);
                    ch
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    if checkpoint < input.len() {
        out.push_str(&input[checkpoint..]);
    }
    Value::String(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pairs: &[(&str, Value)]) -> HashMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn expands_like_kustomize() {
        let v = vals(&[
            ("A", Value::String("x".into())),
            ("N", Value::from(8888)),
            ("M", serde_json::json!({"a": 1})),
        ]);
        let s = |t: &str| expand(t, &v);
        assert_eq!(s("$(A)"), Value::String("x".into()));
        assert_eq!(s("$(N)"), Value::from(8888));
        assert_eq!(s("port-$(N)"), Value::String("port-8888".into()));
        assert_eq!(s("$$(A)"), Value::String("$(A)".into()));
        assert_eq!(s("$(B) $(A)"), Value::String("$(B) x".into()));
        assert_eq!(s("$(M)"), Value::String("$(M)".into()));
        assert_eq!(s("a$(A"), Value::String("a$(A".into()));
        assert_eq!(s("$"), Value::String("$".into()));
        assert_eq!(s("$x$(A)é$é"), Value::String("$xxé$é".into()));
        // No recursion: a value holding a reference is not expanded again.
        let v2 = vals(&[("A", Value::String("$(A)$(A)".into()))]);
        assert_eq!(
            expand("$(A)-$(A)", &v2),
            Value::String("$(A)$(A)-$(A)$(A)".into())
        );
    }

    #[test]
    fn field_paths_follow_kyaml() {
        assert_eq!(
            path_parts("spec.template.spec.containers[0].ports[1].containerPort"),
            vec![
                "spec",
                "template",
                "spec",
                "containers",
                "0",
                "ports",
                "1",
                "containerPort"
            ]
        );
        assert_eq!(
            path_parts("metadata.annotations.a\\.b"),
            vec!["metadata", "annotations", "a.b"]
        );
        assert_eq!(
            path_parts("spec.containers.[name=a.b].image"),
            vec!["spec", "containers", "[name=a.b]", "image"]
        );
        let obj = serde_json::json!({"kind": "K", "spec": {"l": [{"name": "a", "v": 1}, {"name": "b", "v": 2}]}});
        let obj = obj.as_object().unwrap();
        assert_eq!(field_value(obj, "spec.l[1].v"), Some(Value::from(2)));
        assert_eq!(field_value(obj, "spec.l.[name=a].v"), Some(Value::from(1)));
        assert_eq!(field_value(obj, "spec.nope"), None);
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(go_float_g(1.5), "1.5");
        assert_eq!(go_float_g(1e21), "1e+21");
        assert_eq!(go_float_g(0.00001), "1e-05");
    }

    #[test]
    fn replacement_is_bounded() {
        let big = "x".repeat(1000);
        let values = vals(&[("A", Value::String(big))]);
        let mut r = Replacer {
            values: &values,
            budget: 10_000,
            exhausted: false,
        };
        let mut node = Value::String("$(A)".repeat(100));
        let err = r.set(&mut node).unwrap_err();
        assert!(err.0.contains("too much"), "{err}");
    }
}
