//! The cluster side of bootstrap: the install manifests, the deploy key Secret and the sync
//! objects, server-side applied (field manager `driftless`) in stages: CRDs and Namespaces
//! first (and the CRDs awaited until Established), then everything else.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Scope, pinned_kind};
use kube::{Api, Client};
use serde_json::Value;

/// The controller's own field manager: what bootstrap applies, the controller later applies
/// from git as the same manager, so ownership passes over without conflicts.
const FIELD_MANAGER: &str = "driftless";

/// How long new CRDs get to become Established.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// How objects are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Stored.
    Apply,
    /// CRDs and Namespaces stored (the other objects' dry-run needs them), everything
    /// else validated and admitted by the API server with `dryRun=All`, nothing stored.
    ServerDryRun,
}

fn kind(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or_default()
}

fn describe(object: &Value) -> String {
    let name = object["metadata"]["name"].as_str().unwrap_or("?");
    match object["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{} {ns}/{name}", kind(object)),
        None => format!("{} {name}", kind(object)),
    }
}

/// Applies `objects` in stages; returns how many were sent.
pub async fn apply_all(client: &Client, objects: &[Value], mode: Mode) -> anyhow::Result<usize> {
    let first = |o: &&Value| matches!(kind(o), "CustomResourceDefinition" | "Namespace");
    let (early, late): (Vec<&Value>, Vec<&Value>) = objects.iter().partition(first);
    for object in &early {
        apply(client, object, false).await?;
    }
    for crd in early
        .iter()
        .filter(|o| kind(o) == "CustomResourceDefinition")
    {
        let name = crd["metadata"]["name"].as_str().unwrap_or_default();
        wait_established(client, name).await?;
    }
    for object in &late {
        apply(client, object, mode == Mode::ServerDryRun).await?;
    }
    Ok(objects.len())
}

async fn apply(client: &Client, object: &Value, dry_run: bool) -> anyhow::Result<()> {
    let what = describe(object);
    let dynamic: DynamicObject =
        serde_json::from_value(object.clone()).with_context(|| format!("{what}: not an object"))?;
    let types = dynamic
        .types
        .as_ref()
        .with_context(|| format!("{what}: no apiVersion/kind"))?;
    let gvk = GroupVersionKind::try_from(types).with_context(|| what.clone())?;
    let (resource, capabilities) = pinned_kind(client, &gvk)
        .await
        .with_context(|| format!("{what}: the API server does not serve this kind"))?;
    let api: Api<DynamicObject> =
        match (capabilities.scope, object["metadata"]["namespace"].as_str()) {
            (Scope::Cluster, _) => Api::all_with(client.clone(), &resource),
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
            (Scope::Namespaced, None) => bail!("{what}: namespaced kind without a namespace"),
        };
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    if dry_run {
        params = params.dry_run();
    }
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    api.patch(name, &params, &Patch::Apply(object))
        .await
        .with_context(|| format!("applying {what}"))?;
    Ok(())
}

async fn wait_established(client: &Client, name: &str) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let deadline = Instant::now() + ESTABLISH_TIMEOUT;
    loop {
        let crd = api
            .get(name)
            .await
            .with_context(|| format!("reading CustomResourceDefinition {name}"))?;
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("CustomResourceDefinition {name} not Established within {ESTABLISH_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
