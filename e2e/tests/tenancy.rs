//! Multi-tenancy end to end, with real RBAC: tenants onboarded with `driftless tenant create`
//! and the controller running as its own ServiceAccount with config/default's RBAC, in two
//! modes (every test runs in both, see [`Mode`]):
//!
//! - `default_install`: the flags config/manager gives `driftless run`
//!   (`--default-service-account=default`);
//! - `lockdown`: the same plus `--no-cross-namespace-refs`.
//!
//! A tenant cannot write outside its namespace (with or without `serviceAccountName`), read
//! Secrets its account may not read, or leave the artifact root; with lockdown it cannot use
//! another tenant's source either. The controller cannot impersonate groups. Deleting a
//! tenant whose RoleBinding went first does not hang; a SIGTERM during a health wait does not
//! lose the inventory; a tenant that fails on every reconcile does not slow the others.

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
use tenancy_support::install::{Mode, start_controller};
use tenancy_support::{onboard, unique};

/// Runs the async test function `$name(mode)` once per [`Mode`], as
/// `$name::default_install` and `$name::lockdown`.
macro_rules! in_both_modes {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn default_install() {
                super::$name(super::Mode::DefaultInstall).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn lockdown() {
                super::$name(super::Mode::Lockdown).await;
            }
        }
    };
}

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

/// Two tenants A and B onboarded from one repository (path `./app`), and the controller in
/// `mode` watching both namespaces.
struct Tenants {
    client: Client,
    a: String,
    b: String,
    server: GitServer,
    url: String,
    mode: Mode,
    /// The controller, stopped when the test ends (replaced when a test restarts it).
    driftless: Driftless,
}

/// `role_a` overrides A's `--cluster-role`.
async fn two_tenants(
    prefix: &str,
    files: &[(&str, &str)],
    role_a: Option<&str>,
    mode: Mode,
) -> Tenants {
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
    let driftless = start_controller(&[&a, &b], mode, &[]).await;
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
        mode,
        driftless,
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

    /// Asks A's GitRepository to fetch now (its interval is 10m).
    async fn fetch_a_now(&self, tag: &str) {
        let repos: Api<GitRepository> = Api::namespaced(self.client.clone(), &self.a);
        let patch = serde_json::json!({"metadata": {"annotations": {"reconcile.driftless.dev/requestedAt": tag}}});
        repos
            .patch(&self.a, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }

    async fn configmap_exists(&self, namespace: &str, name: &str) -> bool {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        api.get_opt(name).await.unwrap().is_some()
    }
}

in_both_modes!(tenant_cannot_write_into_another_tenants_namespace);
async fn tenant_cannot_write_into_another_tenants_namespace(mode: Mode) {
    let t = two_tenants("ten-x", &[], None, mode).await;
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

in_both_modes!(tenant_cannot_create_cluster_scoped_objects);
async fn tenant_cannot_create_cluster_scoped_objects(mode: Mode) {
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
        mode,
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

in_both_modes!(tenant_cannot_use_another_tenants_source);
async fn tenant_cannot_use_another_tenants_source(mode: Mode) {
    let t = two_tenants("ten-s", &[], None, mode).await;
    t.kustomization_in_a(
        "borrowed",
        &format!(
            "  path: ./app\n  serviceAccountName: {a}\n  nameSuffix: -borrowed\n  sourceRef: {{kind: GitRepository, name: {b}, namespace: {b}}}\n",
            a = t.a,
            b = t.b
        ),
    )
    .await;
    if t.mode == Mode::DefaultInstall {
        // The default install allows cross-namespace sources (as Flux does): what B's
        // repository holds is applied with A's rights, into A's namespace only.
        wait_ks(
            &t.kustomizations(),
            "borrowed",
            "B's source applied as A",
            |k| {
                k.status
                    .as_ref()
                    .is_some_and(|s| driftless_api::condition::is_ready(&s.conditions))
            },
        )
        .await;
        assert!(t.configmap_exists(&t.a, "app-borrowed").await);
        assert!(!t.configmap_exists(&t.b, "app-borrowed").await);
        return;
    }
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

in_both_modes!(tenant_cannot_read_secrets_its_account_may_not_read);
async fn tenant_cannot_read_secrets_its_account_may_not_read(mode: Mode) {
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
    let t = two_tenants("ten-p", &[], Some(&role), mode).await;
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

in_both_modes!(tenant_cannot_leave_the_artifact_root);
async fn tenant_cannot_leave_the_artifact_root(mode: Mode) {
    // Deep enough to reach / from any storage directory: the target (/etc) exists, so only
    // the root restriction can refuse it.
    let escape = format!("resources:\n- {}etc\n", "../".repeat(32));
    let t = two_tenants(
        "ten-r",
        &[("escape/kustomization.yaml", &escape)],
        None,
        mode,
    )
    .await;
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

in_both_modes!(failing_tenant_does_not_slow_a_healthy_one);
async fn failing_tenant_does_not_slow_a_healthy_one(mode: Mode) {
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
    let driftless = start_controller(&watched, mode, &[]).await;

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

in_both_modes!(kustomization_without_account_never_applies_as_the_controller);
/// Under the default install's flags, a Kustomization without serviceAccountName applies as
/// its namespace's `default` account (no rights), never as the controller: an object for
/// another namespace is refused, and nothing of the revision is applied.
async fn kustomization_without_account_never_applies_as_the_controller(mode: Mode) {
    let t = two_tenants("ten-n", &[], None, mode).await;
    let kept_out = configmap("kept-out-n", None);
    let intruder = configmap("intruder-n", Some(&t.b));
    t.server
        .push_files(
            &t.url,
            "main",
            &[
                ("noaccount/kept-out.yaml", &kept_out),
                ("noaccount/intruder.yaml", &intruder),
            ],
            "reach into B without an account",
        )
        .unwrap();
    t.kustomization_in_a(
        "no-account-cross",
        &format!(
            "  path: ./noaccount\n  sourceRef: {{kind: GitRepository, name: {a}}}\n",
            a = t.a
        ),
    )
    .await;
    t.fetch_a_now("no-account").await;
    let ready = t
        .refused("no-account-cross", &format!("ConfigMap/{}/intruder-n", t.b))
        .await;
    println!("refused without an account: {}", ready.message);
    assert!(ready.message.contains("forbidden"), "{}", ready.message);
    assert!(
        ready
            .message
            .contains(&format!("system:serviceaccount:{}:default", t.a)),
        "{}",
        ready.message
    );
    assert!(!t.configmap_exists(&t.b, "intruder-n").await);
    assert!(!t.configmap_exists(&t.a, "kept-out-n").await);
    let ks = t.kustomizations().get("no-account-cross").await.unwrap();
    assert!(
        ks.status
            .unwrap()
            .inventory
            .is_none_or(|i| i.entries.is_empty())
    );
}

/// The controller's ClusterRole (config/rbac, applied for real) lets it impersonate a
/// ServiceAccount, whose groups the API server derives, and nothing else: not a group (so
/// not `system:masters`), not a user.
#[tokio::test(flavor = "multi_thread")]
async fn controller_may_impersonate_accounts_but_not_groups() {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{ListParams, PostParams};

    let plane = ControlPlane::shared().await.unwrap();
    let admin = plane.client().unwrap();
    let ns = unique("ten-imp");
    onboard(&admin, &ns, None, &TENANT_ROLE).await;
    let path = tenancy_support::install::controller_kubeconfig().await;
    let as_controller = |user: &str, groups: Option<Vec<String>>| {
        let user = user.to_owned();
        async move {
            let kubeconfig = kube::config::Kubeconfig::read_from(path).unwrap();
            let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .unwrap();
            config.auth_info.impersonate = Some(user);
            config.auth_info.impersonate_groups = groups;
            Client::try_from(config).unwrap()
        }
    };
    let account = format!("system:serviceaccount:{ns}:{ns}");

    // The account alone: allowed, and the API server fills in its groups.
    let review = Api::<SelfSubjectReview>::all(as_controller(&account, None).await)
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .expect("impersonating a ServiceAccount is allowed");
    let user = review.status.and_then(|s| s.user_info).expect("user info");
    println!("impersonated: {user:?}");
    assert_eq!(user.username.as_deref(), Some(account.as_str()));
    let groups = user.groups.unwrap_or_default();
    for group in [
        "system:serviceaccounts".to_owned(),
        format!("system:serviceaccounts:{ns}"),
        "system:authenticated".to_owned(),
    ] {
        assert!(groups.contains(&group), "{group} missing from {groups:?}");
    }

    let refused =
        |result: Result<kube::core::ObjectList<Namespace>, kube::Error>, what: &str| match result {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 403, "{what}: {status:?}");
                assert!(
                    status.message.contains("cannot impersonate"),
                    "{what}: {}",
                    status.message
                );
                println!("{what}: {}", status.message);
            }
            other => panic!("{what} was not refused: {other:?}"),
        };
    // The same account with Impersonate-Group: system:masters.
    let masters = Some(vec!["system:masters".to_owned()]);
    let client = as_controller(&account, masters.clone()).await;
    refused(
        Api::<Namespace>::all(client)
            .list(&ListParams::default())
            .await,
        "Impersonate-Group: system:masters",
    );
    // A user, with or without groups.
    for groups in [None, masters] {
        let client = as_controller("admin", groups.clone()).await;
        refused(
            Api::<Namespace>::all(client)
                .list(&ListParams::default())
                .await,
            &format!("Impersonate-User: admin, groups {groups:?}"),
        );
    }
}

in_both_modes!(deleting_a_tenant_whose_rolebinding_went_first_does_not_hang);
/// A namespace deletion removes the tenant's RoleBinding, ServiceAccount and Kustomization
/// in any order. With the RoleBinding gone first, pruning as the tenant gets 403: the
/// finalizer orphans what it may not delete, says so in a Warning event, and lets go.
///
/// This plane has no kube-controller-manager, so a deleted namespace stays Terminating and
/// nothing in it is deleted: the test deletes the Kustomization as the namespace controller
/// would, and asserts the Kustomization is gone within 60 s (the namespace's own end is the
/// namespace controller's work).
async fn deleting_a_tenant_whose_rolebinding_went_first_does_not_hang(mode: Mode) {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::api::events::v1::Event;
    use k8s_openapi::api::rbac::v1::RoleBinding;
    use kube::api::{DeleteParams, ListParams, PostParams};

    let t = two_tenants("ten-d", &[], None, mode).await;
    let plane = ControlPlane::shared().await.unwrap();
    let (a, client) = (t.a.clone(), t.client.clone());
    let inventory = t
        .kustomizations()
        .get(&a)
        .await
        .unwrap()
        .status
        .and_then(|s| s.inventory)
        .map(|i| i.entries.len());
    assert_eq!(inventory, Some(1), "A's app ConfigMap is in the inventory");

    // The RoleBinding goes first; wait until the authorizer no longer lets A delete.
    Api::<RoleBinding>::namespaced(client.clone(), &a)
        .delete(&format!("{a}-reconciler"), &DeleteParams::default())
        .await
        .unwrap();
    let as_tenant = plane
        .client_as(&format!("system:serviceaccount:{a}:{a}"))
        .unwrap();
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some("delete".into()),
                resource: Some("configmaps".into()),
                namespace: Some(a.clone()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    poll_until("A may no longer delete ConfigMaps", DEADLINE, || {
        let (as_tenant, review) = (as_tenant.clone(), review.clone());
        async move {
            let answer = Api::<SelfSubjectAccessReview>::all(as_tenant)
                .create(&PostParams::default(), &review)
                .await
                .map_err(driftless_e2e::Error::kube("SelfSubjectAccessReview"))?;
            Ok((!answer.status.is_some_and(|s| s.allowed)).then_some(()))
        }
    })
    .await
    .unwrap();

    // The namespace is deleted (it stays Terminating here), then its Kustomization.
    Api::<Namespace>::all(client.clone())
        .delete(&a, &DeleteParams::default())
        .await
        .unwrap();
    let started = Instant::now();
    t.kustomizations()
        .delete(&a, &DeleteParams::default())
        .await
        .unwrap();
    let kss = t.kustomizations();
    poll_until(
        "the Kustomization's finalizer is removed and it is gone",
        Duration::from_secs(60),
        || {
            let kss = kss.clone();
            let name = a.clone();
            async move {
                let found = kss
                    .get_opt(&name)
                    .await
                    .map_err(driftless_e2e::Error::kube("get Kustomization"))?;
                Ok(found.is_none().then_some(()))
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", t.driftless.log()));
    println!(
        "Kustomization gone {:?} after its deletion",
        started.elapsed()
    );
    // Orphaned, not deleted: A's account may not delete it any more.
    assert!(t.configmap_exists(&a, "app").await);

    // The Warning event names the orphan: on the Kustomization, or on the Namespace (in
    // `default`) when the terminating namespace refuses new events.
    let orphan = format!("ConfigMap/{a}/app");
    let event = poll_until("a Warning event naming the orphan", DEADLINE, || {
        let (client, a, orphan) = (client.clone(), a.clone(), orphan.clone());
        async move {
            for ns in [a.as_str(), "default"] {
                let events = Api::<Event>::namespaced(client.clone(), ns)
                    .list(&ListParams::default())
                    .await
                    .map_err(driftless_e2e::Error::kube("list Events"))?;
                if let Some(found) = events.items.into_iter().find(|e| {
                    e.reason.as_deref() == Some("OrphanedOnDeletion")
                        && e.type_.as_deref() == Some("Warning")
                        && e.regarding
                            .as_ref()
                            .is_some_and(|r| r.name.as_deref() == Some(a.as_str()))
                        && e.note.as_deref().is_some_and(|n| n.contains(&orphan))
                }) {
                    return Ok(Some(found));
                }
            }
            Ok(None)
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", t.driftless.log()));
    println!(
        "event on {:?} in {:?}: {}",
        event.regarding.as_ref().and_then(|r| r.kind.clone()),
        event.metadata.namespace,
        event.note.unwrap_or_default()
    );
}

in_both_modes!(sigterm_during_a_health_wait_keeps_the_inventory);
/// The inventory reaches status before the health wait: SIGTERM the controller while it waits
/// for a Deployment that never becomes available, restart it, and a commit that removes an
/// object from git still prunes that object.
async fn sigterm_during_a_health_wait_keeps_the_inventory(mode: Mode) {
    let mut t = two_tenants("ten-h", &[], None, mode).await;
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: never\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: never}\n  template:\n    metadata:\n      labels: {app: never}\n    spec:\n      containers:\n      - name: c\n        image: registry.invalid/never:1\n";
    t.server
        .push_files(
            &t.url,
            "main",
            &[
                ("slow/keep.yaml", &configmap("keep-h", None)),
                ("slow/doomed.yaml", &configmap("doomed-h", None)),
                ("slow/never.yaml", deployment),
            ],
            "a Deployment that never becomes available",
        )
        .unwrap();
    t.kustomization_in_a(
        "slow",
        &format!(
            "  path: ./slow\n  serviceAccountName: {a}\n  wait: true\n  timeout: 10m\n  sourceRef: {{kind: GitRepository, name: {a}}}\n",
            a = t.a
        ),
    )
    .await;
    t.fetch_a_now("slow").await;
    // Applied: the controller now waits (up to 10 minutes) for the Deployment.
    let (client, a) = (t.client.clone(), t.a.clone());
    poll_until("keep-h and doomed-h applied", DEADLINE, || {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &a);
        async move {
            let keep = cms.get_opt("keep-h").await.ok().flatten();
            let doomed = cms.get_opt("doomed-h").await.ok().flatten();
            Ok((keep.is_some() && doomed.is_some()).then_some(()))
        }
    })
    .await
    .unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &t.driftless.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stopped = Instant::now();
    let code =
        tokio::task::block_in_place(|| t.driftless.wait_exit(Duration::from_secs(45))).unwrap();
    println!("exited {code:?} {:?} after SIGTERM", stopped.elapsed());

    // A later commit drops doomed-h (and the Deployment) from git.
    let commit = t
        .server
        .push_change(
            &t.url,
            "main",
            &[],
            &["slow/doomed.yaml", "slow/never.yaml"],
            "drop doomed-h",
        )
        .unwrap();
    t.driftless = start_controller(&[&t.a, &t.b], mode, &[]).await;
    t.fetch_a_now("after-restart").await;
    let revision = format!("main@sha1:{commit}");
    wait_ks(
        &t.kustomizations(),
        "slow",
        "the new revision applied",
        |k| applied(k, &revision),
    )
    .await;
    assert!(
        !t.configmap_exists(&t.a, "doomed-h").await,
        "doomed-h was applied before the SIGTERM and left git: it must be pruned\n{}",
        t.driftless.log()
    );
    assert!(t.configmap_exists(&t.a, "keep-h").await);
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(t.client.clone(), &t.a);
    assert!(deployments.get_opt("never").await.unwrap().is_none());
}
