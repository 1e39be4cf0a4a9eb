//! Notification kinds (`notification.driftless.dev/v1`): where to send alerts (`Provider`),
//! which events to send (`Alert`) and webhooks that trigger reconciles (`Receiver`).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::meta::{LocalObjectReference, ReconcileRequestStatus};

/// API group of the notification kinds.
pub const GROUP: &str = "notification.driftless.dev";

/// Kinds of providers.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderType {
    /// A Slack-compatible incoming webhook.
    Slack,
    /// A JSON POST of the event.
    Generic,
    /// A JSON POST of the event with an `X-Signature: sha256=<hex>` HMAC header keyed by the
    /// Secret's `token`.
    GenericHmac,
    /// An email sent over SMTP.
    Smtp,
}

/// How an SMTP provider secures its connection.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum StartTlsPolicy {
    /// Upgrade with STARTTLS, and fail when the server does not offer it (the default).
    #[default]
    Required,
    /// Upgrade with STARTTLS when the server offers it.
    Opportunistic,
    /// Plain SMTP, e.g. to a relay on loopback. Credentials are then sent in clear.
    Disabled,
}

/// Where and how to deliver alerts.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "notification.driftless.dev",
    version = "v1",
    kind = "Provider",
    plural = "providers",
    namespaced,
    shortname = "prov",
    status = "ProviderStatus",
    category = "driftless",
    doc = "Provider is a destination of alerts: a Slack or generic webhook, or an SMTP server.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSpec {
    /// `slack`, `generic`, `generic-hmac` or `smtp`.
    #[serde(rename = "type")]
    pub type_: ProviderType,
    /// The webhook URL, or for `smtp` the server as `smtp://host:port` (port 587 when left
    /// out). Overridden by the Secret's `address` key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub address: Option<String>,
    /// Slack channel to post to (the webhook's default when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Slack user name to post as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A Secret in this namespace with `address`, and `token` for `generic-hmac`, or
    /// `username`/`password` for `smtp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Timeout of one delivery attempt, e.g. `15s` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"))]
    pub timeout: Option<String>,
    /// `smtp`: the sender address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `smtp`: the recipient addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// `smtp`: `Required` (default), `Opportunistic` or `Disabled` STARTTLS.
    #[serde(default, rename = "startTLS", skip_serializing_if = "Option::is_none")]
    pub start_tls: Option<StartTlsPolicy>,
    /// Stop delivering; events for this provider are dropped. Defaults to false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// Observed state of a Provider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStatus {
    /// The last generation of the spec the controller acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// Last handled reconcile request.
    #[serde(flatten)]
    pub reconcile_request: ReconcileRequestStatus,
}

/// Event severities an Alert subscribes to.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventSeverity {
    /// Every event, info and error (the default).
    #[default]
    Info,
    /// Only errors.
    Error,
}

/// Objects whose events an Alert sends.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSource {
    /// API version of the objects, e.g. `kustomize.driftless.dev/v1`; any when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the objects, e.g. `Kustomization`.
    pub kind: String,
    /// Name of the object; `*` matches any name (and may be part of a name, e.g. `web-*`).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the objects; must be the Alert's own (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels the object must carry, e.g. with name `*`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

/// Sends the events of some objects to a Provider.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "notification.driftless.dev",
    version = "v1",
    kind = "Alert",
    plural = "alerts",
    namespaced,
    shortname = "alrt",
    status = "AlertStatus",
    category = "driftless",
    doc = "Alert sends the events of the objects it selects, filtered by severity and message, to a Provider.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AlertSpec {
    /// The Provider (in this namespace) to send to.
    pub provider_ref: LocalObjectReference,
    /// `info` (every event, the default) or `error` (errors only).
    #[serde(default)]
    pub event_severity: EventSeverity,
    /// The objects whose events to send.
    #[schemars(length(min = 1))]
    pub event_sources: Vec<EventSource>,
    /// Regular expressions; when given, only events whose message matches one are sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inclusion_list: Vec<String>,
    /// Regular expressions; events whose message matches one are not sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusion_list: Vec<String>,
    /// A short text added to every notification, e.g. the cluster's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub summary: Option<String>,
    /// Stop sending. Defaults to false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// Observed state of an Alert.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    /// The last generation of the spec the controller acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// Last handled reconcile request.
    #[serde(flatten)]
    pub reconcile_request: ReconcileRequestStatus,
}

/// Kinds of webhook receivers.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReceiverType {
    /// Any POST to the secret path.
    Generic,
    /// GitHub webhooks, verified by `X-Hub-Signature-256`.
    Github,
    /// GitLab webhooks, verified by `X-Gitlab-Token`.
    Gitlab,
}

/// An object a Receiver requests a reconcile of.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverResource {
    /// API version of the object, e.g. `source.driftless.dev/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind: `GitRepository`, `Kustomization`, `ImageRepository`, `ImagePolicy` or
    /// `ImageUpdateAutomation`.
    pub kind: String,
    /// Name of the object, or `*` with `matchLabels` for every matching object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace; must be the Receiver's own (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels the objects must carry, with name `*`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

/// A webhook that requests reconciles of some objects.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "notification.driftless.dev",
    version = "v1",
    kind = "Receiver",
    plural = "receivers",
    namespaced,
    shortname = "recv",
    status = "ReceiverStatus",
    category = "driftless",
    doc = "Receiver serves a webhook; a verified call requests an immediate reconcile of the listed objects.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverSpec {
    /// `generic`, `github` or `gitlab`.
    #[serde(rename = "type")]
    pub type_: ReceiverType,
    /// Event types to act on (GitHub's `X-GitHub-Event`, GitLab's `X-Gitlab-Event`); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// The objects to reconcile.
    #[schemars(length(min = 1))]
    pub resources: Vec<ReceiverResource>,
    /// A Secret in this namespace whose `token` key signs or authenticates calls.
    pub secret_ref: LocalObjectReference,
    /// Stop acting on calls (they are refused). Defaults to false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// Observed state of a Receiver.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverStatus {
    /// The last generation of the spec the controller acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// The path the webhook is served at: `/hook/<sha256(token+name+namespace)>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,
    /// Last handled reconcile request.
    #[serde(flatten)]
    pub reconcile_request: ReconcileRequestStatus,
}
