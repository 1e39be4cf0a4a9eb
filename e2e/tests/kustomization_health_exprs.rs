//! `spec.healthCheckExprs` end to end: a custom resource (of a CRD the test creates) is judged
//! by CEL expressions on the status the test sets, where kstatus alone would call it healthy;
//! an invalid expression fails the Kustomization naming it, before anything is applied.

mod common;

use common::*;
use driftless_api::{GitRepository, Kustomization};
use driftless_e2e::{ControlPlane, Driftless, GitServer, TestNamespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::{Api, Client};

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.e2e.driftless.dev
spec:
  group: e2e.driftless.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
";

fn widget(name: &str) -> String {
    format!(
        "apiVersion: e2e.driftless.dev/v1\nkind: Widget\nmetadata:\n  name: {name}\nspec:\n  size: 3\n"
    )
}

fn kustomization(name: &str, path: &str, current: &str) -> String {
    format!(
        "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata: {{name: {name}}}\nspec:\n  interval: 10m\n  retryInterval: 2s\n  timeout: 20s\n  prune: true\n  wait: true\n  path: {path}\n  sourceRef: {{kind: GitRepository, name: apps}}\n  healthCheckExprs:\n  - apiVersion: e2e.driftless.dev/v1\n    kind: Widget\n    current: {}\n    failed: \"status.phase == 'Failed'\"\n",
        serde_json::to_string(current).unwrap()
    )
}

fn widgets(client: &Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("e2e.driftless.dev", "v1", "Widget");
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk))
}

async fn set_phase(api: &Api<DynamicObject>, name: &str, phase: &str) {
    let patch = serde_json::json!({
        "apiVersion": "e2e.driftless.dev/v1", "kind": "Widget",
        "status": {"phase": phase}
    });
    api.patch_status(
        name,
        &PatchParams::apply("e2e-widget-controller").force(),
        &Patch::Apply(&patch),
    )
    .await
    .unwrap_or_else(|e| panic!("setting status of Widget {name}: {e}"));
}

fn ready_reason(ks: &Kustomization) -> Option<(String, String, String)> {
    let ready = ready_of(&ks.status.as_ref()?.conditions)?;
    Some((ready.status, ready.reason, ready.message))
}

#[tokio::test(flavor = "multi_thread")]
async fn cel_expressions_judge_a_custom_resource_and_invalid_ones_are_refused() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    apply_yaml(&crds, CRD).await;
    driftless_e2e::wait_established(&client, "widgets.e2e.driftless.dev", DEADLINE)
        .await
        .unwrap();
    let ns = TestNamespace::create(plane, "health-exprs").await.unwrap();
    let server = GitServer::start().unwrap();
    server.create_repo("apps").unwrap();
    let url = server.git_url("apps");
    server
        .push_files(
            &url,
            "main",
            &[
                ("cel/widget.yaml", &widget("w1")),
                ("bad/widget.yaml", &widget("w2")),
            ],
            "widgets",
        )
        .unwrap();
    let _driftless = Driftless::start(plane, &[ns.name()], &["--insecure-apply-as-controller"])
        .await
        .unwrap();
    let repos: Api<GitRepository> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&repos, &format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: apps}}\nspec: {{url: '{url}', interval: 10m, ref: {{branch: main}}}}\n"
    )).await;
    let kss: Api<Kustomization> = Api::namespaced(client.clone(), ns.name());
    let w = widgets(&client, ns.name());

    // Applied, then waited on: kstatus would call a Widget without status Current at once;
    // the expressions keep it in progress until the status says otherwise.
    apply_yaml(
        &kss,
        &kustomization("cel", "./cel", "status.phase == 'Ready'"),
    )
    .await;
    wait_ks(&kss, "cel", "Widget applied, health in progress", |ks| {
        ready_reason(ks).is_some_and(|(status, _, _)| status == "Unknown")
    })
    .await;
    assert!(w.get_opt("w1").await.unwrap().is_some());
    // Failed by the `failed` expression: kstatus knows nothing of `phase`.
    set_phase(&w, "w1", "Failed").await;
    let failed = wait_ks(&kss, "cel", "Ready=False by the failed expression", |ks| {
        ready_reason(ks).is_some_and(|(status, reason, message)| {
            status == "False" && reason == "HealthCheckFailed" && message.contains("Widget")
        })
    })
    .await;
    let (_, _, message) = ready_reason(&failed).unwrap();
    assert!(message.contains("'failed' is true"), "{message}");
    // Healthy by `current` on the next retry.
    set_phase(&w, "w1", "Ready").await;
    wait_ks(&kss, "cel", "Ready=True by the current expression", |ks| {
        ready_reason(ks).is_some_and(|(status, _, _)| status == "True")
    })
    .await;

    // An expression that does not compile: Ready=False naming it, nothing applied.
    apply_yaml(&kss, &kustomization("bad", "./bad", "status.phase ==")).await;
    let bad = wait_ks(&kss, "bad", "Ready=False naming the expression", |ks| {
        ready_reason(ks).is_some_and(|(status, _, message)| {
            status == "False"
                && message.contains("healthCheckExprs[0].current")
                && message.contains("'status.phase =='")
        })
    })
    .await;
    assert!(ready_reason(&bad).is_some());
    assert!(w.get_opt("w2").await.unwrap().is_none(), "nothing applied");
}
