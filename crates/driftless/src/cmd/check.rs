//! `driftless check [--pre]`: is the cluster ready for Driftless, and is Driftless healthy in
//! it? Server version; CRDs installed, established and identical to this binary's; the
//! controller Deployment available; the controller's right to impersonate ServiceAccounts.

use anyhow::bail;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::Value;

use crate::cmd::kube_args::{Cluster, KubeArgs, check_namespace};

/// Oldest Kubernetes minor version supported (the k8s-openapi feature this binary is built with).
const MIN_MINOR: u32 = 34;

/// Arguments of `driftless check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only the prerequisites of an install: server version and your right to install
    /// CRDs and cluster roles.
    #[arg(long)]
    pre: bool,
    /// Namespace the controller runs in.
    #[arg(long, value_name = "NS", default_value = "driftless-system")]
    controller_namespace: String,
    /// Name of the controller's Deployment and ServiceAccount.
    #[arg(long, value_name = "NAME", default_value = "driftless")]
    controller_name: String,
    #[command(flatten)]
    kube: KubeArgs,
}

struct Report {
    failures: usize,
}

impl Report {
    fn ok(&mut self, text: String) {
        println!("✔ {text}");
    }
    fn fail(&mut self, text: String) {
        println!("✗ {text}");
        self.failures += 1;
    }
}

/// Runs the subcommand.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    check_namespace(&args.controller_namespace)?;
    let cluster = args.kube.connect().await?;
    let mut report = Report { failures: 0 };
    check_version(&cluster, &mut report).await?;
    if args.pre {
        for (resource, group) in [
            ("customresourcedefinitions", "apiextensions.k8s.io"),
            ("clusterroles", "rbac.authorization.k8s.io"),
            ("clusterrolebindings", "rbac.authorization.k8s.io"),
        ] {
            let allowed = can(&cluster.client, "create", resource, group, None).await?;
            if allowed {
                report.ok(format!("you may create {resource}"));
            } else {
                report.fail(format!(
                    "you may not create {resource}: an install needs cluster-admin"
                ));
            }
        }
    } else {
        check_crds(&cluster.client, &mut report).await;
        check_controller(&cluster, args, &mut report).await;
        check_impersonation(&cluster, args, &mut report).await;
    }
    if report.failures > 0 {
        bail!("{} check(s) failed", report.failures);
    }
    println!("all checks passed");
    Ok(())
}

async fn check_version(cluster: &Cluster, report: &mut Report) -> anyhow::Result<()> {
    let info = cluster.client.apiserver_version().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot reach the API server {}: {e}",
            cluster.config.cluster_url
        )
    })?;
    let minor: u32 = info
        .minor
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(0);
    if info.major == "1" && minor >= MIN_MINOR {
        report.ok(format!("Kubernetes {} >= 1.{MIN_MINOR}", info.git_version));
    } else {
        report.fail(format!(
            "Kubernetes {} is older than 1.{MIN_MINOR}",
            info.git_version
        ));
    }
    Ok(())
}

async fn check_crds(client: &Client, report: &mut Report) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, want) in driftless_api::crds::all() {
        let name = want.metadata.name.clone().unwrap_or_default();
        match api.get_opt(&name).await {
            Ok(None) => report.fail(format!(
                "CRD {name} is not installed (`driftless crds | kubectl apply -f -`)"
            )),
            Err(err) => report.fail(format!("CRD {name}: {err}")),
            Ok(Some(live)) => {
                let established = live
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| {
                        c.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    });
                if !established {
                    report.fail(format!("CRD {name} is not established"));
                } else if schemas(&live) != schemas(&want) {
                    report.fail(format!(
                        "CRD {name} differs from this binary's ({}): upgrade it with `driftless crds | kubectl apply --server-side -f -`",
                        env!("CARGO_PKG_VERSION")
                    ));
                } else {
                    report.ok(format!("CRD {name} is installed and current"));
                }
            }
        }
    }
}

/// The served versions with their schemas, as comparable JSON.
fn schemas(crd: &CustomResourceDefinition) -> Vec<(String, Value)> {
    crd.spec
        .versions
        .iter()
        .map(|v| {
            (
                v.name.clone(),
                serde_json::to_value(&v.schema).unwrap_or_default(),
            )
        })
        .collect()
}

async fn check_controller(cluster: &Cluster, args: &Args, report: &mut Report) {
    let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &args.controller_namespace);
    let what = format!(
        "controller Deployment {}/{}",
        args.controller_namespace, args.controller_name
    );
    match api.get_opt(&args.controller_name).await {
        Ok(Some(d)) => {
            let status = d.status.unwrap_or_default();
            let want = d.spec.and_then(|s| s.replicas).unwrap_or(1);
            let available = status.available_replicas.unwrap_or(0);
            if available >= 1 {
                report.ok(format!("{what} is available ({available}/{want} replicas)"));
            } else {
                report.fail(format!("{what} has no available replica (0/{want})"));
            }
        }
        Ok(None) => report.fail(format!("{what} not found: Driftless is not installed in this cluster (`kubectl apply -k config/default`)")),
        Err(err) => report.fail(format!("{what}: {err}")),
    }
}

/// Asks, as the controller's ServiceAccount, whether it may impersonate ServiceAccounts
/// (how Kustomizations apply as their tenant).
async fn check_impersonation(cluster: &Cluster, args: &Args, report: &mut Report) {
    let user = format!(
        "system:serviceaccount:{}:{}",
        args.controller_namespace, args.controller_name
    );
    let mut config = cluster.config.clone();
    config.auth_info.impersonate = Some(user.clone());
    config.auth_info.impersonate_groups = None;
    let result = match Client::try_from(config) {
        Ok(client) => can(&client, "impersonate", "serviceaccounts", "", None).await,
        Err(err) => Err(err.into()),
    };
    match result {
        Ok(true) => report.ok(format!("{user} may impersonate ServiceAccounts")),
        Ok(false) => report.fail(format!(
            "{user} may not impersonate ServiceAccounts: Kustomizations cannot apply as their tenant (config/rbac)"
        )),
        Err(err) => report.fail(format!(
            "cannot check {user}'s rights (you need the right to impersonate it): {err:#}"
        )),
    }
}

async fn can(
    client: &Client,
    verb: &str,
    resource: &str,
    group: &str,
    namespace: Option<&str>,
) -> anyhow::Result<bool> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.to_owned()),
                resource: Some(resource.to_owned()),
                group: Some(group.to_owned()),
                namespace: namespace.map(str::to_owned),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let answer = api.create(&PostParams::default(), &review).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}
