//! Strategic merge patches the way kustomize (kyaml merge2) applies them:
//! maps merge, `null` deletes, `$patch: delete|replace|merge` directives,
//! lists of built-in kinds merge by their merge keys (patch elements first),
//! every other list is replaced.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{Map, Value};

use crate::error::{Failure, Outcome};
use crate::openapi::Schema;
use crate::patch::schema::{ListStrategy, strategy_in};
use crate::resid::Gvk;

const DIRECTIVE: &str = "$patch";

/// Merges `patch` into `target`; `Ok(None)` means the object was deleted.
pub(crate) fn merge_object(
    target: &Map<String, Value>,
    patch: &Map<String, Value>,
    gvk: &Gvk,
    schema: &Schema,
) -> Outcome<Option<Map<String, Value>>> {
    let ctx = Ctx { gvk, schema };
    let merged = ctx.merge(
        Some(Value::Object(target.clone())),
        &Value::Object(patch.clone()),
        &mut Vec::new(),
    )?;
    Ok(match merged {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    })
}

struct Ctx<'a> {
    gvk: &'a Gvk,
    schema: &'a Schema,
}

fn directive(map: &Map<String, Value>) -> Outcome<Option<&str>> {
    match map.get(DIRECTIVE) {
        None => Ok(None),
        Some(Value::String(s)) if s == "delete" || s == "replace" || s == "merge" => {
            Ok(Some(s.as_str()))
        }
        Some(other) => Err(Failure::new(format!(
            "unknown patch strategy '{}'",
            crate::resource::scalar_text(other)
        ))),
    }
}

fn list_directive(items: &[Value]) -> Outcome<Option<(usize, &str)>> {
    for (i, item) in items.iter().enumerate() {
        if let Value::Object(m) = item
            && m.len() <= 1
            && let Some(d) = directive(m)?
        {
            return Ok(Some((i, d)));
        }
    }
    Ok(None)
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "MappingNode",
        Value::Array(_) => "SequenceNode",
        _ => "ScalarNode",
    }
}

impl Ctx<'_> {
    fn merge(
        &self,
        dest: Option<Value>,
        patch: &Value,
        path: &mut Vec<String>,
    ) -> Outcome<Option<Value>> {
        match patch {
            Value::Null => Ok(None),
            Value::Object(pm) => {
                let d = directive(pm)?;
                if d == Some("delete") {
                    return Ok(None);
                }
                if d == Some("replace") {
                    return Ok(Some(
                        self.clean(patch, path)?
                            .unwrap_or(Value::Object(Map::new())),
                    ));
                }
                let dest = match dest {
                    Some(Value::Null) | None => return self.clean(patch, path),
                    Some(Value::Object(dm)) => dm,
                    Some(other) => {
                        return Err(Failure::new(format!(
                            "wrong node kind at {}: expected {} but got MappingNode",
                            path.join("."),
                            kind_name(&other)
                        )));
                    }
                };
                let mut out = dest;
                for (k, pv) in pm {
                    if k == DIRECTIVE {
                        continue;
                    }
                    path.push(k.clone());
                    let merged = self.merge(out.get(k).cloned(), pv, path)?;
                    path.pop();
                    match merged {
                        Some(v) => {
                            out.insert(k.clone(), v);
                        }
                        None => {
                            out.remove(k);
                        }
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            Value::Array(items) => {
                let mut items = items.clone();
                if let Some((i, d)) = list_directive(&items)? {
                    let d = d.to_string();
                    items.remove(i);
                    match d.as_str() {
                        "delete" => return Ok(None),
                        "replace" => return self.clean(&Value::Array(items), path),
                        _ => {}
                    }
                }
                let dest = match dest {
                    Some(Value::Null) | None => return self.clean(&Value::Array(items), path),
                    Some(Value::Array(d)) => d,
                    Some(other) => {
                        return Err(Failure::new(format!(
                            "wrong node kind at {}: expected {} but got SequenceNode",
                            path.join("."),
                            kind_name(&other)
                        )));
                    }
                };
                match strategy_in(self.schema, self.gvk, path) {
                    ListStrategy::Replace => self.clean(&Value::Array(items), path),
                    ListStrategy::MergePrimitives => {
                        let mut out: Vec<Value> = Vec::new();
                        for v in items.iter().chain(dest.iter()) {
                            if !out.contains(v) {
                                out.push(v.clone());
                            }
                        }
                        Ok(Some(Value::Array(out)))
                    }
                    ListStrategy::MergeByKeys(keys) => {
                        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
                        self.merge_keyed(dest, &items, &keys, path)
                    }
                    ListStrategy::MergeByOwnedKeys(keys) => {
                        self.merge_keyed(dest, &items, &keys, path)
                    }
                }
            }
            scalar => {
                if let Some(d @ (Value::Object(_) | Value::Array(_))) = &dest {
                    return Err(Failure::new(format!(
                        "wrong node kind at {}: expected {} but got ScalarNode",
                        path.join("."),
                        kind_name(d)
                    )));
                }
                Ok(Some(scalar.clone()))
            }
        }
    }

    /// kyaml's associative-list merge, reproduced step by step (including its
    /// quirks with multi-key lists such as ports keyed by port and protocol).
    fn merge_keyed(
        &self,
        dest: Vec<Value>,
        patch: &[Value],
        keys: &[String],
        path: &mut Vec<String>,
    ) -> Outcome<Option<Value>> {
        let keys: Vec<String> = keys.to_vec();
        let mut dest_list: Vec<Node> = dest.into_iter().map(node).collect();
        let patch_list: Vec<Node> = patch.iter().cloned().map(node).collect();
        let mut values_list: Vec<Vec<String>> = Vec::new();
        for src in [&patch_list, &dest_list] {
            for el in src {
                let v = element_values(&el.borrow(), &keys);
                if !values_list.contains(&v) {
                    values_list.push(v);
                }
            }
        }
        if keys.len() > 1 {
            merge_values(&mut values_list);
        }
        let mut items: Vec<Node> = Vec::new();
        let mut last_keys = keys.clone();
        for values in values_list.clone() {
            let (vk, vv) = validate_keys(&values_list, &values, &keys);
            let (ek, ev) = validate_keys(std::slice::from_ref(&vv), &vv, &vk);
            let dest_el = find_element(&dest_list, &ek, &ev);
            let patch_el = find_element(&patch_list, &ek, &ev);
            let val: Option<Node> = match (dest_el, patch_el) {
                (None, None) => None,
                (Some(d), None) => Some(d),
                (d, Some(p)) => {
                    let patch_value = p.borrow().clone();
                    let replaces = matches!(&patch_value, Value::Object(m) if m.get(DIRECTIVE).and_then(Value::as_str) == Some("replace"));
                    let dest_value = d.as_ref().map(|d| d.borrow().clone());
                    match self.merge(dest_value, &patch_value, path)? {
                        None => None,
                        Some(merged) => match d {
                            Some(d) if !replaces => {
                                *d.borrow_mut() = merged;
                                Some(d)
                            }
                            _ => Some(node(merged)),
                        },
                    }
                }
            };
            let empty = val.as_ref().is_none_or(|v| match &*v.borrow() {
                Value::Null => true,
                Value::Object(m) => m.is_empty(),
                _ => false,
            });
            if empty {
                if !vk.is_empty() {
                    element_setter(&mut dest_list, None, &vk, &vv);
                }
                continue;
            }
            let val = val.expect("checked non-empty above");
            for (i, k) in vk.iter().enumerate() {
                let mut v = val.borrow_mut();
                if let Value::Object(m) = &mut *v
                    && !m.contains_key(k)
                    && !vv[i].is_empty()
                {
                    m.insert(k.clone(), Value::String(vv[i].clone()));
                }
            }
            element_setter(&mut items, Some(val), &vk, &vv);
            last_keys = vk;
        }
        if !values_list.is_empty() {
            append_list_node(&mut items, &dest_list, &last_keys);
        }
        Ok(Some(Value::Array(
            items.into_iter().map(|n| n.borrow().clone()).collect(),
        )))
    }

    /// A patch value used where the target has nothing: directives applied, nulls dropped.
    fn clean(&self, v: &Value, path: &mut Vec<String>) -> Outcome<Option<Value>> {
        self.merge_into_nothing(v, path)
    }

    fn merge_into_nothing(&self, v: &Value, path: &mut Vec<String>) -> Outcome<Option<Value>> {
        match v {
            Value::Null => Ok(None),
            Value::Object(m) => {
                if directive(m)? == Some("delete") {
                    return Ok(None);
                }
                let mut out = Map::new();
                for (k, val) in m {
                    if k == DIRECTIVE {
                        continue;
                    }
                    path.push(k.clone());
                    let cleaned = self.merge_into_nothing(val, path)?;
                    path.pop();
                    if let Some(c) = cleaned {
                        out.insert(k.clone(), c);
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    if let Value::Object(m) = item
                        && m.len() <= 1
                        && directive(m)?.is_some()
                    {
                        continue;
                    }
                    if let Some(c) = self.merge_into_nothing(item, path)? {
                        out.push(c);
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            other => Ok(Some(other.clone())),
        }
    }
}

/// A list element with identity (kyaml merges elements in place).
type Node = Rc<RefCell<Value>>;

fn node(v: Value) -> Node {
    Rc::new(RefCell::new(v))
}

fn field_text(v: &Value, key: &str) -> Option<String> {
    v.as_object()
        .and_then(|m| m.get(key))
        .map(crate::resource::scalar_text)
}

/// kyaml's ElementValuesList for one element (missing or empty fields give "").
fn element_values(v: &Value, keys: &[String]) -> Vec<String> {
    keys.iter()
        .map(|k| match v.as_object().and_then(|m| m.get(k)) {
            None | Some(Value::Null) => String::new(),
            Some(Value::Object(m)) if m.is_empty() => String::new(),
            Some(Value::Array(a)) if a.is_empty() => String::new(),
            Some(x) => crate::resource::scalar_text(x),
        })
        .collect()
}

/// kyaml's mergeValues: partially-known key tuples that agree are unified.
fn merge_values(list: &mut [Vec<String>]) {
    for i in 0..list.len() {
        for j in 0..list.len() {
            if let Some(merged) = match_values(&list[i], &list[j]) {
                list[i] = merged.clone();
                list[j] = merged;
            }
        }
    }
}

fn match_values(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len() != b.len() {
        return None;
    }
    let mut common = false;
    let mut out = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        if x == y {
            common = true;
            out.push(x.clone());
        } else if !x.is_empty() && !y.is_empty() {
            return None;
        } else if !x.is_empty() {
            out.push(x.clone());
        } else {
            out.push(y.clone());
        }
    }
    common.then_some(out)
}

/// kyaml's validateKeys: keep keys that have a value somewhere in the list.
fn validate_keys(
    list: &[Vec<String>],
    values: &[String],
    keys: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut valid: Vec<&String> = Vec::new();
    for vals in list {
        for (i, v) in vals.iter().enumerate() {
            if !v.is_empty() && i < keys.len() && !valid.contains(&&keys[i]) {
                valid.push(&keys[i]);
            }
        }
    }
    if valid.is_empty() {
        return (keys.to_vec(), values.to_vec());
    }
    let vk: Vec<String> = keys.iter().filter(|k| valid.contains(k)).cloned().collect();
    let vv: Vec<String> = values
        .iter()
        .enumerate()
        .filter(|(i, v)| !v.is_empty() || keys.get(*i).is_some_and(|k| valid.contains(&k)))
        .map(|(_, v)| v.clone())
        .collect();
    (vk, vv)
}

/// kyaml's FieldMatcher: an empty value only requires the field to exist.
fn field_matches(v: &Value, key: &str, want: &str) -> bool {
    match v.as_object().and_then(|m| m.get(key)) {
        None | Some(Value::Null) => false,
        Some(x) => want.is_empty() || crate::resource::scalar_text(x) == want,
    }
}

/// kyaml's ElementMatcher: first mapping element whose keys match.
fn find_element(list: &[Node], keys: &[String], values: &[String]) -> Option<Node> {
    list.iter()
        .find(|n| {
            let v = n.borrow();
            v.is_object()
                && keys
                    .iter()
                    .zip(values)
                    .all(|(k, want)| field_matches(&v, k, want))
        })
        .cloned()
}

/// kyaml's ElementSetter: replace (or delete, when `element` is None) the
/// matching elements, append when nothing matched; empty elements are dropped.
fn element_setter(list: &mut Vec<Node>, element: Option<Node>, keys: &[String], values: &[String]) {
    let mut out = Vec::with_capacity(list.len() + 1);
    let mut matched = false;
    for elem in list.drain(..) {
        let (is_empty, is_map) = {
            let v = elem.borrow();
            (
                v.is_null() || v.as_object().is_some_and(Map::is_empty),
                v.is_object(),
            )
        };
        if is_empty {
            continue;
        }
        if !is_map {
            out.push(elem);
            continue;
        }
        let mut found = true;
        let mut last = true;
        for (j, k) in keys.iter().enumerate() {
            if j < values.len() {
                last = field_matches(&elem.borrow(), k, &values[j]);
            }
            if !last {
                found = false;
                break;
            }
        }
        if !found {
            if !values.is_empty() {
                out.push(elem);
            }
            continue;
        }
        matched = true;
        if let Some(e) = &element {
            out.push(e.clone());
        }
    }
    *list = out;
    if let Some(e) = element
        && !matched
    {
        list.push(e);
    }
}

/// kyaml's appendListNode with the destination list (prepend mode).
fn append_list_node(items: &mut Vec<Node>, dest: &[Node], keys: &[String]) {
    for elem in dest {
        let mut v = Vec::new();
        for k in keys {
            match field_text(&elem.borrow(), k) {
                None => items.push(elem.clone()),
                Some(text) => v.push(text),
            }
        }
        if keys.len() > 1 {
            element_setter(items, None, keys, &v);
        }
        element_setter(items, Some(elem.clone()), keys, &v);
    }
}
