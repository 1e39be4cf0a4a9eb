//! What the node tests (node_walkthrough.rs, node_rollout.rs, node_bootstrap.rs) share.

use std::fmt::Debug;

use driftless_api::{GitRepository, Kustomization};
use driftless_e2e::{Error, NodeCluster, NodeLease, build_and_push_driftless_image, poll_until};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use super::ROLLOUT_DEADLINE;

/// The namespace Driftless is installed in.
pub const SYSTEM_NAMESPACE: &str = "driftless-system";
/// The walkthrough app's namespace.
pub const APP_NAMESPACE: &str = "hello-world";
/// Name of the GitRepository, Kustomization and Secret `driftless bootstrap git` creates.
pub const BOOTSTRAP_NAME: &str = "driftless-system";

/// One node test's hold on the node: the shared cluster (held exclusively while `lease`
/// lives), a client, and the digest of the Driftless image just built and pushed to the
/// cluster's registry.
pub struct NodeClaim {
    pub cluster: &'static NodeCluster,
    pub lease: NodeLease,
    pub client: Client,
    pub digest: String,
}

/// Claims the node for a test; `None` (the reason printed) when node tests are off.
pub async fn claim_node() -> Option<NodeClaim> {
    if let Some(reason) = NodeCluster::skip_reason() {
        eprintln!("{reason}");
        return None;
    }
    let cluster = NodeCluster::shared()
        .await
        .expect("the node cluster starts");
    let lease = cluster.exclusive().await.expect("the node is ours");
    let client = cluster.client().expect("client");
    let digest = build_and_push_driftless_image(&cluster.registry())
        .await
        .expect("the Driftless image builds and pushes");
    Some(NodeClaim {
        cluster,
        lease,
        client,
        digest,
    })
}

/// Deletes `name` if it exists, its finalizers dropped first (Driftless may be gone or
/// broken and never remove them); does not wait for it to go.
pub async fn force_delete<K>(api: &Api<K>, name: &str)
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    if api.get_opt(name).await.ok().flatten().is_none() {
        return;
    }
    let no_finalizers = serde_json::json!({"metadata": {"finalizers": null}});
    let _ = api
        .patch(name, &PatchParams::default(), &Patch::Merge(&no_finalizers))
        .await;
    let _ = api.delete(name, &DeleteParams::default()).await;
}

/// Deletes what an earlier node test run left, so this one starts from a fresh install: the
/// `hello-world` GitRepository and Kustomization (finalizers dropped first: Driftless may be
/// gone or broken), the app's namespace and the Driftless Deployment; waits until they and
/// the Driftless pods are gone. Then the objects a `driftless bootstrap git` run left (its
/// GitRepository, Kustomization and Secret): its Kustomization is suspended first, so that
/// the Driftless still running neither puts its own Deployment back nor, once deleted,
/// prunes its inventory (the CRDs and the namespace among it); finalizers are dropped only
/// when no Driftless pod is left.
pub async fn remove_previous_node_run(client: &Client) {
    let repos: Api<GitRepository> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let bootstrapped = kustomizations
        .get_opt(BOOTSTRAP_NAME)
        .await
        .ok()
        .flatten()
        .is_some();
    if bootstrapped {
        kustomizations
            .patch(
                BOOTSTRAP_NAME,
                &PatchParams::default(),
                &Patch::Merge(&serde_json::json!({"spec": {"suspend": true}})),
            )
            .await
            .expect("suspend the bootstrap Kustomization of an earlier run");
    }
    force_delete(&kustomizations, "hello-world").await;
    force_delete(&repos, "hello-world").await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let pods: Api<Pod> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let _ = namespaces
        .delete(APP_NAMESPACE, &DeleteParams::default())
        .await;
    let _ = deployments
        .delete("driftless", &DeleteParams::foreground())
        .await;
    poll_until("the previous run removed", ROLLOUT_DEADLINE, || async {
        let namespace_gone = namespaces
            .get_opt(APP_NAMESPACE)
            .await
            .map_err(Error::kube("get namespace hello-world"))?
            .is_none();
        let deployment_gone = deployments
            .get_opt("driftless")
            .await
            .map_err(Error::kube("get Deployment driftless"))?
            .is_none();
        let pods_gone = pods
            .list(&ListParams::default().labels("app.kubernetes.io/name=driftless"))
            .await
            .map_err(Error::kube("list Driftless pods"))?
            .items
            .is_empty();
        Ok((namespace_gone && deployment_gone && pods_gone).then_some(()))
    })
    .await
    .expect("the previous run goes away");
    if bootstrapped {
        force_delete(&kustomizations, BOOTSTRAP_NAME).await;
    }
    force_delete(&repos, BOOTSTRAP_NAME).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let _ = secrets
        .delete(BOOTSTRAP_NAME, &DeleteParams::default())
        .await;
    poll_until(
        "the bootstrap objects removed",
        ROLLOUT_DEADLINE,
        || async {
            let kustomization_gone = gone(kustomizations.get_opt(BOOTSTRAP_NAME).await)
                .map_err(Error::kube("get Kustomization driftless-system"))?;
            let repository_gone = gone(repos.get_opt(BOOTSTRAP_NAME).await)
                .map_err(Error::kube("get GitRepository driftless-system"))?;
            let secret_gone = gone(secrets.get_opt(BOOTSTRAP_NAME).await)
                .map_err(Error::kube("get Secret driftless-system"))?;
            Ok((kustomization_gone && repository_gone && secret_gone).then_some(()))
        },
    )
    .await
    .expect("the bootstrap objects go away");
}

/// Whether a `get_opt` found nothing: no object, or no such kind at all (a fresh cluster,
/// whose Driftless CRDs are not installed yet, answers 404 for the whole resource).
fn gone<K>(found: Result<Option<K>, kube::Error>) -> Result<bool, kube::Error> {
    match found {
        Ok(object) => Ok(object.is_none()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(true),
        Err(error) => Err(error),
    }
}
