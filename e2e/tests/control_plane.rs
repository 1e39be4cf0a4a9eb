//! Smoke tests of the loopback control plane: the real version is served,
//! every CRD in crds/ is accepted and Established, and one object of each
//! kind round-trips.

use std::time::Duration;

use driftless_e2e::{
    ControlPlane, TestNamespace, crds_dir, load_crds, repo_root, sample_from_schema,
    wait_established,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::Value;

/// `k8s.io/kubernetes vX.Y.Z` as pinned by e2e/controlplane/go.mod.
fn pinned_kubernetes_version() -> String {
    let go_mod_path = repo_root().join("e2e/controlplane/go.mod");
    let go_mod = std::fs::read_to_string(&go_mod_path).expect("read e2e/controlplane/go.mod");
    go_mod
        .lines()
        .find_map(|line| line.trim().strip_prefix("k8s.io/kubernetes "))
        .or_else(|| {
            go_mod
                .lines()
                .find_map(|line| line.trim().strip_prefix("require k8s.io/kubernetes "))
        })
        .and_then(|rest| rest.split_whitespace().next())
        .expect("go.mod requires k8s.io/kubernetes")
        .to_owned()
}

#[tokio::test]
async fn version_endpoint_reports_the_pinned_release() {
    let plane = ControlPlane::shared().await.expect("control plane up");
    let version = plane
        .client()
        .expect("client")
        .apiserver_version()
        .await
        .expect("GET /version");
    assert_eq!(version.git_version, pinned_kubernetes_version());
    assert_eq!(format!("v{}.{}", version.major, version.minor), {
        let pinned = pinned_kubernetes_version();
        pinned.rsplit_once('.').expect("vX.Y.Z").0.to_owned()
    });
}

/// True when every field of `expected` is in `actual` with the same value
/// (the server may add defaulted fields, never change ours).
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => expected
            .iter()
            .all(|(key, value)| actual.get(key).is_some_and(|found| contains(found, value))),
        _ => actual == expected,
    }
}

/// The served storage version of `crd` and its schema for `spec`.
fn storage_version(crd: &CustomResourceDefinition) -> (String, Value) {
    let version = crd
        .spec
        .versions
        .iter()
        .find(|version| version.storage && version.served)
        .unwrap_or_else(|| panic!("CRD {} has no served storage version", crd.name_any()));
    let schema = version
        .schema
        .as_ref()
        .and_then(|schema| schema.open_api_v3_schema.as_ref())
        .map(|schema| serde_json::to_value(schema).expect("schema as JSON"))
        .unwrap_or(Value::Null);
    let spec_schema = schema
        .pointer("/properties/spec")
        .cloned()
        .unwrap_or(Value::Null);
    (version.name.clone(), spec_schema)
}

#[tokio::test]
async fn every_crd_is_established_and_round_trips_an_object() {
    let plane = ControlPlane::shared().await.expect("control plane up");
    let client = plane.client().expect("client");
    let crds = load_crds(&crds_dir()).expect("read crds/");
    assert!(
        !crds.is_empty(),
        "no CustomResourceDefinition in {}",
        crds_dir().display()
    );

    let crd_api = Api::<CustomResourceDefinition>::all(client.clone());
    let apply = PatchParams::apply("driftless-e2e").force();
    for crd in &crds {
        let name = crd.name_any();
        crd_api
            .patch(&name, &apply, &Patch::Apply(crd))
            .await
            .unwrap_or_else(|error| panic!("apply CRD {name}: {error}"));
    }
    for crd in &crds {
        wait_established(&client, &crd.name_any(), Duration::from_secs(30))
            .await
            .expect("CRD Established");
    }

    let namespace = TestNamespace::create(plane, "crds")
        .await
        .expect("test namespace");
    for crd in &crds {
        let (version, spec_schema) = storage_version(crd);
        let gvk = GroupVersionKind::gvk(&crd.spec.group, &version, &crd.spec.names.kind);
        let resource = ApiResource::from_gvk_with_plural(&gvk, &crd.spec.names.plural);
        let api: Api<DynamicObject> = if crd.spec.scope == "Namespaced" {
            Api::namespaced_with(client.clone(), namespace.name(), &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        };
        let spec = sample_from_schema(&spec_schema)
            .unwrap_or_else(|| panic!("no sample satisfies the spec schema of {}", crd.name_any()));
        // Unique per run, also for cluster-scoped kinds: the plane outlives runs.
        let name = format!(
            "round-trip-{}-{}",
            crd.spec.names.singular.as_deref().unwrap_or("object"),
            namespace.name()
        );
        let mut object =
            DynamicObject::new(&name, &resource).data(serde_json::json!({ "spec": spec }));
        if crd.spec.scope == "Namespaced" {
            object.metadata.namespace = Some(namespace.name().to_owned());
        }

        api.create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "create {} {name} with spec {spec}: {error}",
                    crd.spec.names.kind
                )
            });
        let stored = api
            .get(&name)
            .await
            .unwrap_or_else(|error| panic!("get {} {name}: {error}", crd.spec.names.kind));
        let stored_spec = stored.data.get("spec").cloned().unwrap_or(Value::Null);
        assert!(
            contains(&stored_spec, &spec),
            "{} {name}: stored spec {stored_spec} lost or changed fields of {spec}",
            crd.spec.names.kind
        );
        if crd.spec.scope != "Namespaced" {
            api.delete(&name, &Default::default())
                .await
                .expect("delete cluster-scoped object");
        }
    }
}
