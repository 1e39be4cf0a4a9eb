//! Kustomization `spec.ignore` end to end: fields another field manager took over (an
//! HPA's replicas, an annotation with a `/` in its key) stay as that manager set them
//! across reconciles, while other fields of the same objects are still corrected; bad rules
//! stop the Kustomization before anything is applied or pruned; an ignored change costs one
//! read and one dry-run, no write, and periodic reconciles after it ask nothing (counted by
//! kube-apiserver).

mod common;

use common::*;
use driftless_api::condition;
use driftless_api::{GitRepository, Kustomization};
use driftless_e2e::{ControlPlane, Driftless, GitServer, TestNamespace, poll_until};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
spec:
  replicas: 1
  revisionHistoryLimit: 5
  selector:
    matchLabels: {app: hello}
  template:
    metadata:
      labels: {app: hello}
    spec:
      containers:
      - name: web
        image: ghcr.io/stefanprodan/podinfo:6.7.0
";

const CONFIGMAP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: hello-config
  annotations:
    example.com/owner: git
data:
  greeting: hello
";

/// Replicas of Deployments named hello; the `example.com/owner` annotation of ConfigMaps.
const IGNORE: &str = "  ignore:
  - paths: [/spec/replicas]
    target: {kind: Deployment, name: hel+o}
  - paths: [/metadata/annotations/example.com~1owner]
    target: {version: v1, kind: ConfigMap}
";

struct Setup {
    client: Client,
    ns: TestNamespace,
    server: GitServer,
    url: String,
    _driftless: Driftless,
}

async fn setup(prefix: &str, files: &[(&str, &str)]) -> (Setup, String) {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, prefix).await.unwrap();
    let server = GitServer::start().unwrap();
    server.create_repo("apps").unwrap();
    let url = server.git_url("apps");
    let commit = server.push_files(&url, "main", files, "initial").unwrap();
    let driftless = Driftless::start(plane, &[ns.name()], &["--insecure-apply-as-controller"])
        .await
        .unwrap();
    let repos: Api<GitRepository> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&repos, &format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: apps}}\nspec: {{url: '{url}', interval: 10m, ref: {{branch: main}}}}\n"
    )).await;
    (
        Setup {
            client,
            ns,
            server,
            url,
            _driftless: driftless,
        },
        format!("main@sha1:{commit}"),
    )
}

fn kustomization(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata: {{name: {name}}}\nspec:\n  interval: 10m\n  prune: true\n  path: ./deploy\n  sourceRef: {{kind: GitRepository, name: apps}}\n{extra}"
    )
}

/// Asks for a reconcile of the Kustomization and waits until it was handled and Ready.
async fn reconcile(api: &Api<Kustomization>, name: &str, token: &str) {
    let patch = serde_json::json!({"metadata": {"annotations": {"reconcile.driftless.dev/requestedAt": token}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_ks(api, name, &format!("reconcile {token} handled"), |ks| {
        ks.status.as_ref().is_some_and(|st| {
            st.reconcile_request.last_handled_reconcile_at.as_deref() == Some(token)
                && condition::is_ready(&st.conditions)
        })
    })
    .await;
}

/// Server-side apply of `patch` by field manager `manager`, taking ownership (force).
async fn apply_as<K>(api: &Api<K>, name: &str, manager: &str, patch: serde_json::Value)
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::apply(manager).force(),
        &Patch::Apply(&patch),
    )
    .await
    .unwrap_or_else(|e| panic!("{manager} applying {name}: {e}"));
}

/// Whether field manager `manager` owns `fields` (a path of `f:` keys) of the object.
fn owns(meta: &kube::api::ObjectMeta, manager: &str, fields: &[&str]) -> bool {
    meta.managed_fields
        .iter()
        .flatten()
        .filter(|entry| entry.manager.as_deref() == Some(manager))
        .filter_map(|entry| entry.fields_v1.as_ref())
        .any(|fields_v1| {
            fields
                .iter()
                .try_fold(&fields_v1.0, |node, key| node.get(*key))
                .is_some()
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn ignored_fields_stay_with_their_other_manager() {
    let (s, rev1) = setup(
        "ks-ignore",
        &[
            ("deploy/deployment.yaml", DEPLOYMENT),
            ("deploy/configmap.yaml", CONFIGMAP),
        ],
    )
    .await;
    let ns = s.ns.name();
    let ks_api: Api<Kustomization> = Api::namespaced(s.client.clone(), ns);
    apply_yaml(&ks_api, &kustomization("app", IGNORE)).await;
    wait_ks(&ks_api, "app", "the first revision applied", |k| {
        applied(k, &rev1)
    })
    .await;
    let deployments: Api<Deployment> = Api::namespaced(s.client.clone(), ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(s.client.clone(), ns);

    // Created with the ignored fields: rules only apply to objects that exist.
    let deployment = deployments.get("hello").await.unwrap();
    assert_eq!(deployment.spec.as_ref().unwrap().replicas, Some(1));
    assert!(owns(
        &deployment.metadata,
        "driftless",
        &["f:spec", "f:replicas"]
    ));
    let cm = configmaps.get("hello-config").await.unwrap();
    assert_eq!(
        cm.metadata.annotations.as_ref().unwrap()["example.com/owner"],
        "git"
    );

    // Another manager takes replicas (ignored) and revisionHistoryLimit (not ignored); a
    // third takes the annotation (ignored) and a data key (not ignored).
    apply_as(
        &deployments,
        "hello",
        "hpa",
        serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "hello"}, "spec": {"replicas": 3, "revisionHistoryLimit": 2}}),
    )
    .await;
    apply_as(
        &configmaps,
        "hello-config",
        "cert",
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "hello-config", "annotations": {"example.com/owner": "cert-manager"}},
            "data": {"greeting": "edited"}}),
    )
    .await;
    reconcile(&ks_api, "app", "after-hpa").await;
    // The drift watch may have corrected them already; the requested reconcile surely did.
    poll_until("non-ignored fields corrected", DEADLINE, || async {
        let d = deployments.get("hello").await.unwrap();
        let cm = configmaps.get("hello-config").await.unwrap();
        let corrected = d.spec.unwrap().revision_history_limit == Some(5)
            && cm
                .data
                .unwrap_or_default()
                .get("greeting")
                .map(String::as_str)
                == Some("hello");
        Ok(corrected.then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let deployment = deployments.get("hello").await.unwrap();
    assert_eq!(
        deployment.spec.as_ref().unwrap().replicas,
        Some(3),
        "the ignored replicas stay as hpa set them"
    );
    assert!(owns(&deployment.metadata, "hpa", &["f:spec", "f:replicas"]));
    assert!(
        !owns(&deployment.metadata, "driftless", &["f:spec", "f:replicas"]),
        "driftless no longer claims replicas"
    );
    assert!(owns(
        &deployment.metadata,
        "driftless",
        &["f:spec", "f:revisionHistoryLimit"]
    ));
    let cm = configmaps.get("hello-config").await.unwrap();
    assert_eq!(
        cm.metadata.annotations.as_ref().unwrap()["example.com/owner"],
        "cert-manager",
        "the ignored annotation (`~1` in its pointer) stays"
    );

    // Later reconciles (full ones: requested) leave both objects alone: no write at all.
    let versions = (
        deployment.metadata.resource_version.clone(),
        cm.metadata.resource_version.clone(),
    );
    reconcile(&ks_api, "app", "steady").await;
    reconcile(&ks_api, "app", "steady-again").await;
    let deployment = deployments.get("hello").await.unwrap();
    let cm = configmaps.get("hello-config").await.unwrap();
    assert_eq!(
        (
            deployment.metadata.resource_version.clone(),
            cm.metadata.resource_version.clone()
        ),
        versions,
        "an ignored difference is no drift"
    );
    assert_eq!(deployment.spec.unwrap().replicas, Some(3));

    // A rule that does not select the object changes nothing for it: once the ConfigMap's
    // rule is gone, its annotation is corrected again.
    let only_replicas = "  ignore:\n  - paths: [/spec/replicas]\n    target: {kind: Deployment}\n";
    apply_yaml(&ks_api, &kustomization("app", only_replicas)).await;
    poll_until(
        "annotation corrected without its rule",
        DEADLINE,
        || async {
            let cm = configmaps.get("hello-config").await.unwrap();
            let owner = cm.metadata.annotations.unwrap_or_default();
            Ok((owner.get("example.com/owner").map(String::as_str) == Some("git")).then_some(()))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        deployments
            .get("hello")
            .await
            .unwrap()
            .spec
            .unwrap()
            .replicas,
        Some(3)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_ignore_rules_apply_and_prune_nothing() {
    let (s, rev1) = setup(
        "ks-ignore-bad",
        &[
            ("deploy/deployment.yaml", DEPLOYMENT),
            ("deploy/configmap.yaml", CONFIGMAP),
        ],
    )
    .await;
    let ns = s.ns.name();
    let ks_api: Api<Kustomization> = Api::namespaced(s.client.clone(), ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(s.client.clone(), ns);
    let deployments: Api<Deployment> = Api::namespaced(s.client.clone(), ns);

    // A pointer without its leading '/': refused before anything is applied.
    let bad_pointer = "  ignore:\n  - paths: [/spec/replicas]\n  - paths: [/data, spec/replicas]\n";
    apply_yaml(&ks_api, &kustomization("bad", bad_pointer)).await;
    let ks = wait_ks(&ks_api, "bad", "the bad pointer reported", |k| {
        failing_with(
            k.status.as_ref().map(|st| st.conditions.as_slice()),
            "spec.ignore[1].paths[1]",
        )
    })
    .await;
    let st = ks.status.unwrap();
    assert_eq!(ready_of(&st.conditions).unwrap().reason, "InvalidSpec");
    assert!(
        condition::find(&st.conditions, condition::STALLED).is_some_and(|c| c.status == "True"),
        "only a spec change helps: {:?}",
        st.conditions
    );
    assert!(st.inventory.is_none() && st.last_applied_revision.is_none());
    assert!(configmaps.get_opt("hello-config").await.unwrap().is_none());
    assert!(deployments.get_opt("hello").await.unwrap().is_none());
    ks_api.delete("bad", &Default::default()).await.unwrap();

    // Applied with valid rules; then a commit removes the ConfigMap while the rules get an
    // invalid regex: nothing is pruned, the message names the field.
    apply_yaml(&ks_api, &kustomization("app", IGNORE)).await;
    wait_ks(&ks_api, "app", "the first revision applied", |k| {
        applied(k, &rev1)
    })
    .await;
    let commit = s
        .server
        .push_change(
            &s.url,
            "main",
            &[],
            &["deploy/configmap.yaml"],
            "drop config",
        )
        .unwrap();
    let bad_regex = "  ignore:\n  - paths: [/spec/replicas]\n    target: {kind: 'Deploy(ment'}\n";
    apply_yaml(&ks_api, &kustomization("app", bad_regex)).await;
    let repos: Api<GitRepository> = Api::namespaced(s.client.clone(), ns);
    let request = serde_json::json!({"metadata": {"annotations": {"reconcile.driftless.dev/requestedAt": "drop"}}});
    repos
        .patch("apps", &PatchParams::default(), &Patch::Merge(&request))
        .await
        .unwrap();
    wait_repo(&repos, "apps", "the commit fetched", |r| {
        artifact_revision(r).as_deref() == Some(format!("main@sha1:{commit}").as_str())
    })
    .await;
    reconcile_failing(&ks_api, "app", "after-drop", "spec.ignore[0].target.kind").await;
    let ks = ks_api.get("app").await.unwrap();
    let st = ks.status.unwrap();
    let ready = ready_of(&st.conditions).unwrap();
    assert!(ready.message.contains("Deploy(ment"), "{}", ready.message);
    assert_eq!(st.last_applied_revision.as_deref(), Some(rev1.as_str()));
    assert_eq!(st.inventory.unwrap().entries.len(), 2, "inventory kept");
    assert!(
        configmaps.get_opt("hello-config").await.unwrap().is_some(),
        "nothing pruned while the rules are invalid"
    );

    // An identity path is refused with its reason.
    let identity = "  ignore:\n  - paths: [/metadata/name]\n";
    apply_yaml(&ks_api, &kustomization("app", identity)).await;
    reconcile_failing(&ks_api, "app", "identity", "spec.ignore[0].paths[0]").await;
    let ks = ks_api.get("app").await.unwrap();
    let message = ready_of(&ks.status.unwrap().conditions).unwrap().message;
    assert!(message.contains("cannot be ignored"), "{message}");
    assert!(configmaps.get_opt("hello-config").await.unwrap().is_some());
}

/// Asks for a reconcile and waits until it was handled with Ready=False naming `needle`.
async fn reconcile_failing(api: &Api<Kustomization>, name: &str, token: &str, needle: &str) {
    let patch = serde_json::json!({"metadata": {"annotations": {"reconcile.driftless.dev/requestedAt": token}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_ks(
        api,
        name,
        &format!("reconcile {token} failing with {needle}"),
        |ks| {
            ks.status.as_ref().is_some_and(|st| {
                st.reconcile_request.last_handled_reconcile_at.as_deref() == Some(token)
                    && failing_with(Some(&st.conditions), needle)
            })
        },
    )
    .await;
}

const STATEFULSET: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  replicas: 1
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: ghcr.io/stefanprodan/podinfo:6.7.0
";

/// Requests for StatefulSets (which only this test applies) so far, counted by
/// kube-apiserver: (writes, dry-runs, reads).
async fn statefulset_requests(client: &Client) -> (u64, u64, u64) {
    let text = client
        .request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
        .await
        .expect("kube-apiserver /metrics");
    let (mut writes, mut dry_runs, mut reads) = (0, 0, 0);
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once('}') else {
            continue;
        };
        if !labels.contains("resource=\"statefulsets\"")
            || (labels.contains("subresource=\"") && !labels.contains("subresource=\"\""))
        {
            continue;
        }
        let count = value.trim().parse::<f64>().unwrap_or(0.0) as u64;
        let verb = labels
            .split(',')
            .find_map(|kv| kv.strip_prefix("verb=\""))
            .map(|v| v.trim_end_matches('"'))
            .unwrap_or_default();
        if !labels.contains("dry_run=\"\"") && labels.contains("dry_run=\"") {
            dry_runs += count;
        } else if ["APPLY", "PATCH", "POST", "PUT", "DELETE"].contains(&verb) {
            writes += count;
        } else if verb == "GET" {
            reads += count;
        }
    }
    (writes, dry_runs, reads)
}

/// Successful or failed Kustomization reconciles of this test's controller so far.
async fn reconciles(driftless: &Driftless) -> u64 {
    let (_, text) = driftless.get_metrics("/metrics").await.unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("driftless_reconcile_total{") && l.contains("kind=\"Kustomization\"")
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Waits for `times` more reconciles; returns the StatefulSet requests made meanwhile.
async fn over_reconciles(client: &Client, driftless: &Driftless, times: u64) -> (u64, u64, u64) {
    let before = statefulset_requests(client).await;
    let start = reconciles(driftless).await;
    poll_until("periodic reconciles", DEADLINE, || async {
        Ok((reconciles(driftless).await >= start + times).then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let after = statefulset_requests(client).await;
    (after.0 - before.0, after.1 - before.1, after.2 - before.2)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ignored_change_costs_one_dry_run_then_nothing() {
    let (s, rev1) = setup(
        "ks-ignore-quiet",
        &[("deploy/statefulset.yaml", STATEFULSET)],
    )
    .await;
    let ns = s.ns.name();
    let ks_api: Api<Kustomization> = Api::namespaced(s.client.clone(), ns);
    let start = statefulset_requests(&s.client).await;
    apply_yaml(
        &ks_api,
        "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata: {name: db}\nspec:\n  interval: 2s\n  prune: true\n  path: ./deploy\n  sourceRef: {kind: GitRepository, name: apps}\n  ignore:\n  - paths: [/spec/replicas]\n    target: {kind: StatefulSet}\n",
    )
    .await;
    wait_ks(&ks_api, "db", "the first revision applied", |k| {
        applied(k, &rev1)
    })
    .await;
    let created = statefulset_requests(&s.client).await;
    assert!(
        created.0 > start.0 && created.1 > start.1,
        "the counts see the first apply: {start:?} -> {created:?}"
    );
    let steady = over_reconciles(&s.client, &s._driftless, 3).await;
    assert_eq!(
        steady,
        (0, 0, 0),
        "steady before the change (writes, dry-runs, reads)"
    );

    let sets: Api<k8s_openapi::api::apps::v1::StatefulSet> = Api::namespaced(s.client.clone(), ns);
    let before = statefulset_requests(&s.client).await;
    let hpa_writes = 1;
    apply_as(
        &sets,
        "db",
        "hpa",
        serde_json::json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db"}, "spec": {"replicas": 4}}),
    )
    .await;
    // The change wakes the drift watch: the object is read and dry-run, not written.
    over_reconciles(&s.client, &s._driftless, 2).await;
    let now = statefulset_requests(&s.client).await;
    let after_change = (
        now.0 - before.0 - hpa_writes,
        now.1 - before.1,
        now.2 - before.2,
    );
    eprintln!("after an ignored change (writes, dry-runs, reads): {after_change:?}");
    assert_eq!(after_change.0, 0, "no write for an ignored change");
    assert!(
        after_change.1 >= 1,
        "the changed object is dry-run: {after_change:?}"
    );
    // Then it is trusted again: periodic reconciles ask nothing.
    let quiet = over_reconciles(&s.client, &s._driftless, 4).await;
    eprintln!("4 periodic reconciles later (writes, dry-runs, reads): {quiet:?}");
    assert_eq!(quiet, (0, 0, 0), "quiet again after the ignored change");
    let live = sets.get("db").await.unwrap();
    assert_eq!(live.spec.unwrap().replicas, Some(4));
}
