//! Multi-tenancy end to end, with real RBAC: tenants onboarded with `driftless tenant create`
//! and a controller locked down with `--no-cross-namespace-refs` and
//! `--default-service-account=default`. A tenant cannot write outside its namespace, use
//! another tenant's source, read Secrets its account may not read, or leave the artifact
//! root; a tenant that fails on every reconcile does not slow the others.

mod common;
mod tenancy_support;

use std::time::{Duration, Instant};

use common::*;
use driftless_api::condition::reason;
use driftless_api::{GitRepository, Kustomization};
use driftless_e2e::{ControlPlane, Driftless, GitServer, poll_until};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use tenancy_support::{onboard, unique};

/// Flags that lock the controller down for tenants.
const LOCKDOWN: [&str; 2] = [
    "--no-cross-namespace-refs",
    "--default-service-account=default",
];

fn configmap(name: &str, namespace: Option<&str>) -> String {
    let ns = namespace
        .map(|n| format!("  namespace: {n}\n"))
        .unwrap_or_default();
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{ns}data:\n  k: v\n")
}

/// The role the tenants get in their namespace. The default, `admin`, is an aggregated
/// ClusterRole whose rules the controller-manager fills in, and this control plane runs none;
/// `cluster-admin` bound by a RoleBinding grants everything in the namespace and nothing
/// outside it, so the fence under test is the same.
const TENANT_ROLE: [&str; 2] = ["--cluster-role", "cluster-admin"];

/// Two tenants A and B onboarded from one repository (path `./app`), and a locked-down
/// controller watching both namespaces.
struct Tenants {
    client: Client,
    a: String,
    b: String,
    server: GitServer,
    url: String,
    /// The controller, stopped when the test ends.
    _driftless: Driftless,
}

/// `role_a` overrides A's `--cluster-role`.
async fn two_tenants(prefix: &str, files: &[(&str, &str)], role_a: Option<&str>) -> Tenants {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let server = GitServer::start().unwrap();
    server.create_repo("tenants").unwrap();
    let url = server.git_url("tenants");
    let app = configmap("app", None);
    let mut all = vec![("app/configmap.yaml", app.as_str())];
    all.extend_from_slice(files);
    let commit = server.push_files(&url, "main", &all, "initial").unwrap();
    let (a, b) = (
        unique(&format!("{prefix}-a")),
        unique(&format!("{prefix}-b")),
    );
    let a_role = role_a.map_or(TENANT_ROLE, |role| ["--cluster-role", role]);
    onboard(&client, &a, Some((&url, "./app")), &a_role).await;
    onboard(&client, &b, Some((&url, "./app")), &TENANT_ROLE).await;
    let driftless = Driftless::start(plane, &[&a, &b], &LOCKDOWN).await.unwrap();
    let revision = format!("main@sha1:{commit}");
    // Both tenants' own Kustomizations apply as their ServiceAccounts: the positive control.
    for tenant in [&a, &b] {
        let ks: Api<Kustomization> = Api::namespaced(client.clone(), tenant);
        wait_ks(&ks, tenant, "the tenant's own app applied", |k| {
            applied(k, &revision)
        })
        .await;
    }
    Tenants {
        client,
        a,
        b,
        server,
        url,
        _driftless: driftless,
    }
}

impl Tenants {
    fn kustomizations(&self) -> Api<Kustomization> {
        Api::namespaced(self.client.clone(), &self.a)
    }

    /// Creates a Kustomization in tenant A's namespace from A's repository.
    async fn kustomization_in_a(&self, name: &str, spec: &str) -> Kustomization {
        let yaml = format!(
            "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata: {{name: {name}}}\nspec:\n  interval: 10m\n  prune: true\n{spec}"
        );
        apply_yaml(&self.kustomizations(), &yaml).await
    }

    /// Waits until Kustomization `name` in A is Ready=False with `needle` in its message;
    /// returns the Ready condition.
    async fn refused(
        &self,
        name: &str,
        needle: &str,
    ) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
        let ks = wait_ks(
            &self.kustomizations(),
            name,
            &format!("{name} refused with '{needle}'"),
            |k| failing_with(k.status.as_ref().map(|s| s.conditions.as_slice()), needle),
        )
        .await;
        ready_of(&ks.status.unwrap().conditions).unwrap()
    }

    async fn configmap_exists(&self, namespace: &str, name: &str) -> bool {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        api.get_opt(name).await.unwrap().is_some()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_cannot_write_into_another_tenants_namespace() {
    let t = two_tenants("ten-x", &[], None).await;
    // A's next commit holds a ConfigMap A may create and one in B's namespace.
    let kept_out = configmap("kept-out", None);
    let intruder = configmap("intruder", Some(&t.b));
    t.server
        .push_files(
            &t.url,
            "main",
            &[
                ("cross/kept-out.yaml", &kept_out),
                ("cross/intruder.yaml", &intruder),
            ],
            "reach into B",
        )
        .unwrap();
    t.kustomization_in_a(
        "cross",
        &format!(
            "  path: ./cross\n  serviceAccountName: {a}\n  sourceRef: {{kind: GitRepository, name: {a}}}\n",
            a = t.a
        ),
    )
    .await;
    // The GitRepository fetches the new commit when asked (its interval is 10m).
    let repos: Api<GitRepository> = Api::namespaced(t.client.clone(), &t.a);
    let patch = serde_json::json!({"metadata": {"annotations": {"reconcile.driftless.dev/requestedAt": "reach"}}});
    repos
        .patch(&t.a, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let ready = t
        .refused("cross", &format!("ConfigMap/{}/intruder", t.b))
        .await;
    println!("refused write into B: {}", ready.message);
    assert!(ready.message.contains(&t.b), "{}", ready.message);
    assert!(ready.message.contains("forbidden"), "{}", ready.message);
    assert!(!t.configmap_exists(&t.b, "intruder").await);
    // Nothing of the same commit was applied, not even what A may create.
    assert!(!t.configmap_exists(&t.a, "kept-out").await);
    let ks = t.kustomizations().get("cross").await.unwrap();
    assert!(
        ks.status
            .unwrap()
            .inventory
            .is_none_or(|i| i.entries.is_empty())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_cannot_create_cluster_scoped_objects() {
    let role = unique("e2e-tenant-escalation");
    let cluster_role = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {role}\nrules:\n- apiGroups: ['*']\n  resources: ['*']\n  verbs: ['*']\n"
    );
    let kept_out = configmap("kept-out", None);
    let t = two_tenants(
        "ten-c",
        &[
            ("cluster/clusterrole.yaml", &cluster_role),
            ("cluster/kept-out.yaml", &kept_out),
        ],
        None,
    )
    .await;
    // targetNamespace does not make a cluster-scoped object namespaced.
    t.kustomization_in_a(
        "cluster",
        &format!(
            "  path: ./cluster\n  serviceAccountName: {a}\n  targetNamespace: {a}\n  sourceRef: {{kind: GitRepository, name: {a}}}\n",
            a = t.a
        ),
    )
    .await;
    let ready = t.refused("cluster", &format!("ClusterRole/{role}")).await;
    println!("refused cluster-scoped object: {}", ready.message);
    assert!(ready.message.contains("forbidden"), "{}", ready.message);
    let roles: Api<ClusterRole> = Api::all(t.client.clone());
    assert!(roles.get_opt(&role).await.unwrap().is_none());
    assert!(!t.configmap_exists(&t.a, "kept-out").await);

    // Without spec.serviceAccountName the controller applies as --default-service-account
    // ("default", which has no rights here), never with its own identity.
    t.kustomization_in_a(
        "no-account",
        &format!(
            "  path: ./app\n  targetNamespace: {a}\n  nameSuffix: -no-account\n  sourceRef: {{kind: GitRepository, name: {a}}}\n",
            a = t.a
        ),
    )
    .await;
    let ready = t
        .refused(
            "no-account",
            &format!("system:serviceaccount:{}:default", t.a),
        )
        .await;
    println!("applied as the default account: {}", ready.message);
    assert!(!t.configmap_exists(&t.a, "app-no-account").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_cannot_use_another_tenants_source() {
    let t = two_tenants("ten-s", &[], None).await;
    t.kustomization_in_a(
        "borrowed",
        &format!(
            "  path: ./app\n  serviceAccountName: {a}\n  nameSuffix: -borrowed\n  sourceRef: {{kind: GitRepository, name: {b}, namespace: {b}}}\n",
            a = t.a,
            b = t.b
        ),
    )
    .await;
    let ready = t
        .refused("borrowed", &format!("GitRepository/{}/{}", t.b, t.b))
        .await;
    println!("refused cross-namespace source: {}", ready.message);
    assert_eq!(ready.reason, reason::ACCESS_DENIED);
    assert!(
        ready.message.contains("cross-namespace"),
        "{}",
        ready.message
    );
    assert!(!t.configmap_exists(&t.a, "app-borrowed").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_cannot_read_secrets_its_account_may_not_read() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    // A role like `edit` without Secrets: the tenant manages ConfigMaps but may not read
    // Secrets, not even in its own namespace.
    let role = unique("e2e-tenant-no-secrets");
    let roles: Api<ClusterRole> = Api::all(client.clone());
    apply_yaml(
        &roles,
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {role}\nrules:\n- apiGroups: ['']\n  resources: [configmaps]\n  verbs: ['*']\n"
        ),
    )
    .await;
    let t = two_tenants("ten-p", &[], Some(&role)).await;
    let secrets: Api<Secret> = Api::namespaced(t.client.clone(), &t.a);
    apply_yaml(
        &secrets,
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db-credentials}\nstringData: {password: hunter2}\n",
    )
    .await;
    t.kustomization_in_a(
        "peek",
        &format!(
            "  path: ./app\n  serviceAccountName: {a}\n  nameSuffix: -peek\n  sourceRef: {{kind: GitRepository, name: {a}}}\n  postBuild:\n    substituteFrom:\n    - {{kind: Secret, name: db-credentials}}\n",
            a = t.a
        ),
    )
    .await;
    let ready = t.refused("peek", "db-credentials").await;
    println!("refused Secret read: {}", ready.message);
    assert!(ready.message.contains("forbidden"), "{}", ready.message);
    assert!(!t.configmap_exists(&t.a, "app-peek").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_cannot_leave_the_artifact_root() {
    // Deep enough to reach / from any storage directory: the target (/etc) exists, so only
    // the root restriction can refuse it.
    let escape = format!("resources:\n- {}etc\n", "../".repeat(32));
    let t = two_tenants("ten-r", &[("escape/kustomization.yaml", &escape)], None).await;
    t.kustomization_in_a(
        "up",
        &format!(
            "  path: ../..\n  serviceAccountName: {a}\n  sourceRef: {{kind: GitRepository, name: {a}}}\n",
            a = t.a
        ),
    )
    .await;
    let ready = t.refused("up", "outside the source artifact").await;
    println!("refused spec.path: {}", ready.message);
    assert!(ready.message.contains("../.."), "{}", ready.message);

    t.kustomization_in_a(
        "escape",
        &format!(
            "  path: ./escape\n  serviceAccountName: {a}\n  sourceRef: {{kind: GitRepository, name: {a}}}\n",
            a = t.a
        ),
    )
    .await;
    let ready = t.refused("escape", "outside the source artifact").await;
    println!("refused kustomize ../: {}", ready.message);
    assert!(ready.message.contains("etc"), "{}", ready.message);
}

/// Kustomization reconciles so far (failed syncs included), from the controller's metrics.
async fn reconciles(driftless: &Driftless) -> u64 {
    let (_, body) = driftless.get_metrics("/metrics").await.unwrap();
    body.lines()
        .find(|l| {
            l.starts_with("driftless_reconcile_duration_seconds_count{kind=\"Kustomization\"}")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_tenant_does_not_slow_a_healthy_one() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let server = GitServer::start().unwrap();
    server.create_repo("healthy").unwrap();
    server.create_repo("broken").unwrap();
    let (healthy_url, broken_url) = (server.git_url("healthy"), server.git_url("broken"));
    let first = server
        .push_files(
            &healthy_url,
            "main",
            &[("app/cm.yaml", &configmap("app", None))],
            "v0",
        )
        .unwrap();
    server
        .push_files(
            &broken_url,
            "main",
            &[(
                "app/broken.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n",
            )],
            "broken",
        )
        .unwrap();
    let healthy = unique("ten-ok");
    let broken: Vec<String> = (0..3).map(|i| unique(&format!("ten-bad{i}"))).collect();
    onboard(
        &client,
        &healthy,
        Some((&healthy_url, "./app")),
        &TENANT_ROLE,
    )
    .await;
    for tenant in &broken {
        onboard(&client, tenant, Some((&broken_url, "./app")), &TENANT_ROLE).await;
    }
    let mut watched: Vec<&str> = vec![&healthy];
    watched.extend(broken.iter().map(String::as_str));
    let driftless = Driftless::start(plane, &watched, &LOCKDOWN).await.unwrap();

    // The broken tenants retry every 200ms: the controller always has failures to handle.
    for tenant in &broken {
        let ks: Api<Kustomization> = Api::namespaced(client.clone(), tenant);
        let patch = serde_json::json!({"spec": {"retryInterval": "200ms"}});
        ks.patch(tenant, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        wait_ks(&ks, tenant, "the broken tenant failing", |k| {
            failing_with(
                k.status.as_ref().map(|s| s.conditions.as_slice()),
                "broken.yaml",
            )
        })
        .await;
    }
    let healthy_ks: Api<Kustomization> = Api::namespaced(client.clone(), &healthy);
    let healthy_repos: Api<GitRepository> = Api::namespaced(client.clone(), &healthy);
    wait_ks(&healthy_ks, &healthy, "the healthy tenant applied", |k| {
        applied(k, &format!("main@sha1:{first}"))
    })
    .await;

    let reconciles_before = reconciles(&driftless).await;
    let mut latencies = Vec::new();
    for round in 1..=5 {
        let commit = server
            .push_files(
                &healthy_url,
                "main",
                &[(
                    "app/cm.yaml",
                    &configmap("app", None).replace("k: v", &format!("k: v{round}")),
                )],
                &format!("round {round}"),
            )
            .unwrap();
        let revision = format!("main@sha1:{commit}");
        let started = Instant::now();
        let patch = serde_json::json!({"metadata": {"annotations": {"reconcile.driftless.dev/requestedAt": format!("round-{round}")}}});
        healthy_repos
            .patch(&healthy, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        let fetched = std::sync::OnceLock::new();
        let (repos, kss, name, rev, fetched_at) =
            (&healthy_repos, &healthy_ks, &healthy, &revision, &fetched);
        poll_until(&format!("round {round} applied"), DEADLINE, || async move {
            if fetched_at.get().is_none() {
                let repo = repos
                    .get(name)
                    .await
                    .map_err(driftless_e2e::Error::kube("get GitRepository"))?;
                if artifact_revision(&repo).as_deref() == Some(rev.as_str()) {
                    let _ = fetched_at.set(started.elapsed());
                }
            }
            let ks = kss
                .get(name)
                .await
                .map_err(driftless_e2e::Error::kube("get Kustomization"))?;
            let last = ks.status.and_then(|s| s.last_applied_revision);
            Ok((last.as_deref() == Some(rev.as_str())).then_some(()))
        })
        .await
        .unwrap();
        let latency = started.elapsed();
        println!(
            "round {round}: artifact seen after {:?}, applied after {latency:?}",
            fetched.get()
        );
        latencies.push(latency);
    }
    let reconciles_during = reconciles(&driftless).await - reconciles_before;
    let worst = latencies.iter().max().copied().unwrap_or_default();
    println!(
        "commit-to-applied latency of the healthy tenant while {} tenants fail ({reconciles_during} Kustomization reconciles meanwhile): {latencies:?}, worst {worst:?}",
        broken.len()
    );
    // The healthy tenant reconciles once or twice per round; the rest are the broken
    // tenants retrying every 200ms.
    assert!(
        reconciles_during >= 3 * latencies.len() as u64 + 10,
        "the broken tenants kept failing during the measurement ({reconciles_during} reconciles)"
    );
    assert!(
        worst < Duration::from_secs(2),
        "commit-to-applied latency {worst:?} is not under 2 s ({latencies:?})"
    );
}
