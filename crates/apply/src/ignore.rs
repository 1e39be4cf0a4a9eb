//! Kustomization `spec.ignore`: fields other controllers own (an HPA's `/spec/replicas`, an
//! annotation cert-manager writes) that drift detection and correction must leave alone.
//!
//! Rules are compiled once per reconcile ([`IgnoreRules::compile`]), refusing hostile or
//! malformed input with the field named (`spec.ignore[i].paths[j]`, `spec.ignore[i].target.kind`).
//! The applier then, for an existing object a rule selects (matched against the dry-run
//! result, as Flux does):
//!
//! * compares live and dry-run with the ignored paths removed from both, looking only at
//!   labels, annotations and everything outside `metadata` and `status` (Flux's comparison),
//!   so a change of an ignored field alone is no drift and causes no write;
//! * when something else drifted, applies the manifest with each ignored path whose live
//!   value differs from the dry-run either removed (another server-side apply manager owns
//!   it: our field manager lets it go) or set to the live value (no other apply manager
//!   owns it: the value is kept as it is).
//!
//! New objects are created from the whole manifest, ignored fields included.

use std::collections::BTreeMap;

use driftless_api::kustomize::{IgnoreRule, Selector};
use driftless_api::well_known::{FIELD_MANAGER, KUSTOMIZE_NAME_LABEL, KUSTOMIZE_NAMESPACE_LABEL};
use driftless_kustomize::LabelSelector;
use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};

/// At most this many rules in `spec.ignore`.
pub const MAX_RULES: usize = 64;
/// At most this many paths in one rule.
pub const MAX_PATHS: usize = 64;
/// At most this many bytes in one JSON Pointer.
pub const MAX_PATH_BYTES: usize = 1024;
/// At most this many bytes in one regular expression of a target.
pub const MAX_PATTERN_BYTES: usize = 1024;
/// Compiled size limit of one target regular expression (the `regex` crate's own bound).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A `spec.ignore` entry that cannot be used: the field and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct IgnoreRuleError {
    /// The field, e.g. `spec.ignore[0].paths[1]` or `spec.ignore[2].target.kind`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A parsed JSON Pointer (RFC 6901): the unescaped reference tokens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JsonPointer {
    text: String,
    tokens: Vec<String>,
}

impl JsonPointer {
    /// Parses `text`: it must start with `/`, and `~` may only be followed by `0` (`~`) or
    /// `1` (`/`). The empty pointer (the whole object) is refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("the empty JSON Pointer names the whole object".into());
        }
        if text.len() > MAX_PATH_BYTES {
            return Err(format!(
                "JSON Pointer is {} bytes long, at most {MAX_PATH_BYTES} are allowed",
                text.len()
            ));
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!("JSON Pointer {text:?} must start with '/'"));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            let mut token = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    token.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => token.push('~'),
                    Some('1') => token.push('/'),
                    _ => {
                        return Err(format!(
                            "JSON Pointer {text:?}: '~' must be followed by '0' or '1' (write '~0' for '~', '~1' for '/')"
                        ));
                    }
                }
            }
            tokens.push(token);
        }
        Ok(Self {
            text: text.to_owned(),
            tokens,
        })
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The unescaped reference tokens.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The value the pointer names in `object`, if present.
    pub fn get<'a>(&self, object: &'a Value) -> Option<&'a Value> {
        self.tokens
            .iter()
            .try_fold(object, |value, token| step(value, token))
    }

    /// Removes the value the pointer names from `object`; returns it when it was present.
    pub fn remove(&self, object: &mut Value) -> Option<Value> {
        let (last, parents) = self.tokens.split_last()?;
        let parent = parents
            .iter()
            .try_fold(object, |value, token| step_mut(value, token))?;
        match parent {
            Value::Object(map) => map.remove(last),
            Value::Array(items) => {
                let index = array_index(last).filter(|&i| i < items.len())?;
                Some(items.remove(index))
            }
            _ => None,
        }
    }

    /// Sets the value the pointer names in `object` to `value`, creating missing parent
    /// objects. Returns false (and changes nothing) when a parent is not an object or an
    /// array index is out of range.
    pub fn set(&self, object: &mut Value, value: Value) -> bool {
        let Some((last, parents)) = self.tokens.split_last() else {
            return false;
        };
        // Check the path first, so that a failure leaves `object` untouched.
        let mut probe = Some(&*object);
        for token in parents {
            probe = match probe {
                None => None,
                Some(Value::Object(map)) => map.get(token),
                Some(Value::Array(items)) => match array_index(token).and_then(|i| items.get(i)) {
                    Some(item) => Some(item),
                    None => return false,
                },
                Some(_) => return false,
            };
        }
        match probe {
            None | Some(Value::Object(_)) => {}
            Some(Value::Array(items)) => {
                if array_index(last).is_none_or(|i| i >= items.len()) {
                    return false;
                }
            }
            Some(_) => return false,
        }
        let mut current = object;
        for token in parents {
            current = match current {
                Value::Object(map) => map
                    .entry(token.clone())
                    .or_insert_with(|| Value::Object(Map::new())),
                Value::Array(items) => match array_index(token).and_then(|i| items.get_mut(i)) {
                    Some(item) => item,
                    None => return false,
                },
                _ => return false,
            };
        }
        match current {
            Value::Object(map) => {
                map.insert(last.clone(), value);
                true
            }
            Value::Array(items) => match array_index(last).and_then(|i| items.get_mut(i)) {
                Some(slot) => {
                    *slot = value;
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    /// True when `self` names `other` or one of its parents.
    fn covers(&self, other: &[&str]) -> bool {
        self.tokens.len() <= other.len() && self.tokens.iter().zip(other).all(|(a, b)| a == b)
    }
}

/// An array index token: `0` or a decimal number without leading zeros.
fn array_index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

fn step<'a>(value: &'a Value, token: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map.get(token),
        Value::Array(items) => items.get(array_index(token)?),
        _ => None,
    }
}

fn step_mut<'a>(value: &'a mut Value, token: &str) -> Option<&'a mut Value> {
    match value {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => items.get_mut(array_index(token)?),
        _ => None,
    }
}

/// Fields an ignore rule may not name (nor any of their parents): without them an object
/// cannot be addressed, owned, pruned or watched for drift.
const PROTECTED: &[&[&str]] = &[
    &["apiVersion"],
    &["kind"],
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "labels", KUSTOMIZE_NAME_LABEL],
    &["metadata", "labels", KUSTOMIZE_NAMESPACE_LABEL],
];

/// A compiled `target`: anchored regular expressions and selectors; absent fields match all.
#[derive(Clone, Debug)]
struct Target {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Option<LabelSelector>,
    annotations: Option<LabelSelector>,
}

/// Compiles `pattern` to match whole values only (`^(?:pattern)$`, as Flux and kustomize
/// anchor target selectors); empty matches everything.
fn anchored(pattern: Option<&str>) -> Result<Option<Regex>, String> {
    let Some(pattern) = pattern.filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(format!(
            "regular expression is {} bytes long, at most {MAX_PATTERN_BYTES} are allowed",
            pattern.len()
        ));
    }
    RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map(Some)
        .map_err(|error| format!("invalid regular expression {pattern:?}: {error}"))
}

impl Target {
    fn compile(selector: &Selector, field: &str) -> Result<Self, IgnoreRuleError> {
        let error = |name: &str, reason: String| IgnoreRuleError {
            field: format!("{field}.{name}"),
            reason,
        };
        let regex = |name: &str, pattern: &Option<String>| {
            anchored(pattern.as_deref()).map_err(|reason| error(name, reason))
        };
        let selector_of = |name: &str, text: &Option<String>| match text.as_deref() {
            None | Some("") => Ok(None),
            Some(text) => LabelSelector::parse(text)
                .map(Some)
                .map_err(|reason| error(name, reason)),
        };
        Ok(Self {
            group: regex("group", &selector.group)?,
            version: regex("version", &selector.version)?,
            kind: regex("kind", &selector.kind)?,
            name: regex("name", &selector.name)?,
            namespace: regex("namespace", &selector.namespace)?,
            labels: selector_of("labelSelector", &selector.label_selector)?,
            annotations: selector_of("annotationSelector", &selector.annotation_selector)?,
        })
    }

    fn matches(&self, object: &Value) -> bool {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
        let (group, version) = crate::object::split_api_version(text("/apiVersion").unwrap_or(""));
        let matches = |regex: &Option<Regex>, value: &str| {
            regex.as_ref().is_none_or(|regex| regex.is_match(value))
        };
        let map = |pointer: &str| -> BTreeMap<String, String> {
            object
                .pointer(pointer)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        };
        matches(&self.group, group)
            && matches(&self.version, version)
            && matches(&self.kind, text("/kind").unwrap_or(""))
            && matches(&self.name, text("/metadata/name").unwrap_or(""))
            && matches(&self.namespace, text("/metadata/namespace").unwrap_or(""))
            && self
                .labels
                .as_ref()
                .is_none_or(|s| s.matches(&map("/metadata/labels")))
            && self
                .annotations
                .as_ref()
                .is_none_or(|s| s.matches(&map("/metadata/annotations")))
    }
}

/// The compiled `spec.ignore` of a Kustomization.
#[derive(Clone, Debug, Default)]
pub struct IgnoreRules {
    rules: Vec<(Option<Target>, Vec<JsonPointer>)>,
}

impl IgnoreRules {
    /// Validates and compiles `rules`; the first unusable entry is the error, naming its
    /// field as `spec.ignore[i]…`.
    pub fn compile(rules: &[IgnoreRule]) -> Result<Self, IgnoreRuleError> {
        if rules.len() > MAX_RULES {
            return Err(IgnoreRuleError {
                field: "spec.ignore".into(),
                reason: format!("{} rules, at most {MAX_RULES} are allowed", rules.len()),
            });
        }
        let mut compiled = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let field = format!("spec.ignore[{i}]");
            if rule.paths.is_empty() {
                return Err(IgnoreRuleError {
                    field: format!("{field}.paths"),
                    reason: "at least one path is required".into(),
                });
            }
            if rule.paths.len() > MAX_PATHS {
                return Err(IgnoreRuleError {
                    field: format!("{field}.paths"),
                    reason: format!(
                        "{} paths, at most {MAX_PATHS} are allowed",
                        rule.paths.len()
                    ),
                });
            }
            let mut pointers = Vec::with_capacity(rule.paths.len());
            for (j, path) in rule.paths.iter().enumerate() {
                let error = |reason: String| IgnoreRuleError {
                    field: format!("{field}.paths[{j}]"),
                    reason,
                };
                let pointer = JsonPointer::parse(path).map_err(error)?;
                if let Some(protected) = PROTECTED.iter().find(|p| pointer.covers(p)) {
                    return Err(error(format!(
                        "{path:?} would leave out /{}, which identifies the object or its owner; it cannot be ignored",
                        protected.join("/")
                    )));
                }
                pointers.push(pointer);
            }
            let target = rule
                .target
                .as_ref()
                .map(|t| Target::compile(t, &format!("{field}.target")))
                .transpose()?;
            compiled.push((target, pointers));
        }
        Ok(Self { rules: compiled })
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The ignored paths of `object` (every rule whose target selects it), without repeats.
    pub fn paths_for(&self, object: &Value) -> Vec<&JsonPointer> {
        let mut paths: Vec<&JsonPointer> = Vec::new();
        for (target, pointers) in &self.rules {
            if target.as_ref().is_none_or(|t| t.matches(object)) {
                for pointer in pointers {
                    if !paths.contains(&pointer) {
                        paths.push(pointer);
                    }
                }
            }
        }
        paths
    }
}

/// Like [`crate::has_drifted`], for an object with ignored `paths`: both sides without the
/// ignored fields, comparing labels, annotations and everything outside `metadata` and
/// `status` (Flux's comparison: field ownership and bookkeeping such as `generation` are
/// not compared, since the dry-run of a reverted ignored field changes them).
pub(crate) fn has_drifted_ignoring(live: &Value, dry_run: &Value, paths: &[&JsonPointer]) -> bool {
    comparable(live, paths) != comparable(dry_run, paths)
}

fn comparable(object: &Value, paths: &[&JsonPointer]) -> Value {
    let mut object = object.clone();
    for path in paths {
        path.remove(&mut object);
    }
    let Value::Object(mut map) = object else {
        return object;
    };
    map.remove("status");
    let metadata = map.remove("metadata");
    for key in ["labels", "annotations"] {
        let value = metadata
            .as_ref()
            .and_then(|m| m.get(key))
            .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
            .cloned();
        map.insert(format!("metadata.{key}"), value.unwrap_or(Value::Null));
    }
    Value::Object(map)
}

/// What to apply to an existing, drifted object with ignored `paths`: the manifest, where
/// each ignored field whose live value differs from the dry-run's is removed when another
/// server-side apply manager owns it, and otherwise set to its live value (removed when
/// it is not live, or cannot be set).
pub(crate) fn payload(
    manifest: &Value,
    live: &Value,
    dry_run: &Value,
    paths: &[&JsonPointer],
) -> Value {
    let mut payload = manifest.clone();
    for path in paths {
        let live_value = path.get(live);
        if live_value == path.get(dry_run) {
            continue;
        }
        match live_value {
            Some(value) if !owned_by_other_applier(live, path) => {
                if !path.set(&mut payload, value.clone()) {
                    path.remove(&mut payload);
                }
            }
            _ => {
                path.remove(&mut payload);
            }
        }
    }
    payload
}

/// For `driftless diff`: the dry-run result with each ignored field as it is live, so the
/// preview shows no change there.
pub(crate) fn with_live_values(dry_run: &Value, live: &Value, paths: &[&JsonPointer]) -> Value {
    let mut shown = dry_run.clone();
    for path in paths {
        match path.get(live) {
            Some(value) => {
                if !path.set(&mut shown, value.clone()) {
                    path.remove(&mut shown);
                }
            }
            None => {
                path.remove(&mut shown);
            }
        }
    }
    shown
}

/// True when a server-side apply manager other than ours owns the field `path` names, by
/// the live object's `managedFields`. Array items are found by their key (`k:{…}`) or value
/// (`v:…`); a path that cannot be followed counts as not owned (its live value is kept).
pub(crate) fn owned_by_other_applier(live: &Value, path: &JsonPointer) -> bool {
    let entries: Vec<&Value> = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("operation").and_then(Value::as_str) == Some("Apply"))
        .filter(|e| {
            e.get("subresource")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        })
        .filter(|e| e.get("manager").and_then(Value::as_str) != Some(FIELD_MANAGER))
        .filter_map(|e| e.get("fieldsV1"))
        .collect();
    if entries.is_empty() {
        return false;
    }
    let mut segments: Vec<String> = Vec::with_capacity(path.tokens().len());
    let mut value = Some(live);
    for token in path.tokens() {
        let segment = match value {
            Some(Value::Array(items)) => {
                let Some(item) = array_index(token).and_then(|i| items.get(i)) else {
                    return false;
                };
                match array_item_key(&entries, &segments, item) {
                    Some(key) => key,
                    None => return false,
                }
            }
            _ => format!("f:{token}"),
        };
        value = value.and_then(|v| step(v, token));
        segments.push(segment);
    }
    entries
        .iter()
        .any(|fields| walk(fields, &segments).is_some())
}

fn walk<'a>(fields: &'a Value, segments: &[String]) -> Option<&'a Value> {
    segments
        .iter()
        .try_fold(fields, |node, segment| node.as_object()?.get(segment))
}

/// The `managedFields` key of an array item under `parent`: a `k:{…}` whose fields all
/// equal the item's, or `v:<item>` for a set of scalars.
fn array_item_key(entries: &[&Value], parent: &[String], item: &Value) -> Option<String> {
    let value_key = format!("v:{item}");
    for fields in entries {
        let Some(node) = walk(fields, parent).and_then(Value::as_object) else {
            continue;
        };
        for key in node.keys() {
            if *key == value_key {
                return Some(key.clone());
            }
            let Some(json) = key.strip_prefix("k:") else {
                continue;
            };
            let Ok(Value::Object(wanted)) = serde_json::from_str::<Value>(json) else {
                continue;
            };
            if wanted.iter().all(|(k, v)| item.get(k) == Some(v)) {
                return Some(key.clone());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(paths: &[&str], target: Option<Selector>) -> IgnoreRule {
        IgnoreRule {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            target,
        }
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default",
                "labels": {"app": "web", "tier": "front"},
                "annotations": {"example.com/owner": "git", "a~b": "x"}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1"}, {"name": "side", "image": "busybox"}]}}}
        })
    }

    #[test]
    fn pointers_parse_and_unescape() {
        let p = JsonPointer::parse("/metadata/annotations/example.com~1owner").unwrap();
        assert_eq!(p.tokens(), ["metadata", "annotations", "example.com/owner"]);
        let p = JsonPointer::parse("/metadata/annotations/a~0b").unwrap();
        assert_eq!(p.tokens()[2], "a~b");
        // `~01` is `~1` literally, not `/`: escapes are undone left to right once.
        assert_eq!(JsonPointer::parse("/~01").unwrap().tokens(), ["~1"]);
        assert_eq!(JsonPointer::parse("/").unwrap().tokens(), [""]);
        for bad in ["", "spec/replicas", "/a~", "/a~2", "/~x"] {
            assert!(JsonPointer::parse(bad).is_err(), "{bad:?} parsed");
        }
        let long = format!("/{}", "a".repeat(MAX_PATH_BYTES));
        assert!(JsonPointer::parse(&long).unwrap_err().contains("at most"));
    }

    #[test]
    fn pointers_get_remove_and_set() {
        let mut object = deployment();
        let replicas = JsonPointer::parse("/spec/replicas").unwrap();
        assert_eq!(replicas.get(&object), Some(&json!(1)));
        let image = JsonPointer::parse("/spec/template/spec/containers/1/image").unwrap();
        assert_eq!(image.get(&object), Some(&json!("busybox")));
        let owner = JsonPointer::parse("/metadata/annotations/example.com~1owner").unwrap();
        assert_eq!(owner.remove(&mut object), Some(json!("git")));
        assert!(
            object["metadata"]["annotations"]
                .get("example.com/owner")
                .is_none()
        );
        assert_eq!(owner.remove(&mut object), None, "already gone");
        // Leading zeros, `-` and out-of-range indexes name nothing.
        for missing in [
            "/spec/template/spec/containers/01/image",
            "/spec/template/spec/containers/-/image",
            "/spec/template/spec/containers/2/image",
            "/spec/replicas/x",
        ] {
            let p = JsonPointer::parse(missing).unwrap();
            assert_eq!(p.get(&object), None, "{missing}");
            assert_eq!(p.remove(&mut object), None, "{missing}");
        }
        assert!(replicas.set(&mut object, json!(3)));
        assert_eq!(object["spec"]["replicas"], 3);
        let deep = JsonPointer::parse("/spec/strategy/rollingUpdate/maxSurge").unwrap();
        assert!(deep.set(&mut object, json!("25%")));
        assert_eq!(
            object["spec"]["strategy"]["rollingUpdate"]["maxSurge"],
            "25%"
        );
        let before = object.clone();
        let through_scalar = JsonPointer::parse("/spec/replicas/x").unwrap();
        assert!(!through_scalar.set(&mut object, json!(1)));
        let past_end = JsonPointer::parse("/spec/template/spec/containers/5/image").unwrap();
        assert!(!past_end.set(&mut object, json!("x")));
        assert_eq!(object, before, "a failed set changes nothing");
    }

    #[test]
    fn identity_and_owner_paths_are_refused() {
        for path in [
            "/apiVersion",
            "/kind",
            "/metadata",
            "/metadata/name",
            "/metadata/namespace",
            "/metadata/labels",
            "/metadata/labels/kustomize.driftless.dev~1name",
            "/metadata/labels/kustomize.driftless.dev~1namespace",
        ] {
            let error = IgnoreRules::compile(&[rule(&["/spec/replicas", path], None)]).unwrap_err();
            assert_eq!(error.field, "spec.ignore[0].paths[1]", "{path}");
            assert!(error.reason.contains("cannot be ignored"), "{error}");
        }
        let error = IgnoreRules::compile(&[rule(&[""], None)]).unwrap_err();
        assert!(
            error.to_string().starts_with("spec.ignore[0].paths[0]: "),
            "{error}"
        );
        // Other labels and annotations are fine.
        assert!(
            IgnoreRules::compile(&[rule(
                &["/metadata/labels/app", "/metadata/annotations"],
                None
            )])
            .is_ok()
        );
    }

    #[test]
    fn bounds_are_enforced() {
        let too_many = vec![rule(&["/spec/replicas"], None); MAX_RULES + 1];
        assert_eq!(
            IgnoreRules::compile(&too_many).unwrap_err().field,
            "spec.ignore"
        );
        let paths: Vec<String> = (0..=MAX_PATHS).map(|i| format!("/spec/x{i}")).collect();
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let error = IgnoreRules::compile(&[rule(&refs, None)]).unwrap_err();
        assert_eq!(error.field, "spec.ignore[0].paths");
        assert_eq!(
            IgnoreRules::compile(&[rule(&[], None)]).unwrap_err().field,
            "spec.ignore[0].paths"
        );
        let huge = Selector {
            name: Some("a".repeat(MAX_PATTERN_BYTES + 1)),
            ..Selector::default()
        };
        let error = IgnoreRules::compile(&[rule(&["/spec"], Some(huge))]).unwrap_err();
        assert_eq!(error.field, "spec.ignore[0].target.name");
        // Small to write, huge to compile: refused by the size limit, not built.
        let blowup = Selector {
            kind: Some("(((a{100}){100}){100})".into()),
            ..Selector::default()
        };
        let error = IgnoreRules::compile(&[rule(&["/spec"], Some(blowup))]).unwrap_err();
        assert_eq!(error.field, "spec.ignore[0].target.kind");
    }

    #[test]
    fn bad_regexes_and_selectors_name_their_field() {
        let cases = [
            (
                Selector {
                    kind: Some("Deploy(ment".into()),
                    ..Selector::default()
                },
                "kind",
            ),
            (
                Selector {
                    group: Some("[".into()),
                    ..Selector::default()
                },
                "group",
            ),
            (
                Selector {
                    label_selector: Some("app in web".into()),
                    ..Selector::default()
                },
                "labelSelector",
            ),
            (
                Selector {
                    annotation_selector: Some("=x".into()),
                    ..Selector::default()
                },
                "annotationSelector",
            ),
            (
                Selector {
                    label_selector: Some("app=(".into()),
                    ..Selector::default()
                },
                "labelSelector",
            ),
        ];
        for (index, (selector, field)) in cases.into_iter().enumerate() {
            let rules = vec![
                rule(&["/spec/replicas"], None),
                rule(&["/spec/replicas"], Some(selector)),
            ];
            let error = IgnoreRules::compile(&rules).unwrap_err();
            assert_eq!(
                error.field,
                format!("spec.ignore[1].target.{field}"),
                "case {index}: {error}"
            );
        }
    }

    #[test]
    fn targets_match_anchored_and_by_selectors() {
        let object = deployment();
        let selects = |selector: Selector| {
            let rules = IgnoreRules::compile(&[rule(&["/spec/replicas"], Some(selector))]).unwrap();
            !rules.paths_for(&object).is_empty()
        };
        assert!(selects(Selector::default()));
        assert!(selects(Selector {
            kind: Some("Deployment".into()),
            ..Selector::default()
        }));
        assert!(selects(Selector {
            kind: Some("Deploy.*|StatefulSet".into()),
            ..Selector::default()
        }));
        // Anchored: a substring is not a match, and `|` does not escape the anchors.
        assert!(!selects(Selector {
            kind: Some("Deploy".into()),
            ..Selector::default()
        }));
        assert!(!selects(Selector {
            kind: Some("ploy".into()),
            ..Selector::default()
        }));
        assert!(!selects(Selector {
            kind: Some("X|Deploy".into()),
            ..Selector::default()
        }));
        assert!(selects(Selector {
            group: Some("apps".into()),
            version: Some("v1".into()),
            name: Some("w.b".into()),
            namespace: Some("default".into()),
            ..Selector::default()
        }));
        assert!(!selects(Selector {
            group: Some("".into()),
            version: Some("v2".into()),
            ..Selector::default()
        }));
        assert!(selects(Selector {
            label_selector: Some("app=web, tier in (front,back)".into()),
            ..Selector::default()
        }));
        assert!(!selects(Selector {
            label_selector: Some("app!=web".into()),
            ..Selector::default()
        }));
        assert!(selects(Selector {
            label_selector: Some("!missing,tier notin (db)".into()),
            ..Selector::default()
        }));
        assert!(selects(Selector {
            annotation_selector: Some("example.com/owner=git".into()),
            ..Selector::default()
        }));
        assert!(!selects(Selector {
            annotation_selector: Some("example.com/owner".into()),
            label_selector: Some("missing".into()),
            ..Selector::default()
        }));
        // The core group is empty.
        let config_map =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let rules = IgnoreRules::compile(&[rule(
            &["/data"],
            Some(Selector {
                group: Some("^$|apps".into()),
                ..Selector::default()
            }),
        )])
        .unwrap();
        assert_eq!(rules.paths_for(&config_map).len(), 1);
        // Several rules: their paths, once each.
        let rules = IgnoreRules::compile(&[
            rule(&["/spec/replicas", "/data"], None),
            rule(
                &["/spec/replicas"],
                Some(Selector {
                    kind: Some("Deployment".into()),
                    ..Selector::default()
                }),
            ),
        ])
        .unwrap();
        let paths: Vec<&str> = rules
            .paths_for(&object)
            .iter()
            .map(|p| p.as_str())
            .collect();
        assert_eq!(paths, ["/spec/replicas", "/data"]);
    }

    fn managed(manager: &str, operation: &str, fields: Value) -> Value {
        json!({"manager": manager, "operation": operation, "apiVersion": "apps/v1", "fieldsV1": fields, "fieldsType": "FieldsV1"})
    }

    #[test]
    fn ignored_fields_do_not_count_as_drift() {
        let replicas = JsonPointer::parse("/spec/replicas").unwrap();
        let mut live = deployment();
        live["spec"]["replicas"] = json!(3);
        live["metadata"]["generation"] = json!(2);
        live["metadata"]["managedFields"] = json!([managed(
            "hpa",
            "Apply",
            json!({"f:spec": {"f:replicas": {}}})
        )]);
        let mut dry_run = deployment();
        dry_run["metadata"]["generation"] = json!(3);
        assert!(crate::has_drifted(&live, &dry_run));
        assert!(!has_drifted_ignoring(&live, &dry_run, &[&replicas]));
        // Another field still counts: spec, labels, annotations.
        let mut other = dry_run.clone();
        other["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert!(has_drifted_ignoring(&live, &other, &[&replicas]));
        let mut labelled = dry_run.clone();
        labelled["metadata"]["labels"]["tier"] = json!("back");
        assert!(has_drifted_ignoring(&live, &labelled, &[&replicas]));
        let owner = JsonPointer::parse("/metadata/annotations/example.com~1owner").unwrap();
        let mut annotated = live.clone();
        annotated["spec"]["replicas"] = json!(1);
        annotated["metadata"]["annotations"]["example.com/owner"] = json!("cert-manager");
        assert!(!has_drifted_ignoring(&annotated, &dry_run, &[&owner]));
        assert!(has_drifted_ignoring(&annotated, &dry_run, &[&replicas]));
    }

    #[test]
    fn payload_strips_fields_other_appliers_own_and_keeps_the_rest_live() {
        let replicas = JsonPointer::parse("/spec/replicas").unwrap();
        let owner = JsonPointer::parse("/metadata/annotations/example.com~1owner").unwrap();
        let image = JsonPointer::parse("/spec/template/spec/containers/1/image").unwrap();
        let manifest = deployment();
        let mut live = deployment();
        live["spec"]["replicas"] = json!(3);
        live["metadata"]["annotations"]["example.com/owner"] = json!("cert-manager");
        live["spec"]["template"]["spec"]["containers"][1]["image"] = json!("busybox:2");
        live["metadata"]["managedFields"] = json!([
            managed("driftless", "Apply", json!({"f:spec": {"f:replicas": {}}})),
            managed(
                "hpa",
                "Apply",
                json!({"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"side\"}": {"f:image": {}}}}}}})
            ),
            managed(
                "kubectl-edit",
                "Update",
                json!({"f:metadata": {"f:annotations": {"f:example.com/owner": {}}}})
            ),
        ]);
        let dry_run = manifest.clone();
        assert!(owned_by_other_applier(&live, &replicas));
        assert!(
            owned_by_other_applier(&live, &image),
            "found by its merge key"
        );
        assert!(
            !owned_by_other_applier(&live, &owner),
            "an Update manager does not count"
        );
        let payload = payload(&manifest, &live, &dry_run, &[&replicas, &owner, &image]);
        assert!(payload["spec"].get("replicas").is_none(), "released to hpa");
        assert_eq!(
            payload["metadata"]["annotations"]["example.com/owner"], "cert-manager",
            "kept live"
        );
        let side = &payload["spec"]["template"]["spec"]["containers"][1];
        assert_eq!(side["name"], "side");
        assert!(
            side.get("image").is_none(),
            "the item field hpa owns is released: {side}"
        );
        // Equal values are left as the manifest has them.
        let same = payload_of_equal(&manifest, &replicas);
        assert_eq!(same["spec"]["replicas"], 1);
    }

    fn payload_of_equal(manifest: &Value, path: &JsonPointer) -> Value {
        payload(manifest, manifest, manifest, &[path])
    }

    #[test]
    fn previews_show_ignored_fields_as_live() {
        let replicas = JsonPointer::parse("/spec/replicas").unwrap();
        let gone = JsonPointer::parse("/spec/paused").unwrap();
        let mut live = deployment();
        live["spec"]["replicas"] = json!(4);
        let mut dry_run = deployment();
        dry_run["spec"]["paused"] = json!(true);
        let shown = with_live_values(&dry_run, &live, &[&replicas, &gone]);
        assert_eq!(shown["spec"]["replicas"], 4);
        assert!(shown["spec"].get("paused").is_none());
    }
}
