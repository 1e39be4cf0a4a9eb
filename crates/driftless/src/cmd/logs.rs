//! `driftless logs`: the controller pods' logs, filtered by object.

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, LogParams};

use crate::cmd::kinds::Kind;
use crate::cmd::kube_args::{KubeArgs, check_namespace, check_object_name};

/// Label of the controller's pods (config/manager).
const CONTROLLER_LABEL: &str = "app.kubernetes.io/name=driftless";

/// Arguments of `driftless logs`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only lines about objects of this kind (e.g. `Kustomization`).
    #[arg(long, value_name = "KIND")]
    kind: Option<String>,
    /// Only lines about the object of this name.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Namespace the controller runs in.
    #[arg(long, value_name = "NS", default_value = "driftless-system")]
    controller_namespace: String,
    /// Only the last N lines of each pod's log (before filtering).
    #[arg(long, value_name = "N")]
    tail: Option<i64>,
    #[command(flatten)]
    kube: KubeArgs,
}

/// Runs the subcommand.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    check_namespace(&args.controller_namespace)?;
    let kind = match &args.kind {
        Some(k) => Some(
            Kind::parse(k)
                .with_context(|| {
                    format!(
                        "--kind '{k}' is not a Driftless kind ({})",
                        crate::cmd::kinds::kind_names()
                    )
                })?
                .name(),
        ),
        None => None,
    };
    if let Some(name) = &args.name {
        check_object_name("--name", name)?;
    }
    let cluster = args.kube.connect().await?;
    let object_ns = args.kube.namespace.clone();
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &args.controller_namespace);
    let list = pods
        .list(&ListParams::default().labels(CONTROLLER_LABEL))
        .await
        .with_context(|| {
            format!(
                "listing the controller pods in namespace '{}'",
                args.controller_namespace
            )
        })?;
    if list.items.is_empty() {
        bail!(
            "no controller pod found in namespace '{}' (label {CONTROLLER_LABEL}): Driftless is not \
             installed in this cluster, or its controller runs outside it (e.g. `make run` or \
             `driftless run` on a workstation), where its log is that process's output",
            args.controller_namespace
        );
    }
    let filter = LineFilter {
        kind: kind.map(str::to_owned),
        name: args.name.clone(),
        namespace: object_ns,
    };
    for pod in &list.items {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let params = LogParams {
            container: Some(String::from("driftless")),
            tail_lines: args.tail,
            ..LogParams::default()
        };
        let text = match pods.logs(&pod_name, &params).await {
            Ok(text) => text,
            Err(err) => {
                eprintln!("pod {pod_name}: cannot read its log: {err}");
                continue;
            }
        };
        for line in text.lines().filter(|l| filter.matches(l)) {
            println!("{line}");
        }
    }
    Ok(())
}

/// Which log lines are about the object: every given word must appear (as a JSON string
/// value in JSON logs, or as `key=value` in text logs).
struct LineFilter {
    kind: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
}

impl LineFilter {
    fn matches(&self, line: &str) -> bool {
        let has = |key: &str, value: &str| {
            line.contains(&format!("\"{key}\":\"{value}\""))
                || line.contains(&format!("{key}={value}"))
                || line.contains(&format!("{key}=\"{value}\""))
        };
        self.kind.as_deref().is_none_or(|k| has("kind", k))
            && self.name.as_deref().is_none_or(|n| has("name", n))
            && self
                .namespace
                .as_deref()
                .is_none_or(|n| has("namespace", n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_filtered_by_object() {
        let f = LineFilter {
            kind: Some("Kustomization".into()),
            name: Some("apps".into()),
            namespace: None,
        };
        assert!(f.matches(r#"{"level":"INFO","span":{"kind":"Kustomization","name":"apps"}}"#));
        assert!(f.matches("INFO reconcile{kind=Kustomization namespace=a name=apps}: applied"));
        assert!(!f.matches(r#"{"span":{"kind":"Kustomization","name":"apps-2"}}"#));
        assert!(!f.matches(r#"{"span":{"kind":"GitRepository","name":"apps"}}"#));
    }
}
