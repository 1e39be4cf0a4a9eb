//! `spec.kubeConfig` end to end: a Kustomization on the shared plane applies, health-checks,
//! corrects drift in and prunes from a second loopback plane (the "remote" cluster), as a
//! ServiceAccount impersonated there; an account without rights there is refused by the
//! remote's RBAC; an unreachable remote fails naming the server and loses nothing.

mod common;

use common::*;
use driftless_api::{GitRepository, Kustomization};
use driftless_e2e::{ControlPlane, Driftless, GitServer, TestNamespace, poll_until};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};

fn configmap(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  greeting: {value}\n"
    )
}

fn kustomization(name: &str, account: &str) -> String {
    format!(
        "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata: {{name: {name}}}\nspec:\n  interval: 10m\n  timeout: 30s\n  prune: true\n  wait: true\n  serviceAccountName: {account}\n  sourceRef: {{kind: GitRepository, name: apps}}\n  kubeConfig:\n    secretRef: {{name: remote-kubeconfig}}\n"
    )
}

async fn kubeconfig_secret(client: &Client, ns: &str, kubeconfig: &str) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: remote-kubeconfig}}\nstringData:\n  value.yaml: {}\n",
        serde_json::to_string(kubeconfig).unwrap()
    );
    apply_yaml(&secrets, &yaml).await;
}

async fn request_reconcile(kss: &Api<Kustomization>, name: &str, token: &str) {
    let patch = serde_json::json!({"metadata": {"annotations": {"reconcile.driftless.dev/requestedAt": token}}});
    kss.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

async fn greeting(api: &Api<ConfigMap>, name: &str) -> Option<String> {
    api.get_opt(name)
        .await
        .unwrap()?
        .data?
        .get("greeting")
        .cloned()
}

async fn wait_greeting(api: &Api<ConfigMap>, name: &str, want: Option<&str>) {
    poll_until(
        &format!("remote ConfigMap {name} = {want:?}"),
        DEADLINE,
        || async { Ok((greeting(api, name).await.as_deref() == want).then_some(())) },
    )
    .await
    .unwrap();
}

fn ready(ks: &Kustomization) -> bool {
    ks.status
        .as_ref()
        .is_some_and(|s| driftless_api::condition::is_ready(&s.conditions))
}

#[tokio::test(flavor = "multi_thread")]
async fn applies_prunes_and_corrects_drift_in_a_remote_cluster_and_survives_it_going_away() {
    let plane = ControlPlane::shared().await.unwrap();
    let remote = ControlPlane::remote().await.unwrap();
    let client = plane.client().unwrap();
    let remote_client = remote.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "remote").await.unwrap();
    let name = ns.name().to_owned();

    // The remote side: the same namespace, a deployer with admin rights in it, and an
    // account without any.
    let namespaces: Api<Namespace> = Api::all(remote_client.clone());
    apply_yaml(
        &namespaces,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n"),
    )
    .await;
    let accounts: Api<ServiceAccount> = Api::namespaced(remote_client.clone(), &name);
    apply_yaml(
        &accounts,
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: deployer}\n",
    )
    .await;
    // A Role of its own: the plane has no controller manager to aggregate `admin`.
    let roles: Api<Role> = Api::namespaced(remote_client.clone(), &name);
    apply_yaml(&roles, "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: deployer}\nrules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]\n").await;
    let bindings: Api<RoleBinding> = Api::namespaced(remote_client.clone(), &name);
    apply_yaml(&bindings, &format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: deployer}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}}\nsubjects: [{{kind: ServiceAccount, name: deployer, namespace: {name}}}]\n"
    )).await;

    let server = GitServer::start().unwrap();
    server.create_repo("apps").unwrap();
    let url = server.git_url("apps");
    server
        .push_files(
            &url,
            "main",
            &[
                ("keep.yaml", &configmap("keep", "hello")),
                ("gone.yaml", &configmap("gone", "bye")),
            ],
            "initial",
        )
        .unwrap();
    // Impersonation as on a local cluster: no --insecure-apply-as-controller.
    let _driftless = Driftless::start(plane, &[&name], &[]).await.unwrap();
    let repos: Api<GitRepository> = Api::namespaced(client.clone(), &name);
    apply_yaml(&repos, &format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: apps}}\nspec: {{url: '{url}', interval: 10m, ref: {{branch: main}}}}\n"
    )).await;
    let remote_kubeconfig = remote.kubeconfig_text().unwrap();
    kubeconfig_secret(&client, &name, &remote_kubeconfig).await;
    let kss: Api<Kustomization> = Api::namespaced(client.clone(), &name);
    apply_yaml(&kss, &kustomization("remote", "deployer")).await;

    // Applied (and health-checked, `wait: true`) in the remote cluster, not here.
    wait_ks(&kss, "remote", "Ready=True", ready).await;
    let remote_cms: Api<ConfigMap> = Api::namespaced(remote_client.clone(), &name);
    let local_cms: Api<ConfigMap> = Api::namespaced(client.clone(), &name);
    assert_eq!(
        greeting(&remote_cms, "keep").await.as_deref(),
        Some("hello")
    );
    assert_eq!(greeting(&remote_cms, "gone").await.as_deref(), Some("bye"));
    assert!(local_cms.get_opt("keep").await.unwrap().is_none());
    let managed = remote_cms
        .get("keep")
        .await
        .unwrap()
        .metadata
        .managed_fields
        .unwrap_or_default();
    assert!(
        managed
            .iter()
            .any(|m| m.manager.as_deref() == Some("driftless")),
        "applied by driftless: {managed:?}"
    );

    // Drift in the remote cluster is corrected at the next reconcile.
    let drift = serde_json::json!({"data": {"greeting": "edited-by-hand"}});
    remote_cms
        .patch("keep", &PatchParams::default(), &Patch::Merge(&drift))
        .await
        .unwrap();
    request_reconcile(&kss, "remote", "drift").await;
    wait_greeting(&remote_cms, "keep", Some("hello")).await;

    // Removed from git: pruned in the remote cluster.
    let commit = server
        .push_change(&url, "main", &[], &["gone.yaml"], "remove gone")
        .unwrap();
    let patch = serde_json::json!({"metadata": {"annotations": {"reconcile.driftless.dev/requestedAt": "prune"}}});
    repos
        .patch("apps", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_ks(&kss, "remote", "new revision applied", |ks| {
        applied(ks, &format!("main@sha1:{commit}"))
    })
    .await;
    wait_greeting(&remote_cms, "gone", None).await;

    // An account without rights in the remote cluster: the remote's RBAC refuses it.
    apply_yaml(&kss, &kustomization("nobody", "nobody")).await;
    wait_ks(&kss, "nobody", "Ready=False, forbidden remotely", |ks| {
        let conditions = ks.status.as_ref().map(|s| s.conditions.as_slice());
        failing_with(conditions, &format!("system:serviceaccount:{name}:nobody"))
    })
    .await;
    kss.delete("nobody", &DeleteParams::default())
        .await
        .unwrap();

    // The remote goes away (its kubeconfig now points at a port nobody listens on):
    // Ready=False naming the server; nothing pruned, the inventory kept.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let port_re = regex::Regex::new(r"https://127\.0\.0\.1:\d+").unwrap();
    let dead_server = format!("https://127.0.0.1:{dead_port}");
    let unreachable = port_re
        .replace(&remote_kubeconfig, dead_server.as_str())
        .into_owned();
    assert_ne!(unreachable, remote_kubeconfig);
    kubeconfig_secret(&client, &name, &unreachable).await;
    request_reconcile(&kss, "remote", "down").await;
    let down = wait_ks(&kss, "remote", "Ready=False naming the server", |ks| {
        let conditions = ks.status.as_ref().map(|s| s.conditions.as_slice());
        failing_with(conditions, &format!("127.0.0.1:{dead_port}"))
    })
    .await;
    let inventory = down.status.unwrap().inventory.unwrap().entries;
    assert!(
        inventory
            .iter()
            .any(|e| e.id == format!("{name}_keep__ConfigMap")),
        "{inventory:?}"
    );
    assert_eq!(
        greeting(&remote_cms, "keep").await.as_deref(),
        Some("hello")
    );

    // Back up: reconciled again.
    kubeconfig_secret(&client, &name, &remote_kubeconfig).await;
    request_reconcile(&kss, "remote", "up").await;
    wait_ks(&kss, "remote", "Ready=True again", ready).await;

    kss.delete("remote", &DeleteParams::default())
        .await
        .unwrap();
    namespaces
        .delete(&name, &DeleteParams::default())
        .await
        .ok();
}
