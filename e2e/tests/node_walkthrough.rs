//! The walkthrough on a real node: Driftless installed from its own image with
//! `kubectl apply -k`, its pod Ready through its probes, the hello-world app synced from a
//! git server the pod reaches, and `curl <node>:30001` answering `Hello World` from a pod
//! that the kubelet really runs. Skipped only with `DRIFTLESS_E2E_NODE=0`.

mod common;

use std::time::Instant;

use common::*;
use driftless_api::{GitRepository, Kustomization};
use driftless_e2e::{
    Error, NodeCluster, NodeGitServer, build_and_push_driftless_image, build_and_push_hello_images,
    http_get, poll_until, repo_root,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};

const SYSTEM_NAMESPACE: &str = "driftless-system";
const APP_NAMESPACE: &str = "hello-world";
const NODE_PORT: u16 = 30001;

#[tokio::test]
async fn driftless_installed_from_its_image_serves_hello_world_on_node_port() {
    if let Some(reason) = NodeCluster::skip_reason() {
        eprintln!("{reason}");
        return;
    }
    let cluster = NodeCluster::shared()
        .await
        .expect("the node cluster starts");
    let _lease = cluster.exclusive().await.expect("the node is ours");
    let client = cluster.client().expect("client");
    let registry = cluster.registry();

    let digest = build_and_push_driftless_image(&registry)
        .await
        .expect("the Driftless image builds and pushes");
    build_and_push_hello_images(&registry)
        .await
        .expect("the hello-world images build and push");
    remove_previous_walkthrough(&client).await;
    // A node_rollout run that failed mid-way may have left the node cordoned.
    cluster
        .set_schedulable(true)
        .await
        .expect("uncordon the node");

    // Install: `kubectl apply -k` of config/local-node with the pushed digest.
    let install_started = Instant::now();
    cluster
        .install_driftless(&digest)
        .await
        .expect("kubectl apply -k config/local-node");
    let pod = rollout(&client, SYSTEM_NAMESPACE, "driftless").await;
    let install_to_ready = install_started.elapsed();
    let image_id = pod
        .status
        .as_ref()
        .and_then(|status| status.container_statuses.as_ref())
        .and_then(|statuses| statuses.first())
        .map(|status| status.image_id.clone())
        .unwrap_or_default();
    assert!(
        image_id.ends_with(&digest),
        "the Driftless pod runs the pushed image {digest}, not {image_id:?}"
    );

    // Sync: the hello-world repository from a git server on the node's address.
    let git = NodeGitServer::start(cluster.internal_ip()).expect("git daemon on the node");
    git.push_directory(
        "hello-world",
        &repo_root().join("config/samples/hello-world"),
        "hello-world: the walkthrough's app on NodePort 30001",
    )
    .expect("push the hello-world sample");
    let sync_started = Instant::now();
    let repos: Api<GitRepository> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    apply_yaml(
        &repos,
        &format!(
            "apiVersion: source.driftless.dev/v1
kind: GitRepository
metadata: {{name: hello-world, namespace: {SYSTEM_NAMESPACE}}}
spec:
  url: {}
  ref: {{branch: main}}
  interval: 1m
",
            git.url("hello-world")
        ),
    )
    .await;
    apply_yaml(
        &kustomizations,
        &format!(
            "apiVersion: kustomize.driftless.dev/v1
kind: Kustomization
metadata: {{name: hello-world, namespace: {SYSTEM_NAMESPACE}}}
spec:
  sourceRef: {{kind: GitRepository, name: hello-world}}
  path: ./
  interval: 10m
  retryInterval: 15s
  timeout: 2m
  prune: true
  wait: true
"
        ),
    )
    .await;

    // Served: through kube-proxy's NodePort rules to the pod the kubelet runs.
    let internal_ip = cluster.internal_ip();
    let body = poll_until(
        &format!("http://{internal_ip}:{NODE_PORT}/ to answer Hello World"),
        ROLLOUT_DEADLINE,
        || async {
            let (status, body) = http_get(internal_ip, NODE_PORT, "/").await?;
            Ok((status == 200 && body.starts_with("Hello World")).then_some(body))
        },
    )
    .await;
    let body = match body {
        Ok(body) => body,
        Err(error) => panic!("{error}\n{}", walkthrough_state(cluster).await),
    };
    let sync_to_served = sync_started.elapsed();
    assert_eq!(body, "Hello World\n");

    // The Kustomization waited for the real rollout (wait: true) before going Ready.
    let ks = wait_ks(
        &kustomizations,
        "hello-world",
        "Kustomization Ready",
        |ks| {
            ks.status
                .as_ref()
                .is_some_and(|status| driftless_api::condition::is_ready(&status.conditions))
        },
    )
    .await;
    let app = rollout(&client, APP_NAMESPACE, "hello-world").await;
    assert_eq!(
        app.spec.as_ref().and_then(|spec| spec.node_name.as_deref()),
        Some(cluster.node_name()),
        "the app's pod runs on the node"
    );
    eprintln!(
        "node walkthrough: install-to-Ready {:.1}s, sync-to-served {:.1}s (revision {:?})",
        install_to_ready.as_secs_f64(),
        sync_to_served.as_secs_f64(),
        ks.status.and_then(|status| status.last_applied_revision),
    );
}

/// Deletes what an earlier run left (the sync objects, the app's namespace, the Driftless
/// Deployment) and waits until it is gone, so this run measures a fresh install.
async fn remove_previous_walkthrough(client: &Client) {
    let repos: Api<GitRepository> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let pods: Api<Pod> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let no_finalizers = serde_json::json!({"metadata": {"finalizers": null}});
    // Driftless may be gone or broken: its finalizers must not block the clean-up.
    if kustomizations
        .get_opt("hello-world")
        .await
        .ok()
        .flatten()
        .is_some()
    {
        let _ = kustomizations
            .patch(
                "hello-world",
                &PatchParams::default(),
                &Patch::Merge(&no_finalizers),
            )
            .await;
        let _ = kustomizations
            .delete("hello-world", &DeleteParams::default())
            .await;
    }
    if repos.get_opt("hello-world").await.ok().flatten().is_some() {
        let _ = repos
            .patch(
                "hello-world",
                &PatchParams::default(),
                &Patch::Merge(&no_finalizers),
            )
            .await;
        let _ = repos.delete("hello-world", &DeleteParams::default()).await;
    }
    let _ = namespaces
        .delete(APP_NAMESPACE, &DeleteParams::default())
        .await;
    let _ = deployments
        .delete("driftless", &DeleteParams::foreground())
        .await;
    poll_until(
        "the previous walkthrough removed",
        ROLLOUT_DEADLINE,
        || async {
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
        },
    )
    .await
    .expect("the previous walkthrough goes away");
}

/// What the cluster shows when the walkthrough is stuck, for the failure message.
async fn walkthrough_state(cluster: &NodeCluster) -> String {
    let mut report = String::new();
    for args in [
        &["get", "gitrepositories,kustomizations", "-A", "-o", "wide"][..],
        &["get", "pods,svc,endpointslices", "-A", "-o", "wide"][..],
        &["-n", APP_NAMESPACE, "get", "events"][..],
        &[
            "-n",
            SYSTEM_NAMESPACE,
            "logs",
            "deploy/driftless",
            "--tail=30",
        ][..],
    ] {
        let output = cluster
            .run_kubectl(args)
            .await
            .unwrap_or_else(|error| error.to_string());
        report.push_str(&format!("$ kubectl {}\n{output}\n", args.join(" ")));
    }
    report
}
