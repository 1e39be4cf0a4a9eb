//! Selecting objects: anchored-regex target selectors and Kubernetes label selectors.

use std::collections::BTreeMap;

use regex::Regex;

use crate::error::{Failure, Outcome};
use crate::kustomization::Selector;
use crate::resource::Resource;

/// A compiled target selector.
pub(crate) struct CompiledSelector {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Option<LabelSelector>,
    annotations: Option<LabelSelector>,
}

fn anchored(pattern: &str, field: &str) -> Outcome<Option<Regex>> {
    if pattern.is_empty() {
        return Ok(None);
    }
    crate::regex_cache::compile(&format!("^(?:{pattern})$"))
        .map(Some)
        .map_err(|e| Failure::new(format!("target.{field}: invalid regex '{pattern}': {e}")))
}

impl CompiledSelector {
    /// Compiles the regexes and label selectors.
    pub fn new(s: &Selector) -> Outcome<CompiledSelector> {
        Ok(CompiledSelector {
            group: anchored(&s.group, "group")?,
            version: anchored(&s.version, "version")?,
            kind: anchored(&s.kind, "kind")?,
            name: anchored(&s.name, "name")?,
            namespace: anchored(&s.namespace, "namespace")?,
            labels: if s.label_selector.is_empty() {
                None
            } else {
                Some(LabelSelector::parse(&s.label_selector)?)
            },
            annotations: if s.annotation_selector.is_empty() {
                None
            } else {
                Some(LabelSelector::parse(&s.annotation_selector)?)
            },
        })
    }

    /// kustomize's resWrangler.Select: namespace and name against the original
    /// or current identity, kind against the current one, then label/annotation selectors.
    pub fn matches(&self, res: &Resource) -> bool {
        let cur = res.cur_id();
        let org = res.org_id();
        let m = |re: &Option<Regex>, s: &str| re.as_ref().is_none_or(|r| r.is_match(s));
        if !(m(&self.namespace, org.effective_namespace())
            || m(&self.namespace, cur.effective_namespace()))
        {
            return false;
        }
        if !(m(&self.name, &org.name) || m(&self.name, &cur.name)) {
            return false;
        }
        let gvk = &cur.gvk;
        if !(m(&self.group, &gvk.group)
            && m(&self.version, &gvk.version)
            && m(&self.kind, &gvk.kind))
        {
            return false;
        }
        if let Some(ls) = &self.labels
            && !ls.matches(&res.string_map("labels").into_iter().collect())
        {
            return false;
        }
        if let Some(ls) = &self.annotations
            && !ls.matches(&res.string_map("annotations").into_iter().collect())
        {
            return false;
        }
        true
    }
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed Kubernetes label selector (`a=b,c!=d,e in (x,y),!f,g`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    /// Parses the selector syntax.
    pub fn parse(text: &str) -> Outcome<LabelSelector> {
        let bad = || {
            Failure::new(format!(
                "unable to parse requirement: invalid label selector '{text}'"
            ))
        };
        let mut reqs = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            if let Some(key) = part.strip_prefix('!') {
                reqs.push(Requirement::NotExists(
                    check_key(key.trim()).ok_or_else(bad)?,
                ));
            } else if let Some((k, v)) = part.split_once("!=") {
                reqs.push(Requirement::NotEquals(
                    check_key(k.trim()).ok_or_else(bad)?,
                    v.trim().to_string(),
                ));
            } else if let Some((k, v)) = part.split_once("==") {
                reqs.push(Requirement::Equals(
                    check_key(k.trim()).ok_or_else(bad)?,
                    v.trim().to_string(),
                ));
            } else if let Some((k, v)) = part.split_once('=') {
                reqs.push(Requirement::Equals(
                    check_key(k.trim()).ok_or_else(bad)?,
                    v.trim().to_string(),
                ));
            } else if let Some((k, set)) = split_set(part, " notin ") {
                reqs.push(Requirement::NotIn(
                    check_key(k).ok_or_else(bad)?,
                    set.ok_or_else(bad)?,
                ));
            } else if let Some((k, set)) = split_set(part, " in ") {
                reqs.push(Requirement::In(
                    check_key(k).ok_or_else(bad)?,
                    set.ok_or_else(bad)?,
                ));
            } else {
                reqs.push(Requirement::Exists(check_key(part).ok_or_else(bad)?));
            }
        }
        Ok(LabelSelector(reqs))
    }

    /// True when every requirement holds for `labels`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, set) => labels.get(k).is_some_and(|v| set.contains(v)),
            Requirement::NotIn(k, set) => labels.get(k).is_none_or(|v| !set.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        })
    }
}

fn check_key(key: &str) -> Option<String> {
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    ok.then(|| key.to_string())
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in text.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

type SetSplit<'a> = (&'a str, Option<Vec<String>>);

fn split_set<'a>(part: &'a str, op: &str) -> Option<SetSplit<'a>> {
    let (k, rest) = part.split_once(op)?;
    let rest = rest.trim();
    let inner = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')'));
    let set = inner.map(|i| i.split(',').map(|v| v.trim().to_string()).collect());
    Some((k.trim(), set))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selector_forms() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        let yes = |s: &str| {
            LabelSelector::parse(s)
                .map(|ls| ls.matches(&l))
                .unwrap_or(false)
        };
        assert!(yes("app=web"));
        assert!(yes("app==web,tier"));
        assert!(!yes("app!=web"));
        assert!(yes("tier in (front, back)"));
        assert!(!yes("tier notin (front)"));
        assert!(yes("!missing"));
        assert!(!yes("missing"));
    }
}
