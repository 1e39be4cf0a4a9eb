//! `driftless create kustomization NAME --source GitRepository/NAME --path DIR`.

use anyhow::bail;
use driftless_api::Kustomization;
use driftless_api::kustomize::{DependencyReference, KustomizationSpec};
use driftless_api::meta::{
    CrossNamespaceSourceReference, NamespacedObjectKindReference, SourceKind,
};

use super::{to_value, validate};

/// Arguments of `driftless create kustomization`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Name of the Kustomization.
    name: String,
    /// The source: `GitRepository/NAME` or `GitRepository/NAMESPACE/NAME` (`NAME` alone means
    /// a GitRepository).
    #[arg(long, value_name = "KIND/NAME")]
    source: String,
    /// Path inside the source to build.
    #[arg(long, value_name = "DIR", default_value = "./")]
    path: String,
    /// Delete objects that leave the source.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    prune: bool,
    /// How often to reconcile, e.g. `10m`.
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    interval: String,
    /// How often to retry after a failure (default: the interval).
    #[arg(long, value_name = "DURATION")]
    retry_interval: Option<String>,
    /// Timeout of apply and health checks (default: the interval).
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
    /// Namespace given to every namespaced object built.
    #[arg(long, value_name = "NS")]
    target_namespace: Option<String>,
    /// ServiceAccount (of the Kustomization's namespace) the objects are applied as.
    #[arg(long, value_name = "NAME")]
    service_account: Option<String>,
    /// Kustomizations that must be Ready first (`NAME` or `NAMESPACE/NAME`, repeatable).
    #[arg(long, value_name = "NAME")]
    depends_on: Vec<String>,
    /// Wait for every applied object to be healthy.
    #[arg(long)]
    wait: bool,
    /// Objects whose health gates readiness (`Kind/name` or `Kind/namespace/name`,
    /// repeatable; apps/v1 Deployments unless `--health-check-api-version`).
    #[arg(long, value_name = "KIND/NAME")]
    health_check: Vec<String>,
    /// Recreate objects whose immutable fields change.
    #[arg(long)]
    force: bool,
}

/// The Kustomization the flags describe.
pub fn object(args: &Args, namespace: &str) -> anyhow::Result<serde_json::Value> {
    validate::name("NAME", &args.name)?;
    validate::repo_path("--path", &args.path)?;
    validate::duration("--interval", &args.interval)?;
    for (flag, value) in [
        ("--retry-interval", &args.retry_interval),
        ("--timeout", &args.timeout),
    ] {
        if let Some(value) = value {
            validate::duration(flag, value)?;
        }
    }
    let (source_ns, source_name) = match args.source.split('/').collect::<Vec<_>>().as_slice() {
        [name] => (None, (*name).to_owned()),
        [kind, name] | [kind, _, name] if !kind.eq_ignore_ascii_case("GitRepository") => {
            let _ = name;
            bail!(
                "--source '{}': only GitRepository sources are supported",
                args.source
            )
        }
        [_, name] => (None, (*name).to_owned()),
        [_, ns, name] => (Some((*ns).to_owned()), (*name).to_owned()),
        _ => bail!(
            "--source '{}' must be GitRepository/NAME or GitRepository/NAMESPACE/NAME",
            args.source
        ),
    };
    validate::name("--source", &source_name)?;
    if let Some(ns) = &source_ns {
        crate::cmd::kube_args::check_dns1123_label("--source namespace", ns)?;
    }
    if let Some(ns) = &args.target_namespace {
        crate::cmd::kube_args::check_dns1123_label("--target-namespace", ns)?;
    }
    if let Some(sa) = &args.service_account {
        validate::name("--service-account", sa)?;
    }
    let mut depends_on = Vec::new();
    for dep in &args.depends_on {
        let (ns, name) = match dep.split_once('/') {
            Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
            None => (None, dep.clone()),
        };
        validate::name("--depends-on", &name)?;
        depends_on.push(DependencyReference {
            name,
            namespace: ns,
        });
    }
    let mut health_checks = Vec::new();
    for check in &args.health_check {
        let (kind, ns, name) = validate::kind_ref("--health-check", check)?;
        let api_version = match kind.as_str() {
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => {
                Some(String::from("apps/v1"))
            }
            "Job" | "CronJob" => Some(String::from("batch/v1")),
            _ => Some(String::from("v1")),
        };
        health_checks.push(NamespacedObjectKindReference {
            api_version,
            kind,
            name,
            namespace: ns,
        });
    }
    let mut ks = Kustomization::new(
        &args.name,
        KustomizationSpec {
            common_metadata: None,
            decryption: None,
            depends_on,
            health_check_exprs: Vec::new(),
            ignore: Vec::new(),
            kube_config: None,
            interval: args.interval.clone(),
            retry_interval: args.retry_interval.clone(),
            path: Some(args.path.clone()),
            post_build: None,
            prune: args.prune,
            health_checks,
            name_prefix: None,
            name_suffix: None,
            patches: Vec::new(),
            images: Vec::new(),
            service_account_name: args.service_account.clone(),
            source_ref: CrossNamespaceSourceReference {
                api_version: None,
                kind: SourceKind::GitRepository,
                name: source_name,
                namespace: source_ns,
            },
            suspend: false,
            target_namespace: args.target_namespace.clone(),
            timeout: args.timeout.clone(),
            force: args.force,
            wait: args.wait,
            components: Vec::new(),
        },
    );
    ks.metadata.namespace = Some(namespace.to_owned());
    to_value(&ks)
}
