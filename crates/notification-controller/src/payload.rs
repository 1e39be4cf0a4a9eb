//! What is sent: Flux's event JSON (generic providers), Slack incoming-webhook JSON and
//! the email's subject and body. Pure.

use driftless_runtime::events::{PublishedEvent, Severity};
use serde_json::{Value, json};

/// Name reported as `reportingController`.
pub const REPORTING_CONTROLLER: &str = "driftless";

/// One event on its way to one provider.
#[derive(Clone, Debug)]
pub struct Notification {
    /// The event as published.
    pub event: PublishedEvent,
    /// The Alert's summary, if any.
    pub summary: Option<String>,
    /// When the event was received, RFC 3339.
    pub timestamp: String,
}

impl Notification {
    fn severity(&self) -> &'static str {
        match self.event.severity {
            Severity::Info => "info",
            Severity::Error => "error",
        }
    }

    fn kind(&self) -> &str {
        self.event.regarding.kind.as_deref().unwrap_or_default()
    }

    fn namespace(&self) -> &str {
        self.event
            .regarding
            .namespace
            .as_deref()
            .unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.event.regarding.name.as_deref().unwrap_or_default()
    }

    /// `<Kind>/<namespace>/<name>` of the object.
    pub fn object(&self) -> String {
        format!("{}/{}/{}", self.kind(), self.namespace(), self.name())
    }
}

/// The body of `generic` and `generic-hmac` providers: Flux's event shape.
pub fn generic_body(n: &Notification) -> Value {
    let r = &n.event.regarding;
    let mut metadata = serde_json::Map::new();
    if let Some(rev) = &n.event.revision {
        metadata.insert("revision".into(), json!(rev));
    }
    if let Some(summary) = &n.summary {
        metadata.insert("summary".into(), json!(summary));
    }
    let mut involved = serde_json::Map::new();
    for (key, value) in [
        ("apiVersion", &r.api_version),
        ("kind", &r.kind),
        ("namespace", &r.namespace),
        ("name", &r.name),
        ("uid", &r.uid),
        ("resourceVersion", &r.resource_version),
    ] {
        if let Some(v) = value {
            involved.insert(key.into(), json!(v));
        }
    }
    json!({
        "involvedObject": involved,
        "severity": n.severity(),
        "timestamp": n.timestamp,
        "message": n.event.message,
        "reason": n.event.reason,
        "metadata": metadata,
        "reportingController": REPORTING_CONTROLLER,
    })
}

/// The body of `slack` providers: an incoming-webhook message with one attachment.
pub fn slack_body(n: &Notification, channel: Option<&str>, username: Option<&str>) -> Value {
    let mut fields = vec![json!({"title": "severity", "value": n.severity(), "short": true})];
    if let Some(rev) = &n.event.revision {
        fields.push(json!({"title": "revision", "value": rev, "short": false}));
    }
    let title = match &n.summary {
        Some(summary) => format!("{} ({summary})", n.object()),
        None => n.object(),
    };
    let mut body = json!({
        "text": format!("{}: {}", n.object(), n.event.reason),
        "attachments": [{
            "color": if n.event.severity == Severity::Error { "danger" } else { "good" },
            "author_name": title,
            "title": n.event.reason,
            "text": n.event.message,
            "mrkdwn_in": ["text"],
            "fields": fields,
        }],
    });
    if let Some(c) = channel {
        body["channel"] = json!(c);
    }
    if let Some(u) = username {
        body["username"] = json!(u);
    }
    body
}

/// The email subject: `[driftless] <severity> <Kind>/<ns>/<name>: <reason>`.
pub fn email_subject(n: &Notification) -> String {
    format!(
        "[driftless] {} {}: {}",
        n.severity(),
        n.object(),
        n.event.reason
    )
}

/// The plain-text email body.
pub fn email_body(n: &Notification) -> String {
    let mut body = String::new();
    if let Some(summary) = &n.summary {
        body.push_str(&format!("{summary}\n\n"));
    }
    body.push_str(&format!("{}\n\n", n.event.message));
    body.push_str(&format!("object: {}\n", n.object()));
    body.push_str(&format!("severity: {}\n", n.severity()));
    body.push_str(&format!("reason: {}\n", n.event.reason));
    if let Some(rev) = &n.event.revision {
        body.push_str(&format!("revision: {rev}\n"));
    }
    body.push_str(&format!("time: {}\n", n.timestamp));
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ObjectReference;

    fn notification(severity: Severity) -> Notification {
        Notification {
            event: PublishedEvent {
                regarding: ObjectReference {
                    api_version: Some("kustomize.driftless.dev/v1".into()),
                    kind: Some("Kustomization".into()),
                    namespace: Some("apps".into()),
                    name: Some("web".into()),
                    uid: Some("u-1".into()),
                    ..Default::default()
                },
                severity,
                reason: "ReconciliationSucceeded".into(),
                message: "Deployment/apps/web configured".into(),
                revision: Some("main@sha1:abc".into()),
            },
            summary: Some("prod cluster".into()),
            timestamp: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn generic_body_has_fluxs_event_shape() {
        let b = generic_body(&notification(Severity::Info));
        assert_eq!(b["involvedObject"]["kind"], "Kustomization");
        assert_eq!(b["involvedObject"]["namespace"], "apps");
        assert_eq!(b["involvedObject"]["name"], "web");
        assert_eq!(b["involvedObject"]["uid"], "u-1");
        assert_eq!(b["severity"], "info");
        assert_eq!(b["timestamp"], "2026-01-01T00:00:00Z");
        assert_eq!(b["message"], "Deployment/apps/web configured");
        assert_eq!(b["reason"], "ReconciliationSucceeded");
        assert_eq!(b["metadata"]["revision"], "main@sha1:abc");
        assert_eq!(b["metadata"]["summary"], "prod cluster");
        assert_eq!(b["reportingController"], "driftless");
        assert!(b["involvedObject"].get("resourceVersion").is_none());
    }

    #[test]
    fn slack_body_names_object_severity_message_and_revision() {
        let b = slack_body(&notification(Severity::Error), Some("#ops"), None);
        assert_eq!(b["channel"], "#ops");
        assert!(b.get("username").is_none());
        let a = &b["attachments"][0];
        assert_eq!(a["color"], "danger");
        assert_eq!(a["author_name"], "Kustomization/apps/web (prod cluster)");
        assert_eq!(a["text"], "Deployment/apps/web configured");
        assert_eq!(a["fields"][0]["value"], "error");
        assert_eq!(a["fields"][1]["title"], "revision");
        assert_eq!(a["fields"][1]["value"], "main@sha1:abc");
        assert_eq!(b["text"], "Kustomization/apps/web: ReconciliationSucceeded");
        let info = slack_body(&notification(Severity::Info), None, Some("bot"));
        assert_eq!(info["attachments"][0]["color"], "good");
        assert_eq!(info["username"], "bot");
    }

    #[test]
    fn email_subject_and_body() {
        let n = notification(Severity::Error);
        assert_eq!(
            email_subject(&n),
            "[driftless] error Kustomization/apps/web: ReconciliationSucceeded"
        );
        let body = email_body(&n);
        assert!(
            body.starts_with("prod cluster\n\nDeployment/apps/web configured\n"),
            "{body}"
        );
        assert!(body.contains("revision: main@sha1:abc\n"), "{body}");
    }
}
