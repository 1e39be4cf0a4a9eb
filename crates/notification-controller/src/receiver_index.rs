//! The Receivers ready to serve, by webhook path, and how a call is verified. Verification
//! is pure.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::http::HeaderMap;
use driftless_api::notification::{ReceiverResource, ReceiverType};

use crate::signature::{constant_time_eq, verify_sha256};

/// A Receiver as the webhook handler needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceiverEntry {
    /// Namespace of the Receiver and of its resources.
    pub namespace: String,
    /// Name of the Receiver.
    pub name: String,
    /// How calls are verified.
    pub type_: ReceiverType,
    /// Event types acted on; all when empty.
    pub events: Vec<String>,
    /// The Secret's `token`.
    pub token: String,
    /// What to reconcile.
    pub resources: Vec<ReceiverResource>,
}

impl std::fmt::Debug for ReceiverEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverEntry")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("type", &self.type_)
            .finish_non_exhaustive()
    }
}

/// The outcome of checking a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Authentic, and an event the Receiver acts on.
    Accept,
    /// Authentic, but an event type the Receiver ignores (e.g. GitHub's `ping`).
    Ignore(String),
    /// Not authentic: 401.
    Reject(&'static str),
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn event_filter(entry: &ReceiverEntry, event: Option<&str>) -> Verdict {
    match event {
        Some(e)
            if !entry.events.is_empty()
                && !entry.events.iter().any(|x| x.eq_ignore_ascii_case(e)) =>
        {
            Verdict::Ignore(e.to_owned())
        }
        _ => Verdict::Accept,
    }
}

impl ReceiverEntry {
    /// Checks a call to this Receiver's path.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Verdict {
        match self.type_ {
            // The token is part of the path's digest: knowing the path is the credential.
            ReceiverType::Generic => Verdict::Accept,
            ReceiverType::Github => {
                let Some(signature) = header(headers, "x-hub-signature-256") else {
                    return Verdict::Reject("missing X-Hub-Signature-256");
                };
                if !verify_sha256(self.token.as_bytes(), body, signature) {
                    return Verdict::Reject("X-Hub-Signature-256 does not match");
                }
                match header(headers, "x-github-event") {
                    Some("ping") => Verdict::Ignore("ping".to_owned()),
                    event => event_filter(self, event),
                }
            }
            ReceiverType::Gitlab => {
                let Some(token) = header(headers, "x-gitlab-token") else {
                    return Verdict::Reject("missing X-Gitlab-Token");
                };
                if !constant_time_eq(token.as_bytes(), self.token.as_bytes()) {
                    return Verdict::Reject("X-Gitlab-Token does not match");
                }
                event_filter(self, header(headers, "x-gitlab-event"))
            }
        }
    }
}

#[derive(Default)]
struct Maps {
    by_path: HashMap<String, Arc<ReceiverEntry>>,
    path_of: HashMap<String, String>,
}

/// The ready Receivers, by webhook path.
#[derive(Default)]
pub struct ReceiverIndex {
    maps: RwLock<Maps>,
}

impl ReceiverIndex {
    /// Serves `entry` at `path`, replacing the Receiver's previous path.
    pub fn insert(&self, path: String, entry: ReceiverEntry) {
        let id = format!("{}/{}", entry.namespace, entry.name);
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = maps.path_of.insert(id, path.clone()) {
            maps.by_path.remove(&old);
        }
        maps.by_path.insert(path, Arc::new(entry));
    }

    /// Stops serving Receiver `<namespace>/<name>`.
    pub fn remove(&self, namespace: &str, name: &str) {
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = maps.path_of.remove(&format!("{namespace}/{name}")) {
            maps.by_path.remove(&old);
        }
    }

    /// The Receiver served at `path`.
    pub fn get(&self, path: &str) -> Option<Arc<ReceiverEntry>> {
        self.maps
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_path
            .get(path)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::sign_sha256;

    fn entry(type_: ReceiverType, events: &[&str]) -> ReceiverEntry {
        ReceiverEntry {
            namespace: "apps".into(),
            name: "r".into(),
            type_,
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            token: "s3cret".into(),
            resources: vec![],
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn github_needs_a_valid_signature_and_filters_events() {
        let e = entry(ReceiverType::Github, &["push"]);
        let body = br#"{"ref":"refs/heads/main"}"#;
        let sig = format!("sha256={}", sign_sha256(b"s3cret", body));
        assert_eq!(
            e.verify(
                &headers(&[("x-hub-signature-256", &sig), ("x-github-event", "push")]),
                body
            ),
            Verdict::Accept
        );
        assert_eq!(
            e.verify(
                &headers(&[("x-hub-signature-256", &sig), ("x-github-event", "issues")]),
                body
            ),
            Verdict::Ignore("issues".into())
        );
        assert_eq!(
            e.verify(
                &headers(&[("x-hub-signature-256", &sig), ("x-github-event", "ping")]),
                body
            ),
            Verdict::Ignore("ping".into())
        );
        let wrong = format!("sha256={}", sign_sha256(b"guess", body));
        assert!(matches!(
            e.verify(
                &headers(&[("x-hub-signature-256", &wrong), ("x-github-event", "push")]),
                body
            ),
            Verdict::Reject(_)
        ));
        assert!(matches!(
            e.verify(&headers(&[("x-github-event", "push")]), body),
            Verdict::Reject(_)
        ));
    }

    #[test]
    fn gitlab_compares_the_token() {
        let e = entry(ReceiverType::Gitlab, &[]);
        assert_eq!(
            e.verify(&headers(&[("x-gitlab-token", "s3cret")]), b""),
            Verdict::Accept
        );
        assert!(matches!(
            e.verify(&headers(&[("x-gitlab-token", "nope")]), b""),
            Verdict::Reject(_)
        ));
        assert!(matches!(e.verify(&headers(&[]), b""), Verdict::Reject(_)));
        assert_eq!(
            entry(ReceiverType::Generic, &[]).verify(&headers(&[]), b"x"),
            Verdict::Accept
        );
    }

    #[test]
    fn index_follows_path_changes() {
        let idx = ReceiverIndex::default();
        idx.insert("/hook/a".into(), entry(ReceiverType::Generic, &[]));
        assert!(idx.get("/hook/a").is_some());
        idx.insert("/hook/b".into(), entry(ReceiverType::Generic, &[]));
        assert!(idx.get("/hook/a").is_none(), "the old path stops serving");
        assert!(idx.get("/hook/b").is_some());
        idx.remove("apps", "r");
        assert!(idx.get("/hook/b").is_none());
    }
}
