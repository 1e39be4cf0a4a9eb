//! The install manifests (`config/default`) and the hello-world sample
//! (`config/samples/hello-world`, `config/samples/hello-world-sync.yaml`) are built with
//! Driftless's own kustomize engine and accepted by the real API server (server-side apply,
//! dry-run; CRDs and Namespaces for real, since the rest needs them). The controller's RBAC
//! is applied for real (config/default binds no cluster-admin: that is the opt-in
//! config/cluster-admin) and checked by impersonating its ServiceAccount. The Grafana dashboard only queries metrics the runtime exports.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use driftless_e2e::{ControlPlane, repo_root, wait_established};
use driftless_runtime::leader::{LeaderElector, LeaseTimings};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Scope, pinned_kind};
use kube::{Api, Client};
use serde_json::Value;

const CONTROLLER: &str = "system:serviceaccount:driftless-system:driftless";

/// Builds a kustomization under the repository root with the native engine.
fn build(relative: &str) -> Vec<Value> {
    let dir = repo_root().join(relative);
    driftless_kustomize::build(&dir)
        .unwrap_or_else(|error| panic!("driftless kustomize {relative}: {error}"))
        .objects
}

/// Every document of a YAML stream.
fn read_yaml_stream(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read YAML");
    serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            serde::Deserialize::deserialize(document)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        })
        .collect()
}

fn kind(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or_default()
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

fn namespace(object: &Value) -> Option<&str> {
    object["metadata"]["namespace"].as_str()
}

fn describe(object: &Value) -> String {
    match namespace(object) {
        Some(ns) => format!("{} {ns}/{}", kind(object), name(object)),
        None => format!("{} {}", kind(object), name(object)),
    }
}

fn find<'a>(objects: &'a [Value], kind_: &str, name_: &str) -> &'a Value {
    objects
        .iter()
        .find(|object| kind(object) == kind_ && name(object) == name_)
        .unwrap_or_else(|| panic!("no {kind_} {name_} in the build"))
}

/// Server-side applies `object` as field manager `driftless` (dry-run unless `for_real`).
async fn apply(client: &Client, object: &Value, for_real: bool) -> Result<(), String> {
    let what = describe(object);
    let dynamic: DynamicObject =
        serde_json::from_value(object.clone()).map_err(|error| format!("{what}: {error}"))?;
    let types = dynamic
        .types
        .as_ref()
        .ok_or_else(|| format!("{what}: no apiVersion/kind"))?;
    let gvk = GroupVersionKind::try_from(types).map_err(|error| format!("{what}: {error}"))?;
    let (resource, capabilities) = pinned_kind(client, &gvk)
        .await
        .map_err(|error| format!("{what}: discovery: {error}"))?;
    let api: Api<DynamicObject> = match (capabilities.scope, namespace(object)) {
        (Scope::Cluster, _) => Api::all_with(client.clone(), &resource),
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
        (Scope::Namespaced, None) => {
            return Err(format!("{what}: namespaced kind without namespace"));
        }
    };
    let mut params = PatchParams::apply("driftless").force();
    if !for_real {
        params = params.dry_run();
    }
    api.patch(name(object), &params, &Patch::Apply(object))
        .await
        .map(|_| ())
        .map_err(|error| format!("{what}: {error}"))
}

/// Applies the CRDs and Namespaces among `objects` for real (the rest needs them), then
/// dry-runs every other object; returns what was refused.
async fn apply_all(client: &Client, objects: &[Value]) -> Vec<String> {
    let mut refused = Vec::new();
    for object in objects
        .iter()
        .filter(|o| matches!(kind(o), "CustomResourceDefinition" | "Namespace"))
    {
        if let Err(error) = apply(client, object, true).await {
            refused.push(error);
        }
        if kind(object) == "CustomResourceDefinition" {
            wait_established(client, name(object), Duration::from_secs(30))
                .await
                .expect("CRD established");
        }
    }
    for object in objects
        .iter()
        .filter(|o| !matches!(kind(o), "CustomResourceDefinition" | "Namespace"))
    {
        if let Err(error) = apply(client, object, false).await {
            refused.push(error);
        }
    }
    refused
}

/// Whether `client`'s user may `verb` `resource` (optionally in `namespace`).
async fn allowed(
    client: &Client,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> bool {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.to_owned()),
                group: Some(group.to_owned()),
                resource: Some(resource.to_owned()),
                namespace: namespace.map(str::to_owned),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("SelfSubjectAccessReview")
        .status
        .is_some_and(|status| status.allowed)
}

#[tokio::test]
async fn default_install_is_accepted_and_its_rbac_is_enough_for_leader_election() {
    let objects = build("config/default");
    let described: BTreeSet<String> = objects.iter().map(describe).collect();
    for expected in [
        "Namespace driftless-system",
        "ServiceAccount driftless-system/driftless",
        "ClusterRole driftless-controller",
        "ClusterRoleBinding driftless-controller",
        "Role driftless-system/driftless-leader-election",
        "RoleBinding driftless-system/driftless-leader-election",
        "Deployment driftless-system/driftless",
        "Service driftless-system/driftless",
    ] {
        assert!(
            described.contains(expected),
            "{expected} missing from {described:?}"
        );
    }
    // Least privilege by default: no cluster-admin for the controller, and a Kustomization
    // without serviceAccountName impersonates its namespace's `default` account.
    assert!(
        !described.contains("ClusterRoleBinding driftless-cluster-admin"),
        "config/default must not bind cluster-admin: {described:?}"
    );
    assert!(
        objects
            .iter()
            .all(|o| kind(o) != "ClusterRoleBinding" || o["roleRef"]["name"] != "cluster-admin"),
        "config/default binds cluster-admin"
    );
    // Every CRD the types generate is installed.
    let crd_names: BTreeSet<String> = driftless_e2e::load_crds(&driftless_e2e::crds_dir())
        .expect("crds/")
        .into_iter()
        .filter_map(|crd| crd.metadata.name)
        .collect();
    let installed: BTreeSet<String> = objects
        .iter()
        .filter(|o| kind(o) == "CustomResourceDefinition")
        .map(|o| name(o).to_owned())
        .collect();
    assert_eq!(installed, crd_names);
    // The Deployment is what the issue asks for.
    let deployment = find(&objects, "Deployment", "driftless");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(pod["serviceAccountName"], "driftless");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(
        container["args"]
            .as_array()
            .is_some_and(|args| args.iter().any(|arg| arg == "--leader-elect")),
        "{}",
        container["args"]
    );
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.contains(&"--default-service-account=default"),
        "{args:?}"
    );
    assert!(
        !args
            .iter()
            .any(|a| a.starts_with("--insecure-apply-as-controller")
                || a.starts_with("--apply-as-controller-namespace")),
        "{args:?}"
    );

    let plane = ControlPlane::shared().await.expect("control plane up");
    let admin = plane.client().expect("admin client");
    let refused = apply_all(&admin, &objects).await;
    assert!(
        refused.is_empty(),
        "refused by the API server:\n{}",
        refused.join("\n")
    );

    // The controller's own RBAC, for real, is enough for what it does as itself, and no more.
    for object in objects.iter().filter(|o| {
        matches!(
            kind(o),
            "ServiceAccount" | "ClusterRole" | "Role" | "RoleBinding" | "ClusterRoleBinding"
        )
    }) {
        apply(&admin, object, true).await.expect("apply RBAC");
    }
    let controller = plane.client_as(CONTROLLER).expect("impersonating client");
    let ns = Some("team-a");
    for (verb, group, resource, namespace, expected) in [
        (
            "list",
            "kustomize.driftless.dev",
            "kustomizations",
            None,
            true,
        ),
        (
            "patch",
            "kustomize.driftless.dev",
            "kustomizations/status",
            ns,
            true,
        ),
        (
            "update",
            "source.driftless.dev",
            "gitrepositories/finalizers",
            ns,
            true,
        ),
        ("watch", "image.driftless.dev", "imagepolicies", None, true),
        ("get", "", "secrets", ns, true),
        ("get", "", "configmaps", ns, true),
        ("watch", "apps", "deployments", None, true),
        ("create", "events.k8s.io", "events", ns, true),
        ("impersonate", "", "serviceaccounts", ns, true),
        // Impersonating users or groups would reach system:masters.
        ("impersonate", "", "users", None, false),
        ("impersonate", "", "groups", None, false),
        ("impersonate", "", "users", ns, false),
        (
            "create",
            "coordination.k8s.io",
            "leases",
            Some("driftless-system"),
            true,
        ),
        // Least privilege: no writes beyond its own kinds without cluster-admin.
        ("create", "", "configmaps", ns, false),
        (
            "delete",
            "kustomize.driftless.dev",
            "kustomizations",
            ns,
            false,
        ),
        (
            "create",
            "kustomize.driftless.dev",
            "kustomizations",
            ns,
            false,
        ),
        ("update", "", "secrets", ns, false),
        ("create", "coordination.k8s.io", "leases", ns, false),
        ("create", "", "namespaces", None, false),
        (
            "create",
            "rbac.authorization.k8s.io",
            "clusterroles",
            None,
            false,
        ),
        ("create", "apps", "deployments", ns, false),
    ] {
        let actual = allowed(&controller, verb, group, resource, namespace).await;
        assert_eq!(
            actual, expected,
            "{CONTROLLER} {verb} {group}/{resource} in {namespace:?}"
        );
    }
    // Leader election works as the ServiceAccount (own Lease name: no clash with a real install).
    let lease = format!("e2e-install-{}", std::process::id());
    let elector = LeaderElector::new(
        controller,
        "driftless-system",
        &lease,
        driftless_runtime::leader::default_identity(),
        LeaseTimings::default(),
    )
    .expect("valid timings");
    tokio::time::timeout(Duration::from_secs(5), elector.acquire())
        .await
        .expect("the ServiceAccount acquires a Lease");
    elector
        .release()
        .await
        .expect("release as the ServiceAccount");
}

/// `config/cluster-admin`, the opt-in for single-team clusters: everything of config/default,
/// plus cluster-admin for the controller and the controller's identity for Kustomizations in
/// driftless-system only; tenants' namespaces stay on their own ServiceAccounts.
#[tokio::test]
async fn cluster_admin_overlay_opts_in_driftless_system_only() {
    let objects = build("config/cluster-admin");
    let default: BTreeSet<String> = build("config/default").iter().map(describe).collect();
    let described: BTreeSet<String> = objects.iter().map(describe).collect();
    assert!(default.is_subset(&described), "{described:?}");
    let binding = find(&objects, "ClusterRoleBinding", "driftless-cluster-admin");
    assert_eq!(binding["roleRef"]["name"], "cluster-admin");
    assert_eq!(binding["subjects"][0]["name"], "driftless");
    assert_eq!(binding["subjects"][0]["namespace"], "driftless-system");
    let deployment = find(&objects, "Deployment", "driftless");
    let args: Vec<&str> = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.contains(&"--apply-as-controller-namespace=driftless-system"),
        "{args:?}"
    );
    assert!(
        args.contains(&"--default-service-account=default"),
        "{args:?}"
    );
    assert!(
        !args.contains(&"--insecure-apply-as-controller"),
        "{args:?}"
    );
}

#[tokio::test]
async fn hello_world_sample_and_its_sync_objects_are_accepted() {
    let mut objects = build("config/samples/hello-world");
    let deployment = find(&objects, "Deployment", "hello-world");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["ports"][0]["containerPort"], 3000);
    let service = find(&objects, "Service", "hello-world");
    assert_eq!(service["spec"]["type"], "NodePort");
    assert_eq!(service["spec"]["ports"][0]["nodePort"], 30001);
    find(&objects, "ConfigMap", "hello-world");
    find(&objects, "Namespace", "hello-world");

    let sync = read_yaml_stream(&repo_root().join("config/samples/hello-world-sync.yaml"));
    let kustomization = find(&sync, "Kustomization", "hello-world");
    assert_eq!(
        kustomization["spec"]["wait"], false,
        "no kubelet in the local plane: waiting would never succeed"
    );
    find(&sync, "GitRepository", "hello-world");

    let plane = ControlPlane::shared().await.expect("control plane up");
    let admin = plane.client().expect("admin client");
    // The sync objects need the CRDs and their namespace.
    let mut install = build("config/crds");
    install.extend(
        build("config/manager")
            .into_iter()
            .filter(|o| kind(o) == "Namespace"),
    );
    let refused = apply_all(&admin, &install).await;
    assert!(refused.is_empty(), "{}", refused.join("\n"));
    objects.extend(sync);
    let refused = apply_all(&admin, &objects).await;
    assert!(
        refused.is_empty(),
        "refused by the API server:\n{}",
        refused.join("\n")
    );
    // A broken object is refused (the dry-run is not a no-op).
    let mut broken = find(&objects, "Kustomization", "hello-world").clone();
    broken["spec"]["interval"] = Value::from("soon");
    let error = apply(&admin, &broken, false)
        .await
        .expect_err("an invalid interval is refused");
    assert!(error.contains("interval"), "{error}");
}

#[test]
fn dashboard_queries_only_exported_metrics() {
    let path = repo_root().join("config/monitoring/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("read the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let metrics = driftless_runtime::Metrics::new().expect("metrics");
    // Give every labelled metric one series so all of them are rendered.
    metrics.observe_reconcile("Kustomization", Duration::from_millis(10), true);
    metrics.set_object_state("Kustomization", "ns", "name", Some(false), true);
    metrics
        .apply_objects_total
        .with_label_values(&["created"])
        .inc();
    metrics
        .git_fetch_duration
        .with_label_values(&["GitRepository"])
        .observe(0.1);
    metrics
        .kustomize_build_duration
        .with_label_values(&["Kustomization"])
        .observe(0.1);
    let exported = metrics.render();
    let names = regex::Regex::new(r"driftless_[a-z_]+").expect("regex");
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            queried.extend(names.find_iter(expr).map(|m| m.as_str().to_owned()));
        }
    }
    for wanted in [
        "driftless_reconcile_total",
        "driftless_reconcile_duration_seconds_bucket",
        "driftless_resource_ready",
        "driftless_resource_suspended",
        "driftless_apply_objects_total",
        "driftless_git_fetch_duration_seconds_bucket",
        "driftless_kustomize_build_duration_seconds_bucket",
        "driftless_source_cache_bytes",
    ] {
        assert!(
            queried.contains(wanted),
            "the dashboard does not show {wanted}"
        );
    }
    for name in &queried {
        assert!(
            exported.contains(&format!("\n{name}{{")) || exported.contains(&format!("\n{name} ")),
            "the dashboard queries {name}, which the runtime does not export"
        );
    }
}
