//! `driftless reconcile`: ask a controller to reconcile an object now and wait for the result.
//!
//! The request is the `reconcile.driftless.dev/requestedAt` annotation, set to a fresh
//! timestamp; every controller copies the value it handled to
//! `status.lastHandledReconcileAt` in the same status write as the outcome's `Ready`
//! condition, so once the two are equal (and `Ready` is no longer `Unknown`) that status is
//! the answer to this request.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use driftless_api::well_known::RECONCILE_REQUESTED_AT;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use serde_json::Value;

use crate::cmd::kinds::{Kind, KindWord, get_object, is_suspended, ready_condition};
use crate::cmd::kube_args::{Cluster, KubeArgs};

/// Arguments of `driftless reconcile`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: KindWord,
    #[command(flatten)]
    kube: KubeArgs,
    /// For a Kustomization: reconcile its source first (fetch the latest commit).
    #[arg(long, global = true)]
    with_source: bool,
    /// How long to wait for the result, e.g. `30s`, `5m`.
    #[arg(long, global = true, default_value = "5m", value_name = "DURATION")]
    timeout: String,
}

/// Runs the subcommand.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let (kind, selection) = args.what.target();
    let Some(name) = &selection.name else {
        bail!("reconcile takes one NAME (--all is not supported)");
    };
    let timeout = parse_timeout(&args.timeout)?;
    let cluster = args.kube.connect().await?;
    let deadline = Instant::now() + timeout;
    let object = get_object(&cluster.client, kind, &cluster.namespace, name).await?;
    let value = serde_json::to_value(&object)?;
    if is_suspended(&value) {
        bail!(
            "{} is suspended: resume it first (`driftless resume …`)",
            kind.describe(&cluster.namespace, name)
        );
    }
    if args.with_source {
        if kind != Kind::Kustomization {
            bail!("--with-source applies to a Kustomization only");
        }
        let source = value
            .pointer("/spec/sourceRef/name")
            .and_then(Value::as_str)
            .context("the Kustomization has no spec.sourceRef.name")?;
        let source_ns = value
            .pointer("/spec/sourceRef/namespace")
            .and_then(Value::as_str)
            .unwrap_or(&cluster.namespace)
            .to_owned();
        let source_cluster = Cluster {
            namespace: source_ns,
            ..cluster.clone()
        };
        request_and_wait(&source_cluster, Kind::GitRepository, source, None, deadline).await?;
    }
    request_and_wait(&cluster, kind, name, None, deadline).await?;
    Ok(())
}

/// Parses `--timeout`.
pub fn parse_timeout(text: &str) -> anyhow::Result<Duration> {
    driftless_api::duration::parse_duration(text)
        .with_context(|| format!("--timeout '{text}' is not a duration like 30s or 5m"))
}

/// Sets the request annotation (merged with `extra`, a JSON merge patch, e.g. to resume),
/// waits until the controller handled it, prints the outcome, and fails when the object is
/// not Ready.
pub async fn request_and_wait(
    cluster: &Cluster,
    kind: Kind,
    name: &str,
    extra: Option<Value>,
    deadline: Instant,
) -> anyhow::Result<()> {
    let what = kind.describe(&cluster.namespace, name);
    let token = Timestamp::now().to_string();
    let mut patch =
        serde_json::json!({"metadata": {"annotations": {RECONCILE_REQUESTED_AT: token}}});
    if let Some(Value::Object(extra)) = extra {
        for (k, v) in extra {
            patch[k] = v;
        }
    }
    let api = kind.api(&cluster.client, Some(&cluster.namespace));
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("requesting a reconcile of {what}"))?;
    eprintln!("► reconciliation of {what} requested, waiting for the result");
    loop {
        let object = get_object(&cluster.client, kind, &cluster.namespace, name).await?;
        let value = serde_json::to_value(&object)?;
        let handled = value
            .pointer("/status/lastHandledReconcileAt")
            .and_then(Value::as_str)
            == Some(token.as_str());
        if handled && let Some((status, reason, message)) = ready_condition(&value) {
            match status.as_str() {
                "True" => {
                    let revision = kind.revision(&value);
                    if revision.is_empty() {
                        println!("✔ {what} is ready: {message}");
                    } else {
                        println!("✔ {what} reconciled at revision {revision}");
                    }
                    return Ok(());
                }
                "False" => bail!("{what} failed ({reason}): {message}"),
                _ => {}
            }
        }
        if Instant::now() >= deadline {
            let state = ready_condition(&value)
                .map(|(s, r, m)| format!("Ready={s} ({r}): {m}"))
                .unwrap_or_else(|| String::from("no Ready condition"));
            bail!(
                "timed out waiting for {what} to handle the reconcile request{}; last status: {state}",
                if handled {
                    ""
                } else {
                    " (is the controller running and watching this namespace?)"
                }
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
