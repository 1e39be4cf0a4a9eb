//! `driftless bootstrap git` on the node cluster: the real binary, run as a user runs it
//! (the node's admin kubeconfig, a generated deploy key printed and waited for), installs
//! Driftless from the image pushed to the node's registry and commits its manifests over
//! ssh to the loopback sshd harness listening on the node's bridge address, where the pod
//! reaches it. Then, with no Driftless process on this side:
//!
//! - the Driftless pod becomes Ready on the node, and its own GitRepository and
//!   Kustomization (the ones bootstrap committed) become Ready at the pushed commit,
//!   reconciled by that pod (their events name it as the reporting instance);
//! - a ConfigMap pushed under the bootstrap path is applied by the pod;
//! - bootstrap run again with the same inputs commits nothing and leaves the pod alone;
//! - a label added in git to Driftless's own Deployment is applied by Driftless to itself.
//!
//! Prints bootstrap-to-pod-Ready, bootstrap-to-sync-Ready and push-to-applied.
//! Skipped only with `DRIFTLESS_E2E_NODE=0`.

mod common;

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use common::node_run::{
    BOOTSTRAP_NAME, NodeClaim, SYSTEM_NAMESPACE, claim_node, remove_previous_node_run,
};
use common::*;
use driftless_api::{GitRepository, Kustomization};
use driftless_e2e::{Error, GitServer, NodeCluster, SshServer, driftless_binary, poll_until};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{DeleteParams, ListParams};

/// The repository path bootstrap writes to.
const PATH: &str = "clusters/node";
/// The ConfigMap the test pushes under [`PATH`] for the pod to apply.
const PUSHED_CONFIG_MAP: &str = "bootstrap-e2e";
/// The label the test adds in git to Driftless's own Deployment.
const SELF_LABEL: (&str, &str) = ("e2e.driftless.dev/self-managed", "true");
/// The GitRepository's interval (`--interval`): how long a push may wait for a fetch.
const INTERVAL: &str = "10s";

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_installs_driftless_on_the_node_and_it_manages_itself_from_git() {
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

    remove_previous_node_run(&client).await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let _ = config_maps
        .delete(PUSHED_CONFIG_MAP, &DeleteParams::default())
        .await;
    cluster
        .set_schedulable(true)
        .await
        .expect("uncordon the node");

    // Git: the loopback harness's repositories, over ssh on the node's address (pods have
    // no route to 127.0.0.1 of this machine); the test itself pushes over git:// on loopback.
    let git = GitServer::start().expect("git server");
    let ssh = SshServer::start_on(&git, cluster.internal_ip()).expect("sshd on the node");
    let repo = git.create_repo("fleet").expect("repository");
    let url = ssh.url(&repo);
    let push_url = git.git_url("fleet");
    let binary = driftless_binary().await.expect("driftless builds").clone();
    let image = format!("{registry}/driftless@{digest}");
    let commits = || count_commits(&git, &repo);

    // 1. bootstrap: a generated key is printed; authorized, bootstrap commits and installs.
    let bootstrap_started = Instant::now();
    let mut child = bootstrap(&binary, cluster.kubeconfig_path(), &url, &image)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("driftless bootstrap git starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut public_key = String::new();
    tokio::task::block_in_place(|| stdout.read_line(&mut public_key)).expect("read stdout");
    assert!(
        public_key.starts_with("ssh-ed25519 "),
        "bootstrap prints the generated public key first, not {public_key:?}"
    );
    ssh.authorize(&public_key)
        .expect("authorize the deploy key");
    let out = tokio::task::block_in_place(|| child.wait_with_output()).expect("bootstrap runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bootstrap failed: {stderr}");
    assert!(stderr.contains("committed and pushed"), "{stderr}");
    let bootstrapped = bootstrap_started.elapsed();
    assert_eq!(commits(), 1, "bootstrap made one commit");
    let first = head(&git, &repo);

    // 2. The pod runs the pushed image and becomes Ready through its probes.
    let pod = rollout(&client, SYSTEM_NAMESPACE, "driftless").await;
    let pod_ready = bootstrap_started.elapsed();
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
    assert_eq!(
        pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()),
        Some(cluster.node_name()),
        "the Driftless pod runs on the node"
    );
    let image_id = container_status(&pod)
        .map(|status| status.image_id.clone())
        .unwrap_or_default();
    assert!(
        image_id.ends_with(&digest),
        "the Driftless pod runs the pushed image {digest}, not {image_id:?}"
    );

    // Its own GitRepository and Kustomization, Ready at the bootstrap commit.
    let repos: Api<GitRepository> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let revision = format!("main@sha1:{first}");
    wait_for(
        cluster,
        "the bootstrap GitRepository Ready at the bootstrap commit",
        || {
            let repos = repos.clone();
            let revision = revision.clone();
            async move {
                let repo = repos
                    .get(BOOTSTRAP_NAME)
                    .await
                    .map_err(Error::kube("get GitRepository driftless-system"))?;
                let ready = repo
                    .status
                    .as_ref()
                    .is_some_and(|status| driftless_api::condition::is_ready(&status.conditions));
                Ok(
                    (ready && artifact_revision(&repo).as_deref() == Some(revision.as_str()))
                        .then_some(()),
                )
            }
        },
    )
    .await;
    wait_applied(cluster, &kustomizations, &revision).await;
    let sync_ready = bootstrap_started.elapsed();
    // Reconciled by the pod: the only Driftless process there is, and its events say so.
    // (The Kustomization's first apply changes nothing, bootstrap having applied the same
    // objects with the same labels, so it has no event to publish; its next one follows.)
    let events: Api<Event> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    wait_for_event(cluster, &events, "GitRepository", &pod_name, "").await;
    // 3. A ConfigMap pushed under the path: the pod applies it.
    let config_map = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {PUSHED_CONFIG_MAP}\n  namespace: {SYSTEM_NAMESPACE}\ndata:\n  pushed: by-the-test\n"
    );
    let pushed_at = Instant::now();
    let second = git
        .push_files(
            &push_url,
            "main",
            &[(
                &format!("{PATH}/apps/{PUSHED_CONFIG_MAP}.yaml"),
                &config_map,
            )],
            "apps: a ConfigMap for the node's Driftless to apply",
        )
        .expect("push the ConfigMap");
    wait_for(cluster, "the pushed ConfigMap applied", || {
        let config_maps = config_maps.clone();
        async move {
            let found = config_maps
                .get_opt(PUSHED_CONFIG_MAP)
                .await
                .map_err(Error::kube("get the pushed ConfigMap"))?;
            Ok(found
                .and_then(|map| map.data)
                .is_some_and(|data| data.get("pushed").map(String::as_str) == Some("by-the-test"))
                .then_some(()))
        }
    })
    .await;
    let push_to_applied = pushed_at.elapsed();
    wait_applied(cluster, &kustomizations, &format!("main@sha1:{second}")).await;
    wait_for_event(
        cluster,
        &events,
        "Kustomization",
        &pod_name,
        &format!("ConfigMap/{SYSTEM_NAMESPACE}/{PUSHED_CONFIG_MAP}"),
    )
    .await;

    // 4. bootstrap again, same inputs (the key from the cluster's Secret this time): no
    // commit, the same pod still running, never restarted.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let generation = deployments
        .get("driftless")
        .await
        .expect("get the Driftless Deployment")
        .metadata
        .generation;
    let rerun = run(bootstrap(&binary, cluster.kubeconfig_path(), &url, &image));
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    assert!(rerun.status.success(), "bootstrap re-run failed: {stderr}");
    assert!(
        rerun.stdout.is_empty(),
        "no new key is printed on a re-run: {}",
        String::from_utf8_lossy(&rerun.stdout)
    );
    assert!(stderr.contains("nothing committed"), "{stderr}");
    assert_eq!(commits(), 2, "a re-run with the same inputs made a commit");
    assert_eq!(
        deployments
            .get("driftless")
            .await
            .expect("get the Driftless Deployment")
            .metadata
            .generation,
        generation,
        "the re-run changed the Driftless Deployment's spec"
    );
    // Bootstrap and the pod apply with the same field manager: the re-run keeps the owner
    // labels the pod's applies put on (its drift watch selects by them).
    let owner_label = |labels: Option<&std::collections::BTreeMap<String, String>>| {
        labels
            .and_then(|labels| labels.get("kustomize.driftless.dev/name"))
            .cloned()
    };
    let deployment = deployments
        .get("driftless")
        .await
        .expect("get the Driftless Deployment");
    assert_eq!(
        owner_label(deployment.metadata.labels.as_ref()).as_deref(),
        Some(BOOTSTRAP_NAME),
        "the re-run took the owner label off the Driftless Deployment"
    );
    let repository = repos
        .get(BOOTSTRAP_NAME)
        .await
        .expect("get the bootstrap GitRepository");
    assert_eq!(
        owner_label(repository.metadata.labels.as_ref()).as_deref(),
        Some(BOOTSTRAP_NAME),
        "the re-run took the owner label off the bootstrap GitRepository"
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let still = pods
        .get(&pod_name)
        .await
        .expect("the Driftless pod is still there");
    assert_eq!(still.metadata.uid.as_deref(), Some(pod_uid.as_str()));
    assert!(
        still.metadata.deletion_timestamp.is_none(),
        "the pod is being deleted"
    );
    assert_eq!(
        container_status(&still).map(|status| (status.ready, status.restart_count)),
        Some((true, 0)),
        "the Driftless container is Ready and was never restarted"
    );

    // 5. Driftless's own manifests changed in git: a label on its Deployment, which the pod
    // applies to the Deployment it runs from.
    let own_kustomization = format!("{PATH}/driftless-system/kustomization.yaml");
    let current = show(&git, &repo, &own_kustomization);
    let patched = format!(
        "{current}patches:\n- target:\n    kind: Deployment\n    name: driftless\n  patch: |-\n    - op: add\n      path: /metadata/labels/{}\n      value: \"{}\"\n",
        SELF_LABEL.0.replace('/', "~1"),
        SELF_LABEL.1,
    );
    let third = git
        .push_files(
            &push_url,
            "main",
            &[(&own_kustomization, &patched)],
            "driftless-system: label Driftless's own Deployment",
        )
        .expect("push the label");
    wait_for(cluster, "the label on Driftless's own Deployment", || {
        let deployments = deployments.clone();
        async move {
            let deployment = deployments
                .get("driftless")
                .await
                .map_err(Error::kube("get the Driftless Deployment"))?;
            Ok(deployment
                .metadata
                .labels
                .and_then(|labels| labels.get(SELF_LABEL.0).cloned())
                .is_some_and(|value| value == SELF_LABEL.1)
                .then_some(()))
        }
    })
    .await;
    wait_applied(cluster, &kustomizations, &format!("main@sha1:{third}")).await;

    eprintln!(
        "node bootstrap: bootstrap command {:.1}s, bootstrap-to-pod-Ready {:.1}s, \
         bootstrap-to-own-Kustomization-Ready {:.1}s, push-to-ConfigMap-applied {:.1}s \
         (GitRepository interval {INTERVAL})",
        bootstrapped.as_secs_f64(),
        pod_ready.as_secs_f64(),
        sync_ready.as_secs_f64(),
        push_to_applied.as_secs_f64(),
    );
    remove_previous_node_run(&client).await;
    let _ = config_maps
        .delete(PUSHED_CONFIG_MAP, &DeleteParams::default())
        .await;
}

/// `driftless bootstrap git` for `url`, at the node cluster, with `image`.
fn bootstrap(binary: &Path, kubeconfig: &Path, url: &str, image: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .env("KUBECONFIG", kubeconfig)
        .args(["bootstrap", "git", "--url", url, "--path", PATH])
        .args(["--image", image, "--interval", INTERVAL])
        .args(["--access-timeout", "120s"]);
    command
}

fn run(mut command: Command) -> Output {
    tokio::task::block_in_place(|| command.output()).expect("driftless bootstrap git runs")
}

fn count_commits(git: &GitServer, repo: &Path) -> u32 {
    let out = git
        .git_command()
        .arg("-C")
        .arg(repo)
        .args(["rev-list", "--count", "main"])
        .output()
        .expect("git rev-list");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn head(git: &GitServer, repo: &Path) -> String {
    let out = git
        .git_command()
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "main"])
        .output()
        .expect("git rev-parse");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn show(git: &GitServer, repo: &Path, path: &str) -> String {
    let out = git
        .git_command()
        .arg("-C")
        .arg(repo)
        .arg("show")
        .arg(format!("main:{path}"))
        .output()
        .expect("git show");
    assert!(out.status.success(), "git show main:{path}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn container_status(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::ContainerStatus> {
    pod.status
        .as_ref()
        .and_then(|status| status.container_statuses.as_ref())
        .and_then(|statuses| statuses.first())
}

/// Polls `check` within [`ROLLOUT_DEADLINE`]; on the deadline, panics with what the cluster
/// shows.
async fn wait_for<F, Fut>(cluster: &NodeCluster, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = driftless_e2e::Result<Option<()>>>,
{
    if let Err(error) = poll_until(what, ROLLOUT_DEADLINE, check).await {
        panic!("{error}\n{}", bootstrap_state(cluster).await);
    }
}

/// Waits for an event about the bootstrap object of `kind` reported by `pod_name` (the
/// reporting instance Driftless gives its events) whose note contains `note`.
async fn wait_for_event(
    cluster: &NodeCluster,
    events: &Api<Event>,
    kind: &str,
    pod_name: &str,
    note: &str,
) {
    wait_for(
        cluster,
        &format!("an event about {kind} driftless-system from {pod_name} naming {note:?}"),
        || {
            let events = events.clone();
            async move {
                let listed = events
                    .list(&ListParams::default())
                    .await
                    .map_err(Error::kube("list events in driftless-system"))?;
                Ok(listed
                    .items
                    .iter()
                    .any(|event| {
                        event.regarding.as_ref().is_some_and(|regarding| {
                            regarding.kind.as_deref() == Some(kind)
                                && regarding.name.as_deref() == Some(BOOTSTRAP_NAME)
                        }) && event.reporting_instance.as_deref() == Some(pod_name)
                            && event.note.as_deref().unwrap_or_default().contains(note)
                    })
                    .then_some(()))
            }
        },
    )
    .await;
}

/// Waits until the bootstrap Kustomization is Ready with `revision` applied.
async fn wait_applied(cluster: &NodeCluster, kustomizations: &Api<Kustomization>, revision: &str) {
    wait_for(
        cluster,
        &format!("the bootstrap Kustomization Ready at {revision}"),
        || {
            let kustomizations = kustomizations.clone();
            async move {
                let ks = kustomizations
                    .get(BOOTSTRAP_NAME)
                    .await
                    .map_err(Error::kube("get Kustomization driftless-system"))?;
                Ok(applied(&ks, revision).then_some(()))
            }
        },
    )
    .await;
}

/// What the cluster shows when the test is stuck, for the failure message.
async fn bootstrap_state(cluster: &NodeCluster) -> String {
    cluster
        .kubectl_report(&[
            &["get", "gitrepositories,kustomizations", "-A", "-o", "yaml"][..],
            &["get", "pods", "-A", "-o", "wide"][..],
            &["-n", SYSTEM_NAMESPACE, "get", "events"][..],
            &[
                "-n",
                SYSTEM_NAMESPACE,
                "logs",
                "deploy/driftless",
                "--tail=40",
            ][..],
        ])
        .await
}
