//! Selecting objects: anchored-regex target selectors and Kubernetes label selectors.

use regex::Regex;

use crate::error::{Failure, Outcome};
use crate::kustomization::Selector;
use crate::label_selector::LabelSelector;
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

/// Parses a label or annotation selector, with kustomize's message on failure.
pub(crate) fn parse_labels(text: &str) -> Outcome<LabelSelector> {
    LabelSelector::parse(text).map_err(|reason| {
        Failure::new(format!(
            "unable to parse requirement: invalid label selector '{text}': {reason}"
        ))
    })
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
                Some(parse_labels(&s.label_selector)?)
            },
            annotations: if s.annotation_selector.is_empty() {
                None
            } else {
                Some(parse_labels(&s.annotation_selector)?)
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

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
