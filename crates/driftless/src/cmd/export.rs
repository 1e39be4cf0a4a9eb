//! `driftless export`: Driftless objects as clean YAML to keep in git: no status, no managed
//! fields, no uid, resourceVersion, generation, creationTimestamp or finalizers.

use anyhow::bail;
use driftless_api::well_known::RECONCILE_REQUESTED_AT;
use serde_json::Value;

use crate::cmd::get::{list, with_type};
use crate::cmd::kinds::{KindWord, get_object};
use crate::cmd::kube_args::{ListArgs, OutputFormat};
use crate::cmd::output::print_objects;

/// Arguments of `driftless export`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: KindWord,
    #[command(flatten)]
    list: ListArgs,
    /// Output format (YAML unless `-o json`).
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Yaml)]
    output: OutputFormat,
}

/// Runs the subcommand.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let (kind, selection) = args.what.target();
    let cluster = args.list.kube.connect().await?;
    let objects = match &selection.name {
        Some(name) => {
            let object = get_object(&cluster.client, kind, &cluster.namespace, name).await?;
            vec![with_type(kind, object)?]
        }
        None => list(&cluster, kind, args.list.scope(&cluster).as_deref()).await?,
    };
    if objects.is_empty() {
        bail!(
            "no {} to export{}",
            kind.resource().plural,
            args.list
                .scope(&cluster)
                .map_or(String::new(), |ns| format!(" in namespace '{ns}'"))
        );
    }
    let cleaned: Vec<Value> = objects.iter().map(clean).collect();
    print_objects(args.output, &cleaned, selection.name.is_none())
}

/// The object without what the cluster added.
pub fn clean(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "managedFields",
            "resourceVersion",
            "uid",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "finalizers",
        ] {
            meta.remove(field);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
            annotations.remove(RECONCILE_REQUESTED_AT);
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_keep_spec_labels_and_drop_cluster_fields() {
        let object = serde_json::json!({
            "apiVersion": "kustomize.driftless.dev/v1", "kind": "Kustomization",
            "metadata": {"name": "a", "namespace": "n", "uid": "u", "resourceVersion": "7",
                "generation": 2, "creationTimestamp": "2026-01-01T00:00:00Z",
                "finalizers": ["finalizers.driftless.dev"], "managedFields": [{}],
                "labels": {"team": "a"},
                "annotations": {RECONCILE_REQUESTED_AT: "x"}},
            "spec": {"interval": "1m"}, "status": {"conditions": []}
        });
        assert_eq!(
            clean(&object),
            serde_json::json!({
                "apiVersion": "kustomize.driftless.dev/v1", "kind": "Kustomization",
                "metadata": {"name": "a", "namespace": "n", "labels": {"team": "a"}},
                "spec": {"interval": "1m"}
            })
        );
    }
}
