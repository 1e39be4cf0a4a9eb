//! `driftless suspend` / `driftless resume`: stop and restart reconciling objects
//! (`spec.suspend`). `resume` waits for the reconcile it triggers.

use std::time::Instant;

use anyhow::{Context as _, bail};
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams};

use crate::cmd::kinds::{Kind, KindWord, get_object};
use crate::cmd::kube_args::{Cluster, KubeArgs};
use crate::cmd::reconcile::{parse_timeout, request_and_wait};

/// Arguments of `driftless suspend` and `driftless resume`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: KindWord,
    #[command(flatten)]
    kube: KubeArgs,
    /// `resume` only: how long to wait for the result of the reconcile, e.g. `30s`, `5m`.
    #[arg(long, global = true, default_value = "5m", value_name = "DURATION")]
    timeout: String,
}

/// Suspends (`suspend = true`) or resumes the selected objects.
pub async fn run(args: &Args, suspend: bool) -> anyhow::Result<()> {
    let (kind, selection) = args.what.target();
    if !kind.can_suspend() {
        bail!(
            "{} has no spec.suspend: suspend its ImageRepository or ImageUpdateAutomation instead",
            kind.name()
        );
    }
    let timeout = parse_timeout(&args.timeout)?;
    let cluster = args.kube.connect().await?;
    let names = match &selection.name {
        Some(name) => {
            get_object(&cluster.client, kind, &cluster.namespace, name).await?;
            vec![name.clone()]
        }
        None => {
            let api = kind.api(&cluster.client, Some(&cluster.namespace));
            let list = api
                .list(&ListParams::default())
                .await
                .with_context(|| format!("listing {} objects", kind.name()))?;
            list.items.iter().map(ResourceExt::name_any).collect()
        }
    };
    if names.is_empty() {
        bail!(
            "no {} found in namespace '{}'",
            kind.name(),
            cluster.namespace
        );
    }
    let deadline = Instant::now() + timeout;
    let mut failed = Vec::new();
    for name in &names {
        let result = if suspend {
            set_suspend(&cluster, kind, name).await
        } else {
            let patch = serde_json::json!({"spec": {"suspend": false}});
            request_and_wait(&cluster, kind, name, Some(patch), deadline).await
        };
        if let Err(err) = result {
            eprintln!("✗ {err:#}");
            failed.push(name.clone());
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} objects failed: {}",
            failed.len(),
            names.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

async fn set_suspend(cluster: &Cluster, kind: Kind, name: &str) -> anyhow::Result<()> {
    let what = kind.describe(&cluster.namespace, name);
    let api = kind.api(&cluster.client, Some(&cluster.namespace));
    let patch = serde_json::json!({"spec": {"suspend": true}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("suspending {what}"))?;
    println!("✔ {what} suspended");
    Ok(())
}
