//! `driftless create alert|provider|receiver`.

use anyhow::{Context as _, bail};
use driftless_api::{Alert, Provider, Receiver};
use serde_json::{Value, json};

use super::{to_value, validate};

/// Arguments of `driftless create provider`.
#[derive(clap::Args, Debug)]
pub struct ProviderArgs {
    /// Name of the Provider.
    name: String,
    /// Where alerts go: `slack`, `generic`, `generic-hmac` or `smtp`.
    #[arg(long = "type", value_name = "TYPE", value_parser = ["slack", "generic", "generic-hmac", "smtp"])]
    provider_type: String,
    /// Address: the webhook URL, or `smtp://host:port` for e-mail.
    #[arg(long, value_name = "URL")]
    address: Option<String>,
    /// Channel (Slack).
    #[arg(long, value_name = "CHANNEL")]
    channel: Option<String>,
    /// User name shown as the sender (Slack) or SMTP login.
    #[arg(long, value_name = "NAME")]
    username: Option<String>,
    /// Secret with the address, token or credentials.
    #[arg(long, value_name = "NAME")]
    secret_ref: Option<String>,
}

/// Arguments of `driftless create alert`.
#[derive(clap::Args, Debug)]
pub struct AlertArgs {
    /// Name of the Alert.
    name: String,
    /// The Provider the alerts go to.
    #[arg(long, value_name = "NAME")]
    provider_ref: String,
    /// `info` (every event) or `error` (errors only).
    #[arg(long, value_name = "SEVERITY", default_value = "info", value_parser = ["info", "error"])]
    event_severity: String,
    /// Objects whose events are sent: `Kind/name`, `Kind/namespace/name` or `Kind/*`
    /// (repeatable, at least one).
    #[arg(long, value_name = "KIND/NAME", required = true)]
    event_source: Vec<String>,
    /// A one-line summary added to every alert.
    #[arg(long, value_name = "TEXT")]
    summary: Option<String>,
}

/// Arguments of `driftless create receiver`.
#[derive(clap::Args, Debug)]
pub struct ReceiverArgs {
    /// Name of the Receiver.
    name: String,
    /// Webhook kind: `generic`, `github` or `gitlab`.
    #[arg(long = "type", value_name = "TYPE", value_parser = ["generic", "github", "gitlab"])]
    receiver_type: String,
    /// Events accepted (e.g. `push`; repeatable; any when none).
    #[arg(long, value_name = "EVENT")]
    event: Vec<String>,
    /// Objects to reconcile on a webhook: `Kind/name` or `Kind/namespace/name` (repeatable,
    /// at least one).
    #[arg(long, value_name = "KIND/NAME", required = true)]
    resource: Vec<String>,
    /// Secret whose `token` key secures the webhook path.
    #[arg(long, value_name = "NAME")]
    secret_ref: String,
}

fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(
    value: Value,
    kind: &str,
) -> anyhow::Result<Value> {
    let object: T =
        serde_json::from_value(value).with_context(|| format!("building the {kind}"))?;
    to_value(&object)
}

fn object_refs(flag: &str, values: &[String]) -> anyhow::Result<Vec<Value>> {
    values
        .iter()
        .map(|v| {
            let (kind, ns, name) = validate::kind_ref(flag, v)?;
            let mut r = json!({"kind": kind, "name": name});
            if let Some(ns) = ns {
                r["namespace"] = json!(ns);
            }
            Ok(r)
        })
        .collect()
}

/// The Provider the flags describe.
pub fn provider(args: &ProviderArgs, namespace: &str) -> anyhow::Result<Value> {
    validate::name("NAME", &args.name)?;
    let mut spec = json!({"type": args.provider_type});
    if let Some(address) = &args.address {
        let ok = ["https://", "http://", "smtp://", "smtps://"]
            .iter()
            .any(|s| address.starts_with(s))
            && !address.chars().any(char::is_whitespace);
        if !ok {
            bail!("--address '{address}' must be an http(s):// or smtp(s):// URL");
        }
        spec["address"] = json!(address);
    }
    if let Some(channel) = &args.channel {
        spec["channel"] = json!(channel);
    }
    if let Some(username) = &args.username {
        spec["username"] = json!(username);
    }
    if let Some(secret) = &args.secret_ref {
        validate::name("--secret-ref", secret)?;
        spec["secretRef"] = json!({"name": secret});
    }
    if args.address.is_none() && args.secret_ref.is_none() {
        bail!("a Provider needs --address or --secret-ref (a Secret with an `address` key)");
    }
    typed::<Provider>(
        json!({"apiVersion": "notification.driftless.dev/v1", "kind": "Provider",
            "metadata": {"name": args.name, "namespace": namespace}, "spec": spec}),
        "Provider",
    )
}

/// The Alert the flags describe.
pub fn alert(args: &AlertArgs, namespace: &str) -> anyhow::Result<Value> {
    validate::name("NAME", &args.name)?;
    validate::name("--provider-ref", &args.provider_ref)?;
    let mut spec = json!({
        "providerRef": {"name": args.provider_ref},
        "eventSeverity": args.event_severity,
        "eventSources": object_refs("--event-source", &args.event_source)?,
    });
    if let Some(summary) = &args.summary {
        spec["summary"] = json!(summary);
    }
    typed::<Alert>(
        json!({"apiVersion": "notification.driftless.dev/v1", "kind": "Alert",
            "metadata": {"name": args.name, "namespace": namespace}, "spec": spec}),
        "Alert",
    )
}

/// The Receiver the flags describe.
pub fn receiver(args: &ReceiverArgs, namespace: &str) -> anyhow::Result<Value> {
    validate::name("NAME", &args.name)?;
    validate::name("--secret-ref", &args.secret_ref)?;
    let resources = object_refs("--resource", &args.resource)?;
    if resources.iter().any(|r| r["name"] == "*") {
        bail!("--resource needs object names, not '*'");
    }
    typed::<Receiver>(
        json!({"apiVersion": "notification.driftless.dev/v1", "kind": "Receiver",
            "metadata": {"name": args.name, "namespace": namespace},
            "spec": {"type": args.receiver_type, "events": args.event,
                "resources": resources, "secretRef": {"name": args.secret_ref}}}),
        "Receiver",
    )
}
