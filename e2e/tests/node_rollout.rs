//! After the walkthrough, on the real node (Driftless in-cluster from its own image):
//! - a new image tag pushed to a registry is found by ImageRepository/ImagePolicy,
//!   committed to git by ImageUpdateAutomation, rolled out for real and served;
//! - a tag that does not exist fails the Kustomization, naming the Deployment and the
//!   reason, while the old ReplicaSet keeps serving;
//! - the Driftless pod deleted mid-sync is recreated and finishes the sync;
//! - two replicas with `--leader-elect`: the leader's pod killed, the other one leads.
//!
//! The app registry is on the node's bridge address (pods scan it, containerd pulls
//! from it), the git server too. Skipped only with `DRIFTLESS_E2E_NODE=0`.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::node_run::{NodeClaim, claim_node, force_delete, remove_previous_node_run};
use common::*;
use driftless_api::{GitRepository, ImagePolicy, ImageUpdateAutomation, Kustomization};
use driftless_e2e::{
    Error, NodeCluster, NodeGitServer, NodeLease, NodeRegistry, build_hello_archives, http_get,
    poll_until, repo_root, wait_node_port_serves,
};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use tempfile::TempDir;

const SYSTEM_NAMESPACE: &str = "driftless-system";
const APP_NAMESPACE: &str = "hello-world";
const NODE_PORT: u16 = 30001;
/// The image automation objects' name (not `hello-world`: an object left behind by a
/// failed run must not match the setter of the walkthrough's own sample).
const AUTOMATION: &str = "hello-rollout";
/// The sample's Deployment gives up progressing after 60 s; then the Kustomization fails.
const FAILURE_DEADLINE: Duration = Duration::from_secs(240);

/// Driftless installed from its image, the hello-world app synced from git and
/// serving tag 1 from the node registry: the state every test here starts from.
struct Walkthrough {
    cluster: &'static NodeCluster,
    client: Client,
    git: NodeGitServer,
    registry: NodeRegistry,
    /// OCI archives of the app's tags 1 and 2.
    archives: [PathBuf; 2],
    /// The files pushed to git (the sample, pointed at the node registry).
    source: TempDir,
    _lease: NodeLease,
}

impl Walkthrough {
    /// Installs Driftless afresh and syncs the sample; `None` when node tests are off.
    async fn start() -> Option<Walkthrough> {
        let NodeClaim {
            cluster,
            lease,
            client,
            digest,
        } = claim_node().await?;
        let archives = tokio::task::spawn_blocking(build_hello_archives)
            .await
            .expect("build thread")
            .expect("the hello-world images build");
        remove_previous(&client).await;
        // A run that failed mid-way may have left the node cordoned (the fail-over test).
        cluster
            .set_schedulable(true)
            .await
            .expect("uncordon the node");

        cluster
            .install_driftless(&digest)
            .await
            .expect("kubectl apply -k config/local-node");
        rollout(&client, SYSTEM_NAMESPACE, "driftless").await;

        let registry = NodeRegistry::start(cluster.internal_ip()).expect("registry on the node");
        registry
            .push_archive(&archives[0], "hello-world", "1")
            .expect("push hello-world:1");
        let git = NodeGitServer::start(cluster.internal_ip()).expect("git daemon on the node");
        let source = tempfile::tempdir().expect("temporary directory");
        copy_sample(source.path(), &registry.host());
        git.push_directory("hello-world", source.path(), "hello-world: tag 1")
            .expect("push the hello-world sample");
        let walkthrough = Walkthrough {
            cluster,
            client,
            git,
            registry,
            archives,
            source,
            _lease: lease,
        };
        walkthrough.apply_sync_objects().await;
        walkthrough.wait_served("Hello World\n").await;
        Some(walkthrough)
    }

    async fn apply_sync_objects(&self) {
        apply_yaml(
            &self.repos(),
            &format!(
                "apiVersion: source.driftless.dev/v1
kind: GitRepository
metadata: {{name: hello-world, namespace: {SYSTEM_NAMESPACE}}}
spec:
  url: {}
  ref: {{branch: main}}
  interval: 10s
",
                self.git.url("hello-world")
            ),
        )
        .await;
        apply_yaml(
            &self.kustomizations(),
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
    }

    fn repos(&self) -> Api<GitRepository> {
        Api::namespaced(self.client.clone(), SYSTEM_NAMESPACE)
    }

    fn kustomizations(&self) -> Api<Kustomization> {
        Api::namespaced(self.client.clone(), SYSTEM_NAMESPACE)
    }

    /// Rewrites `deployment.yaml` of the pushed sample with `edit` and pushes it.
    fn push_deployment_change(&self, message: &str, edit: impl FnOnce(String) -> String) {
        let path = self.source.path().join("deployment.yaml");
        let text = std::fs::read_to_string(&path).expect("read deployment.yaml");
        let changed = edit(text.clone());
        assert_ne!(changed, text, "the edit changes deployment.yaml");
        std::fs::write(&path, changed).expect("write deployment.yaml");
        self.git
            .push_directory("hello-world", self.source.path(), message)
            .expect("push the change");
    }

    /// Rewrites the ConfigMap's message in the sample's files (pushed with the next push).
    fn set_message(&self, message: &str) {
        let path = self.source.path().join("configmap.yaml");
        let text = std::fs::read_to_string(&path).expect("read configmap.yaml");
        let start = text
            .find("  message: ")
            .expect("configmap.yaml has a message");
        let changed = format!("{}  message: {message}\n", &text[..start]);
        std::fs::write(&path, changed).expect("write configmap.yaml");
    }

    /// Rewrites the ConfigMap's message in the pushed sample and pushes it.
    fn push_message(&self, message: &str) {
        self.set_message(message);
        self.git
            .push_directory(
                "hello-world",
                self.source.path(),
                "hello-world: new message",
            )
            .expect("push the new message");
    }

    /// Waits until the app's Service answers `want` on `/`: on its ClusterIP, then on
    /// NodePort 30001 (no NodePort request before the Service has a ready endpoint, see
    /// `wait_node_port_serves`).
    async fn wait_served(&self, want: &str) -> Duration {
        let started = Instant::now();
        let served = wait_node_port_serves(
            &self.client,
            self.cluster.internal_ip(),
            APP_NAMESPACE,
            "hello-world",
            "/",
            want,
            ROLLOUT_DEADLINE,
        )
        .await;
        match served {
            Ok(addresses) => assert_eq!(addresses.node_port, NODE_PORT, "the sample's NodePort"),
            Err(error) => panic!("{error}\n{}", self.state().await),
        }
        started.elapsed()
    }

    /// What the cluster shows, for failure messages.
    async fn state(&self) -> String {
        self.cluster
            .kubectl_report(&[
                &["get", "gitrepositories,kustomizations", "-A", "-o", "wide"][..],
                &[
                    "get",
                    "imagerepositories,imagepolicies,imageupdateautomations",
                    "-A",
                    "-o",
                    "wide",
                ][..],
                &["get", "deploy,rs,pods", "-A", "-o", "wide"][..],
                &["-n", APP_NAMESPACE, "get", "events"][..],
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

    /// Removes the image automation objects (so nothing acts on git after the test).
    async fn remove_automation(&self) {
        delete_image_automation(&self.client).await;
    }
}

#[tokio::test]
async fn new_tag_is_committed_by_image_automation_and_rolled_out_on_the_node() {
    let Some(walkthrough) = Walkthrough::start().await else {
        return;
    };
    let client = walkthrough.client.clone();
    let image = format!("{}/hello-world", walkthrough.registry.host());
    let images = |kind: &str| {
        format!(
            "apiVersion: image.driftless.dev/v1\nkind: {kind}\nmetadata: {{name: {AUTOMATION}, namespace: {SYSTEM_NAMESPACE}}}\n"
        )
    };
    apply_yaml(
        &Api::<driftless_api::ImageRepository>::namespaced(client.clone(), SYSTEM_NAMESPACE),
        &format!(
            "{}spec: {{image: '{image}', interval: 10s, insecure: true}}\n",
            images("ImageRepository")
        ),
    )
    .await;
    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    apply_yaml(
        &policies,
        &format!(
            "{}spec: {{imageRepositoryRef: {{name: {AUTOMATION}}}, filterTags: {{pattern: '^[0-9]+$'}}, policy: {{numerical: {{order: asc}}}}}}\n",
            images("ImagePolicy")
        ),
    )
    .await;
    let automations: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    apply_yaml(
        &automations,
        &format!(
            "{}spec:
  sourceRef: {{kind: GitRepository, name: hello-world}}
  interval: 10s
  git:
    checkout: {{ref: {{branch: main}}}}
    commit:
      author: {{name: driftless-bot, email: bot@driftless.invalid}}
    push: {{branch: main}}
  update: {{path: ./, strategy: Setters}}
",
            images("ImageUpdateAutomation")
        ),
    )
    .await;
    let latest_tag = |policy: &ImagePolicy| {
        policy
            .status
            .as_ref()
            .and_then(|status| status.latest_ref.as_ref())
            .map(|latest| latest.tag.clone())
    };
    let tag_one = poll_until("the ImagePolicy picks tag 1", DEADLINE, || async {
        let policy = policies
            .get(AUTOMATION)
            .await
            .map_err(Error::kube("get ImagePolicy"))?;
        Ok((latest_tag(&policy).as_deref() == Some("1")).then_some(()))
    })
    .await;
    if let Err(error) = tag_one {
        panic!("{error}\n{}", walkthrough.state().await);
    }
    let old_replica_sets = replica_set_names(&client).await;

    // Push tag 2 and measure until the node serves it.
    let pushed = Instant::now();
    let digest_two = walkthrough
        .registry
        .push_archive(&walkthrough.archives[1], "hello-world", "2")
        .expect("push hello-world:2");
    walkthrough.wait_served("Hello World v2\n").await;
    let push_to_served = pushed.elapsed();
    eprintln!(
        "node rollout: push-to-served {:.1}s (ImageRepository, GitRepository and ImageUpdateAutomation intervals 10s)",
        push_to_served.as_secs_f64()
    );

    // It went through git: the automation's commit is what the Kustomization applied.
    let automation = automations
        .get(AUTOMATION)
        .await
        .expect("get ImageUpdateAutomation");
    let commit = automation
        .status
        .as_ref()
        .and_then(|status| status.last_push_commit.clone())
        .expect("the automation pushed a commit");
    let ks = wait_ks(
        &walkthrough.kustomizations(),
        "hello-world",
        "the Kustomization applies the automation's commit",
        |ks| {
            ks.status.as_ref().is_some_and(|status| {
                driftless_api::condition::is_ready(&status.conditions)
                    && status
                        .last_applied_revision
                        .as_deref()
                        .is_some_and(|revision| revision.ends_with(&commit))
            })
        },
    )
    .await;
    // A real rollout: a new ReplicaSet, its pod Ready and running tag 2's digest.
    let deployment = Api::<Deployment>::namespaced(client.clone(), APP_NAMESPACE)
        .get("hello-world")
        .await
        .expect("get the Deployment");
    let container_image = deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.template.spec.as_ref())
        .map(|spec| spec.containers[0].image.clone().unwrap_or_default());
    assert_eq!(container_image, Some(format!("{image}:2")));
    let pod = rollout(&client, APP_NAMESPACE, "hello-world").await;
    let image_id = pod
        .status
        .as_ref()
        .and_then(|status| status.container_statuses.as_ref())
        .and_then(|statuses| statuses.first())
        .map(|status| status.image_id.clone())
        .unwrap_or_default();
    assert!(
        image_id.ends_with(&digest_two),
        "the app's pod runs tag 2 ({digest_two}), not {image_id:?}"
    );
    let new_replica_sets = replica_set_names(&client).await;
    assert!(
        new_replica_sets
            .iter()
            .any(|name| !old_replica_sets.contains(name)),
        "a new ReplicaSet rolled out: before {old_replica_sets:?}, after {new_replica_sets:?}"
    );
    eprintln!(
        "node rollout: applied {:?}",
        ks.status.and_then(|status| status.last_applied_revision)
    );
    walkthrough.remove_automation().await;
}

#[tokio::test]
async fn missing_tag_fails_the_kustomization_and_the_old_pods_keep_serving() {
    let Some(walkthrough) = Walkthrough::start().await else {
        return;
    };
    let client = walkthrough.client.clone();
    let host = walkthrough.registry.host();
    walkthrough.push_deployment_change("hello-world: a tag nobody pushed", |text| {
        text.replace(
            &format!("{host}/hello-world:1"),
            &format!("{host}/hello-world:404"),
        )
    });
    let started = Instant::now();
    let ip = walkthrough.cluster.internal_ip();
    // Every poll also asks the app: the old pod must answer all along.
    let answers = std::sync::Mutex::new((0_u32, Vec::<String>::new()));
    let failed = poll_until(
        "the Kustomization fails on the Deployment's rollout",
        FAILURE_DEADLINE,
        || async {
            let answer = http_get(ip, NODE_PORT, "/").await;
            {
                let mut answers = answers.lock().expect("answers lock");
                answers.0 += 1;
                match answer {
                    Ok((200, ref body)) if body == "Hello World\n" => {}
                    other => answers.1.push(format!(
                        "at {:.1}s: {other:?}",
                        started.elapsed().as_secs_f64()
                    )),
                }
            }
            let ks = walkthrough
                .kustomizations()
                .get("hello-world")
                .await
                .map_err(Error::kube("get Kustomization"))?;
            let conditions = ks
                .status
                .as_ref()
                .map(|status| status.conditions.as_slice());
            Ok(conditions
                .and_then(ready_of)
                .filter(|ready| {
                    ready.status == "False" && ready.message.contains("progress deadline")
                })
                .map(|ready| (ready, ks)))
        },
    )
    .await;
    let (asked, wrong) = answers.into_inner().expect("answers lock");
    assert!(
        wrong.is_empty(),
        "the old pod answered Hello World to all {asked} requests during the failed rollout; wrong: {wrong:?}"
    );
    let (ready, ks) = match failed {
        Ok(found) => found,
        Err(error) => panic!("{error}\n{}", walkthrough.state().await),
    };
    let failed_after = started.elapsed();
    assert!(
        ready.message.contains("Deployment") && ready.message.contains("hello-world"),
        "the failure names the Deployment: {}",
        ready.message
    );
    let status = ks.status.expect("status");
    assert_ne!(
        status.last_attempted_revision, status.last_applied_revision,
        "the broken revision is attempted, not recorded as applied"
    );
    // The new pod cannot pull its image; the old ReplicaSet still has its Ready pod.
    let pods = Api::<Pod>::namespaced(client.clone(), APP_NAMESPACE)
        .list(&ListParams::default())
        .await
        .expect("list pods");
    let pull_failures: Vec<String> = pods
        .items
        .iter()
        .filter_map(|pod| {
            let waiting = pod
                .status
                .as_ref()?
                .container_statuses
                .as_ref()?
                .first()?
                .state
                .as_ref()?
                .waiting
                .as_ref()?;
            waiting.reason.clone()
        })
        .collect();
    assert!(
        pull_failures
            .iter()
            .any(|reason| reason == "ImagePullBackOff" || reason == "ErrImagePull"),
        "the new pod waits on its image: {pull_failures:?}"
    );
    let replica_sets = Api::<ReplicaSet>::namespaced(client.clone(), APP_NAMESPACE)
        .list(&ListParams::default())
        .await
        .expect("list ReplicaSets");
    let serving_old = replica_sets.items.iter().any(|rs| {
        let image = rs
            .spec
            .as_ref()
            .and_then(|spec| spec.template.as_ref())
            .and_then(|template| template.spec.as_ref())
            .and_then(|spec| spec.containers[0].image.clone())
            .unwrap_or_default();
        image.ends_with("/hello-world:1")
            && rs
                .status
                .as_ref()
                .and_then(|status| status.ready_replicas)
                .unwrap_or_default()
                == 1
    });
    assert!(serving_old, "the tag-1 ReplicaSet keeps its Ready pod");
    let (status, body) = http_get(walkthrough.cluster.internal_ip(), NODE_PORT, "/")
        .await
        .expect("the old pod answers");
    assert_eq!((status, body.as_str()), (200, "Hello World\n"));
    eprintln!(
        "node rollout: missing tag reported after {:.1}s: {}",
        failed_after.as_secs_f64(),
        ready.message
    );
}

#[tokio::test]
async fn driftless_pod_deleted_mid_sync_is_recreated_and_finishes_the_sync() {
    let Some(walkthrough) = Walkthrough::start().await else {
        return;
    };
    let client = walkthrough.client.clone();
    // One commit whose rollout takes a while: the Kustomization waits on it (wait: true).
    walkthrough.set_message("Hello after a restart");
    walkthrough.push_deployment_change("hello-world: a slow rollout", |text| {
        text.replace(
            "          periodSeconds: 2\n",
            "          periodSeconds: 2\n          initialDelaySeconds: 20\n",
        )
    });
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), APP_NAMESPACE);
    let mid_sync = poll_until("the new revision is being applied", DEADLINE, || async {
        let message = config_maps
            .get("hello-world")
            .await
            .map_err(Error::kube("get ConfigMap"))?
            .data
            .and_then(|data| data.get("message").cloned());
        Ok((message.as_deref() == Some("Hello after a restart")).then_some(()))
    })
    .await;
    if let Err(error) = mid_sync {
        panic!("{error}\n{}", walkthrough.state().await);
    }
    let revision = walkthrough
        .repos()
        .get("hello-world")
        .await
        .ok()
        .as_ref()
        .and_then(artifact_revision)
        .expect("the GitRepository has the new revision");
    let ks = walkthrough
        .kustomizations()
        .get("hello-world")
        .await
        .expect("get Kustomization");
    assert!(
        !applied(&ks, &revision),
        "still syncing when the pod is deleted (the rollout waits 20 s for readiness)"
    );

    let pods: Api<Pod> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let old = driftless_pods(&pods).await;
    assert_eq!(old.len(), 1, "one Driftless pod: {old:?}");
    pods.delete(&old[0], &DeleteParams::default())
        .await
        .expect("delete the Driftless pod");
    let deleted = Instant::now();

    let new_pod = rollout(&client, SYSTEM_NAMESPACE, "driftless").await;
    let new_name = new_pod.metadata.name.clone().unwrap_or_default();
    assert!(!old.contains(&new_name), "a new pod: {new_name}");
    let finished = poll_until(
        "the recreated pod finishes the sync",
        ROLLOUT_DEADLINE,
        || async {
            let ks = walkthrough
                .kustomizations()
                .get("hello-world")
                .await
                .map_err(Error::kube("get Kustomization"))?;
            Ok(applied(&ks, &revision).then_some(()))
        },
    )
    .await;
    if let Err(error) = finished {
        panic!("{error}\n{}", walkthrough.state().await);
    }
    // The new pod is Ready; kube-proxy moves the NodePort's endpoints to it asynchronously.
    let ip = walkthrough.cluster.internal_ip();
    poll_until(
        "NodePort 30001 serving the new message",
        ROLLOUT_DEADLINE,
        || async {
            match http_get(ip, NODE_PORT, "/message").await? {
                (200, body) if body == "Hello after a restart\n" => Ok(Some(())),
                (status, body) => Err(Error::Document {
                    document: format!("GET http://{ip}:{NODE_PORT}/message"),
                    detail: format!("{status}: {body}"),
                }),
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "node rollout: Driftless pod deleted mid-sync, sync finished {:.1}s later by {new_name}",
        deleted.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn two_replicas_with_leader_election_fail_over_when_the_leader_is_killed() {
    let Some(walkthrough) = Walkthrough::start().await else {
        return;
    };
    let client = walkthrough.client.clone();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    deployments
        .patch(
            "driftless",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"spec": {"replicas": 2}})),
        )
        .await
        .expect("scale Driftless to two replicas");
    rollout(&client, SYSTEM_NAMESPACE, "driftless").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let names = driftless_pods(&pods).await;
    assert_eq!(names.len(), 2, "two Driftless pods: {names:?}");

    let leases: Api<Lease> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let holder_pod = |lease: &Lease| {
        lease
            .spec
            .as_ref()
            .and_then(|spec| spec.holder_identity.clone())
            .and_then(|identity| identity.rsplit_once('_').map(|(pod, _)| pod.to_owned()))
    };
    let leader = poll_until("one of the two pods leads", DEADLINE, || async {
        let lease = leases
            .get_opt("driftless-leader-election")
            .await
            .map_err(Error::kube("get the leader Lease"))?;
        Ok(lease
            .as_ref()
            .and_then(holder_pod)
            .filter(|pod| names.contains(pod)))
    })
    .await
    .expect("a leader among the two pods");
    let follower = names
        .iter()
        .find(|name| **name != leader)
        .cloned()
        .expect("the other pod");

    // The ReplicaSet replaces a deleted pod at once, and the replacement is a third
    // candidate. If the dying leader released the Lease, the first candidate to poll takes
    // it (the follower polls every 2 s, a new process at once); if it expired, each waits
    // one lease duration from its own first sight of the last renewal. Either way a
    // replacement starting within about one retry period of the kill may win: correct
    // leader election, but not what this test shows. Cordon the node (as for maintenance)
    // so the replacement stays Pending until the follower has taken over.
    walkthrough
        .cluster
        .set_schedulable(false)
        .await
        .expect("cordon the node");
    // Delete the leader's pod with grace period 0: the API object goes at once. The kubelet
    // still stops the container (TERM, KILL after its 2 s minimum), so the leader may
    // release the Lease on its way out, or not.
    pods.delete(&leader, &DeleteParams::default().grace_period(0))
        .await
        .expect("kill the leader's pod");
    let killed = Instant::now();
    let takeover = poll_until(
        "the other pod takes the Lease",
        Duration::from_secs(90),
        || async {
            let lease = leases
                .get("driftless-leader-election")
                .await
                .map_err(Error::kube("get the leader Lease"))?;
            Ok((holder_pod(&lease).as_deref() == Some(follower.as_str())).then_some(()))
        },
    )
    .await;
    if let Err(error) = takeover {
        panic!("{error}\n{}", walkthrough.state().await);
    }
    let takeover_after = killed.elapsed();
    walkthrough
        .cluster
        .set_schedulable(true)
        .await
        .expect("uncordon the node");

    // The new leader reconciles: a change in git lands in the cluster.
    walkthrough.push_message("Hello from the new leader");
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), APP_NAMESPACE);
    let landed = poll_until(
        "the new leader applies the change",
        ROLLOUT_DEADLINE,
        || async {
            let message = config_maps
                .get("hello-world")
                .await
                .map_err(Error::kube("get ConfigMap"))?
                .data
                .and_then(|data| data.get("message").cloned());
            Ok((message.as_deref() == Some("Hello from the new leader")).then_some(()))
        },
    )
    .await;
    if let Err(error) = landed {
        panic!("{error}\n{}", walkthrough.state().await);
    }
    eprintln!(
        "node rollout: leader {leader} killed, {follower} took over after {:.1}s",
        takeover_after.as_secs_f64()
    );
}

/// Copies `config/samples/hello-world` into `to`, its image pointed at `registry` and
/// its setter at this test's ImagePolicy.
fn copy_sample(to: &Path, registry: &str) {
    let from = repo_root().join("config/samples/hello-world");
    for entry in std::fs::read_dir(&from).expect("read the sample") {
        let entry = entry.expect("sample entry");
        let text = std::fs::read_to_string(entry.path()).expect("read a sample file");
        let text = text
            .replace(
                "127.0.0.1:5000/hello-world:1",
                &format!("{registry}/hello-world:1"),
            )
            .replace(
                "\"driftless-system:hello-world\"",
                &format!("\"{SYSTEM_NAMESPACE}:{AUTOMATION}\""),
            );
        std::fs::write(to.join(entry.file_name()), text).expect("write a sample file");
    }
    let deployment = std::fs::read_to_string(to.join("deployment.yaml")).expect("deployment");
    assert!(
        deployment.contains(&format!(
            "image: {registry}/hello-world:1 # {{\"$imagepolicy\": \"{SYSTEM_NAMESPACE}:{AUTOMATION}\"}}"
        )),
        "the sample's image line is what this test rewrites:\n{deployment}"
    );
}

/// The names of the app's ReplicaSets.
async fn replica_set_names(client: &Client) -> Vec<String> {
    Api::<ReplicaSet>::namespaced(client.clone(), APP_NAMESPACE)
        .list(&ListParams::default())
        .await
        .expect("list ReplicaSets")
        .items
        .into_iter()
        .filter_map(|rs| rs.metadata.name)
        .collect()
}

/// The Driftless pods that are not being deleted.
async fn driftless_pods(pods: &Api<Pod>) -> Vec<String> {
    pods.list(&ListParams::default().labels("app.kubernetes.io/name=driftless"))
        .await
        .expect("list Driftless pods")
        .items
        .into_iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .filter_map(|pod| pod.metadata.name)
        .collect()
}

/// Deletes the image automation objects of this file, finalizers and all.
async fn delete_image_automation(client: &Client) {
    let namespace = SYSTEM_NAMESPACE;
    let updates: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), namespace);
    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), namespace);
    let repositories: Api<driftless_api::ImageRepository> =
        Api::namespaced(client.clone(), namespace);
    force_delete(&updates, AUTOMATION).await;
    force_delete(&policies, AUTOMATION).await;
    force_delete(&repositories, AUTOMATION).await;
}

/// Deletes what an earlier run (of any node test) left: the image automation objects of
/// this file, then what every node test removes.
async fn remove_previous(client: &Client) {
    delete_image_automation(client).await;
    remove_previous_node_run(client).await;
}
