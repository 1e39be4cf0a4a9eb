//! Kustomization end to end: the real `driftless` binary applies a git repository to the
//! loopback control plane; changes, deletions, reverts, drift, bad input, dependencies,
//! substitution, suspend and deletion behave as a Flux user expects.

mod common;

use std::time::{Duration, Instant};

use common::*;
use driftless_api::{GitRepository, Kustomization};
use driftless_e2e::{ControlPlane, Driftless, GitServer, TestNamespace, poll_until};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
spec:
  replicas: 1
  selector:
    matchLabels: {app: hello}
  template:
    metadata:
      labels: {app: hello}
    spec:
      containers:
      - name: web
        image: ghcr.io/stefanprodan/podinfo:6.7.0
        ports:
        - containerPort: 3000
";

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: hello
spec:
  type: NodePort
  selector: {app: hello}
  ports:
  - port: 3000
    targetPort: 3000
";

const CONFIGMAP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: hello-config
data:
  greeting: hello
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

/// Successful Kustomization reconciles so far, from the controller's metrics.
async fn reconciles(driftless: &Driftless) -> u64 {
    let (_, body) = driftless.get_metrics("/metrics").await.unwrap();
    body.lines()
        .find(|l| {
            l.starts_with("driftless_reconcile_total{kind=\"Kustomization\",result=\"success\"}")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn kustomization(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata: {{name: {name}}}\nspec:\n  interval: 10m\n  prune: true\n  sourceRef: {{kind: GitRepository, name: apps}}\n{extra}"
    )
}

/// Asks the GitRepository to fetch now (the test's stand-in for a webhook or the interval).
async fn request_fetch(s: &Setup, token: &str) {
    let repos: Api<GitRepository> = Api::namespaced(s.client.clone(), s.ns.name());
    let patch = serde_json::json!({"metadata": {"annotations": {"reconcile.driftless.dev/requestedAt": token}}});
    repos
        .patch("apps", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

async fn image_of(api: &Api<Deployment>) -> Option<String> {
    let d = api.get_opt("hello").await.unwrap()?;
    d.spec?.template.spec?.containers.first()?.image.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn hello_world_follows_git_and_corrects_drift() {
    let (s, rev1) = setup(
        "ks-hello",
        &[
            ("deploy/deployment.yaml", DEPLOYMENT),
            ("deploy/service.yaml", SERVICE),
            ("deploy/configmap.yaml", CONFIGMAP),
        ],
    )
    .await;
    let ks_api: Api<Kustomization> = Api::namespaced(s.client.clone(), s.ns.name());
    apply_yaml(&ks_api, &kustomization("hello", "  path: ./deploy\n")).await;
    let ks = wait_ks(&ks_api, "hello", "the first revision applied", |k| {
        applied(k, &rev1)
    })
    .await;
    let ready = ready_of(&ks.status.as_ref().unwrap().conditions).unwrap();
    assert_eq!(ready.message, format!("Applied revision: {rev1}"));
    let inventory: Vec<String> = ks
        .status
        .unwrap()
        .inventory
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.id)
        .collect();
    let ns = s.ns.name();
    assert_eq!(
        inventory,
        vec![
            format!("{ns}_hello-config__ConfigMap"),
            format!("{ns}_hello__Service"),
            format!("{ns}_hello_apps_Deployment")
        ]
    );

    let deployments: Api<Deployment> = Api::namespaced(s.client.clone(), ns);
    let services: Api<Service> = Api::namespaced(s.client.clone(), ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(s.client.clone(), ns);
    let svc = services.get("hello").await.unwrap();
    // The shared plane keeps Services of earlier runs (no namespace controller), so the
    // node port is left to the API server here; config/samples/hello-world pins 30001.
    let spec = svc.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("NodePort"));
    assert!(spec.ports.unwrap()[0].node_port.is_some());
    let labels = deployments
        .get("hello")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap();
    assert_eq!(
        labels
            .get("kustomize.driftless.dev/name")
            .map(String::as_str),
        Some("hello")
    );
    assert_eq!(
        labels
            .get("kustomize.driftless.dev/namespace")
            .map(String::as_str),
        Some(ns)
    );

    // A new commit changes the image: the cluster follows.
    let new_image = DEPLOYMENT.replace("podinfo:6.7.0", "podinfo:6.7.1");
    let c2 = s
        .server
        .push_files(
            &s.url,
            "main",
            &[("deploy/deployment.yaml", &new_image)],
            "bump image",
        )
        .unwrap();
    let started = Instant::now();
    request_fetch(&s, "bump").await;
    wait_ks(&ks_api, "hello", "the image bump applied", |k| {
        applied(k, &format!("main@sha1:{c2}"))
    })
    .await;
    let latency = started.elapsed();
    assert_eq!(
        image_of(&deployments).await.as_deref(),
        Some("ghcr.io/stefanprodan/podinfo:6.7.1")
    );
    eprintln!("commit-to-applied latency after requestedAt: {latency:?}");
    assert!(
        latency < Duration::from_secs(10),
        "commit-to-applied took {latency:?}"
    );

    // A deleted file is pruned.
    let c3 = s
        .server
        .push_change(
            &s.url,
            "main",
            &[],
            &["deploy/configmap.yaml"],
            "drop config",
        )
        .unwrap();
    request_fetch(&s, "prune").await;
    wait_ks(&ks_api, "hello", "the deletion applied", |k| {
        applied(k, &format!("main@sha1:{c3}"))
    })
    .await;
    poll_until("ConfigMap pruned", DEADLINE, || async {
        Ok(configmaps
            .get_opt("hello-config")
            .await
            .unwrap()
            .is_none()
            .then_some(()))
    })
    .await
    .unwrap();

    // git revert brings it back.
    let c4 = s
        .server
        .push_files(
            &s.url,
            "main",
            &[("deploy/configmap.yaml", CONFIGMAP)],
            "Revert \"drop config\"",
        )
        .unwrap();
    request_fetch(&s, "revert").await;
    wait_ks(&ks_api, "hello", "the revert applied", |k| {
        applied(k, &format!("main@sha1:{c4}"))
    })
    .await;
    assert!(configmaps.get_opt("hello-config").await.unwrap().is_some());

    // A manual scale is reverted (drift correction), within seconds.
    let scale = serde_json::json!({"spec": {"replicas": 5}});
    deployments
        .patch("hello", &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .unwrap();
    let started = Instant::now();
    poll_until("manual scale reverted", Duration::from_secs(30), || async {
        let d = deployments.get("hello").await.unwrap();
        Ok((d.spec.unwrap().replicas == Some(1)).then_some(()))
    })
    .await
    .unwrap();
    eprintln!("drift (scale) reverted in {:?}", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drift took {:?} to revert",
        started.elapsed()
    );

    // A manual delete is reverted too.
    services
        .delete("hello", &DeleteParams::default())
        .await
        .unwrap();
    poll_until(
        "deleted Service recreated",
        Duration::from_secs(30),
        || async { Ok(services.get_opt("hello").await.unwrap().map(|_| ())) },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_changes_nothing_and_says_what_failed() {
    let (s, rev1) = setup(
        "ks-bad",
        &[
            ("deploy/deployment.yaml", DEPLOYMENT),
            ("deploy/configmap.yaml", CONFIGMAP),
        ],
    )
    .await;
    let ks_api: Api<Kustomization> = Api::namespaced(s.client.clone(), s.ns.name());
    apply_yaml(&ks_api, &kustomization("apps", "  path: ./deploy\n")).await;
    wait_ks(&ks_api, "apps", "the first revision applied", |k| {
        applied(k, &rev1)
    })
    .await;
    let configmaps: Api<ConfigMap> = Api::namespaced(s.client.clone(), s.ns.name());

    // Broken YAML and a removed file in one commit: nothing is pruned, the message names the file.
    let broken = s
        .server
        .push_change(
            &s.url,
            "main",
            &[(
                "deploy/broken.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n",
            )],
            &["deploy/configmap.yaml"],
            "broken",
        )
        .unwrap();
    request_fetch(&s, "broken").await;
    let ks = wait_ks(&ks_api, "apps", "the build failure reported", |k| {
        failing_with(
            k.status.as_ref().map(|st| st.conditions.as_slice()),
            "broken.yaml",
        )
    })
    .await;
    let st = ks.status.unwrap();
    assert_eq!(ready_of(&st.conditions).unwrap().reason, "BuildFailed");
    assert_eq!(
        st.last_applied_revision.as_deref(),
        Some(rev1.as_str()),
        "lastAppliedRevision stays"
    );
    assert_eq!(
        st.last_attempted_revision.as_deref(),
        Some(format!("main@sha1:{broken}").as_str())
    );
    assert!(
        configmaps.get_opt("hello-config").await.unwrap().is_some(),
        "nothing pruned after a failed build"
    );

    // An object the API server refuses: Ready=False naming it, the valid objects untouched.
    let bad_deploy = DEPLOYMENT.replace("replicas: 1", "replicas: -3");
    let changed_cm = CONFIGMAP.replace("greeting: hello", "greeting: changed");
    let refused = s
        .server
        .push_change(
            &s.url,
            "main",
            &[
                ("deploy/deployment.yaml", &bad_deploy),
                ("deploy/configmap.yaml", &changed_cm),
            ],
            &["deploy/broken.yaml"],
            "refused",
        )
        .unwrap();
    request_fetch(&s, "refused").await;
    let ks = wait_ks(&ks_api, "apps", "the refused object reported", |k| {
        k.status.as_ref().is_some_and(|st| {
            st.last_attempted_revision.as_deref() == Some(format!("main@sha1:{refused}").as_str())
        }) && failing_with(
            k.status.as_ref().map(|st| st.conditions.as_slice()),
            "Deployment/",
        )
    })
    .await;
    let ready = ready_of(&ks.status.unwrap().conditions).unwrap();
    assert!(
        ready
            .message
            .contains(&format!("Deployment/{}/hello", s.ns.name())),
        "{}",
        ready.message
    );
    assert_eq!(ready.reason, "ReconciliationFailed");
    let cm = configmaps.get("hello-config").await.unwrap();
    assert_eq!(
        cm.data.unwrap()["greeting"],
        "hello",
        "nothing applied when the dry-run fails"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn depends_on_substitution_suspend_and_delete() {
    let templated = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-${env}\ndata:\n  greeting: hello ${who:=world}\n  literal: $${kept}\n";
    let (s, rev) = setup(
        "ks-deps",
        &[
            ("base/configmap.yaml", CONFIGMAP),
            ("templated/cm.yaml", templated),
        ],
    )
    .await;
    let ns = s.ns.name().to_owned();
    let configmaps: Api<ConfigMap> = Api::namespaced(s.client.clone(), &ns);
    apply_yaml(
        &configmaps,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: vars}\ndata: {env: prod}\n",
    )
    .await;
    let ks_api: Api<Kustomization> = Api::namespaced(s.client.clone(), &ns);

    // "second" depends on "first", which does not exist yet.
    apply_yaml(&ks_api, &kustomization("second", "  path: ./templated\n  dependsOn: [{name: first}]\n  postBuild:\n    substituteFrom: [{kind: ConfigMap, name: vars}]\n")).await;
    let waiting = wait_ks(&ks_api, "second", "DependencyNotReady", |k| {
        failing_with(
            k.status.as_ref().map(|st| st.conditions.as_slice()),
            "first",
        )
    })
    .await;
    assert_eq!(
        ready_of(&waiting.status.unwrap().conditions)
            .unwrap()
            .reason,
        "DependencyNotReady"
    );
    assert!(
        configmaps.get_opt("settings-prod").await.unwrap().is_none(),
        "nothing applied before the dependency is ready"
    );
    apply_yaml(&ks_api, &kustomization("first", "  path: ./base\n")).await;
    wait_ks(&ks_api, "first", "first applied", |k| applied(k, &rev)).await;
    wait_ks(&ks_api, "second", "second applied after first", |k| {
        applied(k, &rev)
    })
    .await;
    let cm = configmaps.get("settings-prod").await.unwrap();
    let data = cm.data.unwrap();
    assert_eq!(data["greeting"], "hello world", "default used");
    assert_eq!(data["literal"], "${kept}", "escaped variable left literal");

    // Suspend: drift is left alone. Wait until the controller reports the suspension, edit by
    // hand, then make it reconcile (a request) and see the edit survive that reconcile.
    apply_yaml(
        &ks_api,
        &kustomization("first", "  path: ./base\n  suspend: true\n"),
    )
    .await;
    let gauge = format!(
        "driftless_resource_suspended{{kind=\"Kustomization\",name=\"first\",namespace=\"{ns}\"}} 1"
    );
    poll_until("suspension observed", DEADLINE, || async {
        Ok(s._driftless
            .get_metrics("/metrics")
            .await?
            .1
            .contains(&gauge)
            .then_some(()))
    })
    .await
    .unwrap();
    let before = reconciles(&s._driftless).await;
    let patch = serde_json::json!({"data": {"greeting": "edited by hand"}});
    configmaps
        .patch(
            "hello-config",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
    let request = serde_json::json!({"metadata": {"annotations": {"reconcile.driftless.dev/requestedAt": "while-suspended"}}});
    ks_api
        .patch("first", &PatchParams::default(), &Patch::Merge(&request))
        .await
        .unwrap();
    poll_until("a reconcile while suspended", DEADLINE, || async {
        Ok((reconciles(&s._driftless).await > before).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(
        configmaps.get("hello-config").await.unwrap().data.unwrap()["greeting"],
        "edited by hand"
    );
    apply_yaml(
        &ks_api,
        &kustomization("first", "  path: ./base\n  suspend: false\n"),
    )
    .await;
    poll_until("resume corrects the edit", DEADLINE, || async {
        let cm = configmaps.get("hello-config").await.unwrap();
        Ok((cm.data.unwrap()["greeting"] == "hello").then_some(()))
    })
    .await
    .unwrap();

    // Delete with prune: its objects go. Delete with prune false: they stay.
    apply_yaml(&ks_api, &kustomization("second", "  path: ./templated\n  prune: false\n  dependsOn: [{name: first}]\n  postBuild:\n    substituteFrom: [{kind: ConfigMap, name: vars}]\n").replace("  prune: true\n", "")).await;
    ks_api
        .delete("second", &DeleteParams::default())
        .await
        .unwrap();
    ks_api
        .delete("first", &DeleteParams::default())
        .await
        .unwrap();
    poll_until("both Kustomizations gone", DEADLINE, || async {
        Ok((ks_api.get_opt("first").await.unwrap().is_none()
            && ks_api.get_opt("second").await.unwrap().is_none())
        .then_some(()))
    })
    .await
    .unwrap();
    assert!(
        configmaps.get_opt("hello-config").await.unwrap().is_none(),
        "prune: true deletes the inventory"
    );
    assert!(
        configmaps.get_opt("settings-prod").await.unwrap().is_some(),
        "prune: false orphans"
    );
}
