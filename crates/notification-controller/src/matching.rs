//! Which Alerts an event goes to: severity, event sources (kind, name with `*`, labels) and
//! the inclusion/exclusion regular expressions on the message. Pure.

use std::collections::BTreeMap;

use driftless_api::Alert;
use driftless_api::notification::{EventSeverity, EventSource};
use driftless_runtime::events::{PublishedEvent, Severity};
use kube::ResourceExt;
use regex::Regex;

use crate::Error;

/// An Alert with its regular expressions compiled.
#[derive(Debug, Clone)]
pub struct CompiledAlert {
    /// Namespace of the Alert (and of the objects it watches).
    pub namespace: String,
    /// Name of the Alert.
    pub name: String,
    /// Name of the Provider (same namespace).
    pub provider: String,
    /// The Alert's `summary`.
    pub summary: Option<String>,
    severity: EventSeverity,
    sources: Vec<EventSource>,
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

fn compile_list(alert: &str, field: &str, patterns: &[String]) -> Result<Vec<Regex>, Error> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Regex::new(p).map_err(|e| {
                Error::InvalidSpec(format!("Alert {alert}: spec.{field}[{i}] {p:?}: {e}"))
            })
        })
        .collect()
}

impl CompiledAlert {
    /// Compiles `alert`; fails naming the field when a regex is invalid or an event source
    /// points at another namespace.
    pub fn compile(alert: &Alert) -> Result<Self, Error> {
        let namespace = alert.namespace().unwrap_or_default();
        let name = alert.name_any();
        let id = format!("{namespace}/{name}");
        for (i, source) in alert.spec.event_sources.iter().enumerate() {
            if let Some(ns) = &source.namespace
                && ns != &namespace
            {
                return Err(Error::InvalidSpec(format!(
                    "Alert {id}: spec.eventSources[{i}].namespace {ns:?}: alerts only see events of their own namespace"
                )));
            }
        }
        Ok(CompiledAlert {
            include: compile_list(&id, "inclusionList", &alert.spec.inclusion_list)?,
            exclude: compile_list(&id, "exclusionList", &alert.spec.exclusion_list)?,
            provider: alert.spec.provider_ref.name.clone(),
            summary: alert.spec.summary.clone(),
            severity: alert.spec.event_severity,
            sources: alert.spec.event_sources.clone(),
            namespace,
            name,
        })
    }

    fn candidate_sources<'a>(
        &'a self,
        event: &'a PublishedEvent,
    ) -> impl Iterator<Item = &'a EventSource> + 'a {
        let r = &event.regarding;
        self.sources.iter().filter(move |s| {
            r.namespace.as_deref() == Some(self.namespace.as_str())
                && r.kind.as_deref() == Some(s.kind.as_str())
                && s.api_version
                    .as_ref()
                    .is_none_or(|v| r.api_version.as_deref() == Some(v.as_str()))
                && name_matches(&s.name, r.name.as_deref().unwrap_or_default())
        })
    }

    /// Whether deciding needs the labels of the event's object (a source that otherwise
    /// matches has `matchLabels`).
    pub fn needs_labels(&self, event: &PublishedEvent) -> bool {
        self.candidate_sources(event)
            .any(|s| !s.match_labels.is_empty())
    }

    /// Whether `event` goes to this Alert's provider. `labels` are the object's labels (only
    /// consulted when a source has `matchLabels`; `None` when unknown, which fails them).
    pub fn matches(
        &self,
        event: &PublishedEvent,
        labels: Option<&BTreeMap<String, String>>,
    ) -> bool {
        if self.severity == EventSeverity::Error && event.severity != Severity::Error {
            return false;
        }
        let source_ok = self.candidate_sources(event).any(|s| {
            s.match_labels
                .iter()
                .all(|(k, v)| labels.is_some_and(|l| l.get(k) == Some(v)))
        });
        if !source_ok {
            return false;
        }
        if !self.include.is_empty() && !self.include.iter().any(|r| r.is_match(&event.message)) {
            return false;
        }
        !self.exclude.iter().any(|r| r.is_match(&event.message))
    }
}

/// Whether `name` matches `pattern`, where each `*` stands for any run of characters.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::meta::LocalObjectReference;
    use driftless_api::notification::AlertSpec;
    use k8s_openapi::api::core::v1::ObjectReference;

    fn alert(spec: AlertSpec) -> Alert {
        let mut a = Alert::new("a", spec);
        a.metadata.namespace = Some("apps".into());
        a
    }

    fn spec(sources: Vec<EventSource>) -> AlertSpec {
        AlertSpec {
            provider_ref: LocalObjectReference { name: "p".into() },
            event_severity: EventSeverity::Info,
            event_sources: sources,
            inclusion_list: vec![],
            exclusion_list: vec![],
            summary: None,
            suspend: false,
        }
    }

    fn source(kind: &str, name: &str) -> EventSource {
        EventSource {
            kind: kind.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    fn event(
        kind: &str,
        ns: &str,
        name: &str,
        severity: Severity,
        message: &str,
    ) -> PublishedEvent {
        PublishedEvent {
            regarding: ObjectReference {
                api_version: Some("kustomize.driftless.dev/v1".into()),
                kind: Some(kind.into()),
                namespace: Some(ns.into()),
                name: Some(name.into()),
                ..Default::default()
            },
            severity,
            reason: "ReconciliationSucceeded".into(),
            message: message.into(),
            revision: None,
        }
    }

    #[test]
    fn severity_error_only_takes_errors() {
        let mut s = spec(vec![source("Kustomization", "web")]);
        let info = event("Kustomization", "apps", "web", Severity::Info, "applied");
        let error = event("Kustomization", "apps", "web", Severity::Error, "failed");
        let a = CompiledAlert::compile(&alert(s.clone())).unwrap();
        assert!(a.matches(&info, None));
        assert!(a.matches(&error, None));
        s.event_severity = EventSeverity::Error;
        let a = CompiledAlert::compile(&alert(s)).unwrap();
        assert!(!a.matches(&info, None));
        assert!(a.matches(&error, None));
    }

    #[test]
    fn sources_match_kind_name_star_and_namespace() {
        let a = CompiledAlert::compile(&alert(spec(vec![
            source("Kustomization", "*"),
            source("GitRepository", "web-*"),
        ])))
        .unwrap();
        let ok = |kind, ns, name| a.matches(&event(kind, ns, name, Severity::Info, "m"), None);
        assert!(ok("Kustomization", "apps", "anything"));
        assert!(ok("GitRepository", "apps", "web-frontend"));
        assert!(!ok("GitRepository", "apps", "api"));
        assert!(!ok("ImagePolicy", "apps", "web-frontend"));
        assert!(
            !ok("Kustomization", "other", "anything"),
            "other namespaces never match"
        );
    }

    #[test]
    fn match_labels_need_the_object_labels() {
        let mut s = source("Kustomization", "*");
        s.match_labels = [("team".to_owned(), "a".to_owned())].into();
        let a = CompiledAlert::compile(&alert(spec(vec![s]))).unwrap();
        let ev = event("Kustomization", "apps", "web", Severity::Info, "m");
        assert!(a.needs_labels(&ev));
        assert!(!a.matches(&ev, None));
        let team_a: BTreeMap<_, _> = [("team".to_owned(), "a".to_owned())].into();
        let team_b: BTreeMap<_, _> = [("team".to_owned(), "b".to_owned())].into();
        assert!(a.matches(&ev, Some(&team_a)));
        assert!(!a.matches(&ev, Some(&team_b)));
        let plain =
            CompiledAlert::compile(&alert(spec(vec![source("Kustomization", "*")]))).unwrap();
        assert!(!plain.needs_labels(&ev));
    }

    #[test]
    fn inclusion_and_exclusion_lists_filter_messages() {
        let mut s = spec(vec![source("Kustomization", "*")]);
        s.inclusion_list = vec!["^applied".into(), "failed".into()];
        s.exclusion_list = vec!["dry-run".into()];
        let a = CompiledAlert::compile(&alert(s)).unwrap();
        let m = |msg| {
            a.matches(
                &event("Kustomization", "apps", "w", Severity::Info, msg),
                None,
            )
        };
        assert!(m("applied revision main@sha1:1"));
        assert!(m("health check failed"));
        assert!(!m("no change"), "not in the inclusion list");
        assert!(!m("applied dry-run"), "excluded");
    }

    #[test]
    fn invalid_regex_and_foreign_namespace_name_the_field() {
        let mut s = spec(vec![source("Kustomization", "*")]);
        s.exclusion_list = vec!["(".into()];
        let err = CompiledAlert::compile(&alert(s)).unwrap_err().to_string();
        assert!(err.contains("Alert apps/a: spec.exclusionList[0]"), "{err}");
        let mut foreign = source("Kustomization", "*");
        foreign.namespace = Some("other".into());
        let err = CompiledAlert::compile(&alert(spec(vec![foreign])))
            .unwrap_err()
            .to_string();
        assert!(err.contains("spec.eventSources[0].namespace"), "{err}");
    }

    #[test]
    fn glob_names() {
        assert!(name_matches("*", ""));
        assert!(name_matches("a*c", "abbbc"));
        assert!(name_matches("a*b*c", "a-b-c"));
        assert!(!name_matches("a*b*c", "a-c"));
        assert!(
            !name_matches("ab*ba", "aba"),
            "prefix and suffix may not overlap"
        );
        assert!(name_matches("exact", "exact"));
        assert!(!name_matches("exact", "exactly"));
    }
}
