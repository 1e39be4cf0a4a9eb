//! `replacements`: copy a field of one object into fields of others.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{Failure, Outcome};
use crate::kustomization::{FieldOptions, Replacement, TargetSelector};
use crate::patch::selector::parse_labels;
use crate::resid::{Gvk, ResId};
use crate::resmap::ResMap;
use crate::resource::{Resource, scalar_text};

const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// Applies replacements in order.
pub(crate) fn apply(resmap: &mut ResMap, replacements: &[Replacement]) -> Outcome<()> {
    for r in replacements {
        let Some(source) = &r.source else {
            return Err(Failure::new(
                "replacements must specify a source and at least one target",
            ));
        };
        if r.targets.is_empty() {
            return Err(Failure::new(
                "replacements must specify a source and at least one target",
            ));
        }
        let selector = ResId {
            gvk: Gvk {
                group: source.group.clone(),
                version: source.version.clone(),
                kind: source.kind.clone(),
            },
            name: source.name.clone(),
            namespace: source.namespace.clone(),
        };
        let matches: Vec<usize> = resmap
            .items
            .iter()
            .enumerate()
            .filter(|(_, res)| res.all_ids().iter().any(|id| id.is_selected_by(&selector)))
            .map(|(i, _)| i)
            .collect();
        let index = match matches.as_slice() {
            [one] => *one,
            [] => return Err(Failure::new(format!("nothing selected by {selector}"))),
            _ => {
                return Err(Failure::new(format!(
                    "multiple matches for selector {selector}"
                )));
            }
        };
        let field_path = if source.field_path.is_empty() {
            DEFAULT_FIELD_PATH
        } else {
            &source.field_path
        };
        let path = split_field_path(field_path);
        let found = lookup(&Value::Object(resmap.items[index].obj.clone()), &path);
        let value = match found {
            Some(v) if !is_empty(&v) => v,
            _ => {
                return Err(Failure::new(format!(
                    "fieldPath `{field_path}` is missing for replacement source {selector}"
                )));
            }
        };
        let value = refine(source.options.as_ref(), value)?;
        for target in &r.targets {
            apply_target(resmap, target, &value)?;
        }
    }
    Ok(())
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

fn refine(options: Option<&FieldOptions>, value: Value) -> Outcome<Value> {
    let Some(o) = options.filter(|o| !o.delimiter.is_empty()) else {
        return Ok(value);
    };
    if value.is_object() || value.is_array() {
        return Err(Failure::new(
            "delimiter option can only be used with scalar nodes",
        ));
    }
    let text = scalar_text(&value);
    let parts: Vec<&str> = text.split(o.delimiter.as_str()).collect();
    if o.index < 0 || o.index as usize >= parts.len() {
        return Err(Failure::new(format!(
            "options.index {} is out of bounds for value {text}",
            o.index
        )));
    }
    Ok(Value::String(parts[o.index as usize].to_string()))
}

fn selector_id(s: &TargetSelector) -> ResId {
    ResId {
        gvk: Gvk {
            group: s.group.clone(),
            version: s.version.clone(),
            kind: s.kind.clone(),
        },
        name: s.name.clone(),
        namespace: s.namespace.clone(),
    }
}

fn matches_meta(res: &Resource, s: &TargetSelector) -> Outcome<bool> {
    for (text, field) in [
        (&s.label_selector, "labels"),
        (&s.annotation_selector, "annotations"),
    ] {
        if text.is_empty() {
            continue;
        }
        let sel = parse_labels(text)?;
        let map: BTreeMap<String, String> = res.string_map(field).into_iter().collect();
        if !sel.matches(&map) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn apply_target(
    resmap: &mut ResMap,
    target: &crate::kustomization::ReplacementTarget,
    value: &Value,
) -> Outcome<()> {
    let Some(select) = &target.select else {
        return Err(Failure::new("target must specify resources to select"));
    };
    let select_id = selector_id(select);
    let paths: Vec<String> = if target.field_paths.is_empty() {
        vec![DEFAULT_FIELD_PATH.to_string()]
    } else {
        target.field_paths.clone()
    };
    let create = target.options.as_ref().is_some_and(|o| o.create);
    for res in &mut resmap.items {
        if !matches_meta(res, select)? {
            continue;
        }
        let mut rejected = false;
        for reject in &target.reject {
            if (!reject.label_selector.is_empty() || !reject.annotation_selector.is_empty())
                && matches_meta(res, reject)?
            {
                rejected = true;
            }
        }
        if rejected {
            continue;
        }
        let ids = res.all_ids();
        if !ids.iter().any(|id| id.is_selected_by(&select_id)) {
            continue;
        }
        let rejected_by_id = target.reject.iter().any(|r| {
            let rid = selector_id(r);
            rid != ResId::default() && ids.iter().any(|id| id.is_selected_by(&rid))
        });
        if rejected_by_id {
            continue;
        }
        for fp in &paths {
            let path = split_field_path(fp);
            let mut count = 0usize;
            set_at(&mut res.obj, &path, create, &mut |node| {
                count += 1;
                set_value(target.options.as_ref(), node, value)
            })?;
            if count == 0 {
                return Err(Failure::new(if create {
                    format!("unable to find or create field \"{fp}\" in replacement target")
                } else {
                    format!("unable to find field \"{fp}\" in replacement target")
                }));
            }
        }
    }
    Ok(())
}

fn set_value(options: Option<&FieldOptions>, node: &mut Value, value: &Value) -> Outcome<()> {
    let mut value = value.clone();
    if let Some(o) = options.filter(|o| !o.delimiter.is_empty()) {
        if node.is_object() || node.is_array() {
            return Err(Failure::new(
                "delimiter option can only be used with scalar nodes",
            ));
        }
        let current = scalar_text(node);
        let mut parts: Vec<String> = current
            .split(o.delimiter.as_str())
            .map(str::to_string)
            .collect();
        let v = scalar_text(&value);
        if o.index < 0 {
            parts.insert(0, v);
        } else if o.index as usize >= parts.len() {
            parts.push(v);
        } else {
            parts[o.index as usize] = v;
        }
        value = Value::String(parts.join(&o.delimiter));
    }
    let scalar_value = !(value.is_object() || value.is_array());
    *node = match (&*node, scalar_value) {
        (Value::String(_), true) => Value::String(scalar_text(&value)),
        (Value::Number(_), true) => retype_number(&scalar_text(&value)),
        (Value::Bool(_), true) => match scalar_text(&value).as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => Value::String(other.to_string()),
        },
        (Value::Null, true) => resolve_plain(&scalar_text(&value)),
        _ => value,
    };
    Ok(())
}

fn retype_number(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = text.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(text.to_string())
}

/// A new, untagged scalar: YAML readers resolve it by its content. The text
/// comes from an object, so it is read under the default limits (it may hold
/// an alias bomb of its own).
fn resolve_plain(text: &str) -> Value {
    let limits = crate::limits::Limits::default();
    match crate::yaml_io::parse_value(text, std::path::Path::new("replacement value"), &limits) {
        Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
        _ => Value::String(text.to_string()),
    }
}

/// Splits `a.b.[k=v.x].c` on dots outside brackets.
pub(crate) fn split_field_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn element_matches(item: &Value, seg: &str) -> bool {
    let Some(inner) = seg.strip_prefix('[').and_then(|s| s.strip_suffix(']')) else {
        return false;
    };
    let Some((k, v)) = inner.split_once('=') else {
        return false;
    };
    item.as_object()
        .and_then(|m| m.get(k))
        .is_some_and(|x| scalar_text(x) == v)
}

fn lookup(node: &Value, path: &[String]) -> Option<Value> {
    let Some((seg, rest)) = path.split_first() else {
        return Some(node.clone());
    };
    match node {
        Value::Object(m) => m.get(seg.as_str()).and_then(|v| lookup(v, rest)),
        Value::Array(items) => {
            if seg.starts_with('[') {
                items
                    .iter()
                    .find(|i| element_matches(i, seg))
                    .and_then(|v| lookup(v, rest))
            } else if let Ok(i) = seg.parse::<usize>() {
                items.get(i).and_then(|v| lookup(v, rest))
            } else {
                None
            }
        }
        _ => None,
    }
}

fn set_at(
    map: &mut Map<String, Value>,
    path: &[String],
    create: bool,
    set: &mut dyn FnMut(&mut Value) -> Outcome<()>,
) -> Outcome<()> {
    let Some((seg, rest)) = path.split_first() else {
        return Ok(());
    };
    if seg == "*" {
        for v in map.values_mut() {
            set_node(v, rest, create, set)?;
        }
        return Ok(());
    }
    if !map.contains_key(seg.as_str()) {
        if !create {
            return Ok(());
        }
        let fresh = if rest.is_empty() {
            Value::Null
        } else if rest[0].starts_with('[') || rest[0].parse::<usize>().is_ok() {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        };
        map.insert(seg.clone(), fresh);
    }
    match map.get_mut(seg.as_str()) {
        Some(v) => set_node(v, rest, create, set),
        None => Ok(()),
    }
}

fn set_node(
    node: &mut Value,
    path: &[String],
    create: bool,
    set: &mut dyn FnMut(&mut Value) -> Outcome<()>,
) -> Outcome<()> {
    let Some((seg, rest)) = path.split_first() else {
        return set(node);
    };
    match node {
        Value::Object(m) => set_at(m, path, create, set),
        Value::Null if create => {
            *node = Value::Object(Map::new());
            set_node(node, path, create, set)
        }
        Value::Array(items) => {
            if seg == "*" {
                for item in items.iter_mut() {
                    set_node(item, rest, create, set)?;
                }
            } else if seg.starts_with('[') {
                for item in items.iter_mut().filter(|i| element_matches(i, seg)) {
                    set_node(item, rest, create, set)?;
                }
            } else if let Ok(i) = seg.parse::<usize>()
                && let Some(item) = items.get_mut(i)
            {
                set_node(item, rest, create, set)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
