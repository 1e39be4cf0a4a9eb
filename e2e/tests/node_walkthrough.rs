//! The walkthrough on a real node: Driftless installed from its own image with
//! `kubectl apply -k`, its pod Ready through its probes, the hello-world app synced from a
//! git server the pod reaches, and `curl <node>:30001` answering `Hello World` from a pod
//! that the kubelet really runs. Skipped only with `DRIFTLESS_E2E_NODE=0`.

mod common;

use std::time::Instant;

use common::node_run::{NodeClaim, claim_node, remove_previous_node_run};
use common::*;
use driftless_api::{GitRepository, Kustomization};
use driftless_e2e::{
    NodeCluster, NodeGitServer, build_and_push_hello_images, http_get, repo_root,
    wait_node_port_serves,
};
use kube::Api;

const SYSTEM_NAMESPACE: &str = "driftless-system";
const APP_NAMESPACE: &str = "hello-world";
const NODE_PORT: u16 = 30001;

#[tokio::test]
async fn driftless_installed_from_its_image_serves_hello_world_on_node_port() {
    let Some(NodeClaim {
        cluster,
        lease: _lease,
        client,
        digest,
    }) = claim_node().await
    else {
        return;
    };
    let registry = cluster.registry();

    build_and_push_hello_images(&registry)
        .await
        .expect("the hello-world images build and push");
    remove_previous_node_run(&client).await;
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

    // Served: through kube-proxy's rules to the pod the kubelet runs; the ClusterIP first,
    // so that no request meets the NodePort before the Service has a ready endpoint (a
    // refused one would leave a conntrack entry that refuses a later request too).
    let internal_ip = cluster.internal_ip();
    let served = wait_node_port_serves(
        &client,
        internal_ip,
        APP_NAMESPACE,
        "hello-world",
        "/",
        "Hello World\n",
        ROLLOUT_DEADLINE,
    )
    .await;
    if let Err(error) = served {
        panic!("{error}\n{}", walkthrough_state(cluster).await);
    }
    let (status, body) = http_get(internal_ip, NODE_PORT, "/")
        .await
        .expect("NodePort 30001 answers");
    let sync_to_served = sync_started.elapsed();
    assert_eq!((status, body.as_str()), (200, "Hello World\n"));

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

/// What the cluster shows when the walkthrough is stuck, for the failure message.
async fn walkthrough_state(cluster: &NodeCluster) -> String {
    cluster
        .kubectl_report(&[
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
        ])
        .await
}
