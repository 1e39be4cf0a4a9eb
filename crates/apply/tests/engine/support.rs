//! Shared setup: the control plane, an engine, manifests.

use driftless_apply::{Applier, ApplyOptions, Owner, Resolver};
use driftless_e2e::{ControlPlane, TestNamespace};
use kube::Client;
use kube::api::{ApiResource, DynamicObject};
use serde_json::{Value, json};

/// The shared plane, an admin client and a fresh namespace.
pub async fn setup(prefix: &str) -> (&'static ControlPlane, Client, TestNamespace) {
    let plane = ControlPlane::shared().await.expect("control plane up");
    let client = plane.client().expect("admin client");
    let namespace = TestNamespace::create(plane, prefix)
        .await
        .expect("test namespace");
    (plane, client, namespace)
}

/// An engine over `client` with its own kind cache.
pub fn applier(client: &Client) -> Applier {
    Applier::new(client.clone(), Resolver::new())
}

/// The owner used by the tests of `namespace`.
pub fn owner(namespace: &str) -> Owner {
    Owner::new("apps", namespace)
}

/// Options defaulting to `namespace`.
pub fn options(namespace: &str) -> ApplyOptions {
    ApplyOptions::new(namespace)
}

/// A ConfigMap without namespace (the engine defaults it).
pub fn config_map(name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"key": value}})
}

/// A one-replica Deployment of `image`.
pub fn deployment(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]}
            }
        }
    })
}

/// A ClusterIP Service in front of the Deployment `name`.
pub fn service(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}
    })
}

/// Reads an object as JSON, `None` when absent.
pub async fn get(
    client: &Client,
    api_version: &str,
    kind: &str,
    plural: &str,
    namespace: Option<&str>,
    name: &str,
) -> Option<Value> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let resource = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    let api: kube::Api<DynamicObject> = match namespace {
        Some(namespace) => kube::Api::namespaced_with(client.clone(), namespace, &resource),
        None => kube::Api::all_with(client.clone(), &resource),
    };
    api.get_opt(name)
        .await
        .unwrap_or_else(|error| panic!("get {kind} {name}: {error}"))
        .map(|object| serde_json::to_value(object).expect("object as JSON"))
}

/// Reads a ConfigMap of `namespace`.
pub async fn get_config_map(client: &Client, namespace: &str, name: &str) -> Option<Value> {
    get(
        client,
        "v1",
        "ConfigMap",
        "configmaps",
        Some(namespace),
        name,
    )
    .await
}
