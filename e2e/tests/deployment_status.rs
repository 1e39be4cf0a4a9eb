//! Without a controller manager nothing writes Deployment status;
//! `mark_deployment_available` does it the way envtest suites do. Test
//! namespaces are deleted when their guard drops.

use driftless_e2e::{ControlPlane, TestNamespace, mark_deployment_available};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

fn deployment(replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]},
            },
        },
    }))
    .expect("a valid Deployment")
}

#[tokio::test]
async fn deployment_is_marked_available_and_namespace_is_deleted_on_drop() {
    let plane = ControlPlane::shared().await.expect("control plane up");
    let client = plane.client().expect("client");
    let namespace = TestNamespace::create(plane, "deploy")
        .await
        .expect("test namespace");
    let name = namespace.name().to_owned();
    let deployments = Api::<Deployment>::namespaced(client.clone(), &name);
    deployments
        .create(&PostParams::default(), &deployment(3))
        .await
        .expect("create Deployment");

    let before = deployments.get("web").await.expect("get Deployment");
    assert_eq!(
        before.status.and_then(|status| status.available_replicas),
        None,
        "nothing should have written status yet"
    );

    let marked = mark_deployment_available(&client, &name, "web")
        .await
        .expect("mark available");
    let status = marked.status.expect("status written");
    assert_eq!(status.observed_generation, marked.metadata.generation);
    assert_eq!(
        (
            status.replicas,
            status.ready_replicas,
            status.available_replicas
        ),
        (Some(3), Some(3), Some(3))
    );
    let conditions = status.conditions.expect("conditions written");
    let available = conditions
        .iter()
        .find(|condition| condition.type_ == "Available")
        .expect("Available condition");
    assert_eq!(available.status, "True");

    drop(namespace);
    let deleted = Api::<Namespace>::all(client)
        .get(&name)
        .await
        .expect("namespace still readable while Terminating");
    assert!(
        deleted.metadata.deletion_timestamp.is_some(),
        "namespace {name} was not deleted on drop"
    );
}
