//! CRDs and Namespaces go first: a custom resource of a CRD in the same set, in a
//! Namespace of the same set, is applied in one call.

use driftless_apply::Action;
use serde_json::json;

use crate::support::{applier, get, options, owner, setup};

#[tokio::test]
async fn crd_namespace_and_custom_resource_apply_in_one_set() {
    let (_plane, client, namespace) = setup("staging").await;
    let ns = namespace.name();
    let group = format!("{ns}.example.com");
    let crd_name = format!("widgets.{group}");
    let extra_namespace = format!("{ns}-extra");
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": crd_name},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]
        }
    });
    // The custom resource comes first on purpose: staging, not input order, decides.
    let widget = json!({
        "apiVersion": format!("{group}/v1"), "kind": "Widget",
        "metadata": {"name": "w", "namespace": extra_namespace}, "spec": {"size": 3}
    });
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": extra_namespace}, "data": {"k": "v"}});
    let new_namespace =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": extra_namespace}});
    let set = vec![widget, config_map, crd, new_namespace];

    let engine = applier(&client);
    let result = engine.apply(&owner(ns), set.clone(), &options(ns)).await;
    let cleanup = async {
        let crds = kube::Api::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>::all(client.clone());
        let _ = crds.delete(&crd_name, &Default::default()).await;
        let namespaces = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone());
        let _ = namespaces
            .delete(&extra_namespace, &Default::default())
            .await;
    };
    let changes = match result {
        Ok(changes) => changes,
        Err(error) => {
            cleanup.await;
            panic!("staged apply failed: {error}");
        }
    };
    let summary: Vec<String> = changes
        .changes
        .iter()
        .map(|change| format!("{} {}", change.object, change.action))
        .collect();
    assert_eq!(
        summary,
        [
            format!("Widget/{extra_namespace}/w created"),
            format!("ConfigMap/{extra_namespace}/c created"),
            format!("CustomResourceDefinition/{crd_name} created"),
            format!("Namespace/{extra_namespace} created"),
        ]
    );
    let live = get(
        &client,
        &format!("{group}/v1"),
        "Widget",
        "widgets",
        Some(&extra_namespace),
        "w",
    )
    .await
    .expect("the Widget exists");
    assert_eq!(live["spec"]["size"], 3);

    let again = engine.apply(&owner(ns), set, &options(ns)).await;
    cleanup.await;
    let again = again.expect("second staged apply");
    assert!(
        again
            .changes
            .iter()
            .all(|change| change.action == Action::Unchanged),
        "{:?}",
        again.changes
    );
}
