//! `spec.ignore`: ignored fields another manager changed are no drift, and are released to
//! (or kept at the value of) that manager when something else is corrected.

use std::sync::Arc;

use driftless_api::kustomize::{IgnoreRule, Selector};
use driftless_apply::{Action, IgnoreRules};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::{applier, deployment, get, options, owner, setup};

fn owns(live: &Value, manager: &str, field: &str) -> bool {
    live["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["manager"] == manager)
        .any(|entry| entry["fieldsV1"]["f:spec"].get(field).is_some())
}

async fn live(client: &kube::Client, ns: &str) -> Value {
    get(
        client,
        "apps/v1",
        "Deployment",
        "deployments",
        Some(ns),
        "web",
    )
    .await
    .expect("web exists")
}

#[tokio::test]
async fn ignored_replicas_stay_with_the_other_manager() {
    let (_plane, client, namespace) = setup("ssa-ignore").await;
    let ns = namespace.name();
    let engine = applier(&client);
    let mut options = options(ns);
    options.ignore = Arc::new(
        IgnoreRules::compile(&[IgnoreRule {
            paths: vec!["/spec/replicas".into()],
            target: Some(Selector {
                kind: Some("Deployment".into()),
                ..Selector::default()
            }),
        }])
        .expect("valid rules"),
    );
    let manifest = deployment("web", "nginx:1");
    let created = engine
        .apply(&owner(ns), vec![manifest.clone()], &options)
        .await
        .expect("create");
    assert_eq!(created.changes[0].action, Action::Created);
    assert_eq!(
        live(&client, ns).await["spec"]["replicas"],
        1,
        "created whole"
    );

    // An apply manager takes replicas: no drift, no write.
    let deployments = kube::Api::<Deployment>::namespaced(client.clone(), ns);
    deployments
        .patch(
            "web",
            &PatchParams::apply("hpa").force(),
            &Patch::Apply(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web"}, "spec": {"replicas": 3}})),
        )
        .await
        .expect("hpa applies");
    let before = live(&client, ns).await;
    let again = engine
        .apply(&owner(ns), vec![manifest.clone()], &options)
        .await
        .expect("apply");
    assert_eq!(again.changes[0].action, Action::Unchanged);
    let preview = engine
        .preview(&owner(ns), vec![manifest.clone()], &options)
        .await
        .expect("preview");
    assert_eq!(preview[0].action, Action::Unchanged);
    assert_eq!(preview[0].desired["spec"]["replicas"], 3, "shown as live");
    let after = live(&client, ns).await;
    assert_eq!(
        after["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
    // Without the rules, the same apply takes replicas back: the rule is what decided.
    let plain = engine
        .preview(
            &owner(ns),
            vec![manifest.clone()],
            &crate::support::options(ns),
        )
        .await
        .expect("preview without rules");
    assert_eq!(plain[0].action, Action::Configured);

    // The image drifts too: corrected, replicas left to hpa.
    deployments
        .patch(
            "web",
            &PatchParams::apply("hpa").force(),
            &Patch::Apply(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web"}, "spec": {"replicas": 3, "template": {"spec":
                    {"containers": [{"name": "main", "image": "nginx:9"}]}}}})),
        )
        .await
        .expect("hpa applies");
    let corrected = engine
        .apply(&owner(ns), vec![manifest.clone()], &options)
        .await
        .expect("apply");
    assert_eq!(corrected.changes[0].action, Action::Configured);
    let after = live(&client, ns).await;
    assert_eq!(after["spec"]["replicas"], 3);
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1"
    );
    assert!(owns(&after, "hpa", "f:replicas"));
    assert!(!owns(&after, "driftless", "f:replicas"));

    // An update (not apply) manager scales and changes the image: corrected, and replicas
    // kept at the live value (Flux's "adopt": no other apply manager owns it).
    deployments
        .patch(
            "web",
            &PatchParams::apply("hpa").force(),
            &Patch::Apply(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web"}})),
        )
        .await
        .expect("hpa lets go");
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4, "template": {"spec":
                {"containers": [{"name": "main", "image": "nginx:8"}]}}}})),
        )
        .await
        .expect("edit");
    let corrected = engine
        .apply(&owner(ns), vec![manifest], &options)
        .await
        .expect("apply");
    assert_eq!(corrected.changes[0].action, Action::Configured);
    let after = live(&client, ns).await;
    assert_eq!(after["spec"]["replicas"], 4);
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1"
    );
}
