//! Scale of the Kustomization controller on this 2-core machine: 100 Kustomizations of 10
//! objects each from one repository, all Ready within 60 s, the controller's peak RSS under
//! 100 MiB; then commit-to-applied latency after a requestedAt annotation for a 10-object set.

mod common;

use std::time::{Duration, Instant};

use common::*;
use driftless_api::{GitRepository, Kustomization};
use driftless_e2e::{ControlPlane, Driftless, GitServer, TestNamespace, poll_until};
use kube::Api;
use kube::api::{Patch, PatchParams};

const KUSTOMIZATIONS: usize = 100;

/// Ten objects: six ConfigMaps, two (headless, so repeated runs on the shared plane do not
/// exhaust its Service IP range) Services, a ServiceAccount and a Deployment.
fn app_files(version: &str) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for i in 0..6 {
        files.push((format!("app/cm-{i}.yaml"), format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  version: \"{version}\"\n")));
    }
    for i in 0..2 {
        files.push((format!("app/svc-{i}.yaml"), format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\nspec:\n  clusterIP: None\n  selector: {{app: web}}\n  ports:\n  - port: {}\n", 8080 + i)));
    }
    files.push((
        "app/sa.yaml".into(),
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\n".into(),
    ));
    files.push(("app/deploy.yaml".into(), "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      serviceAccountName: web\n      containers:\n      - name: web\n        image: ghcr.io/stefanprodan/podinfo:6.7.0\n".into()));
    files
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn hundred_kustomizations_ready_within_a_minute_in_under_100_mib() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "ks-scale").await.unwrap();
    let server = GitServer::start().unwrap();
    server.create_repo("fleet").unwrap();
    let url = server.git_url("fleet");
    let files = app_files("1");
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    server.push_files(&url, "main", &refs, "fleet").unwrap();
    let driftless = Driftless::start(
        plane,
        &[ns.name()],
        &[
            "--controllers=source,kustomize",
            "--insecure-apply-as-controller",
        ],
    )
    .await
    .unwrap();

    let repos: Api<GitRepository> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&repos, &format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: fleet}}\nspec: {{url: '{url}', interval: 10m, ref: {{branch: main}}}}\n"
    )).await;
    let ks_api: Api<Kustomization> = Api::namespaced(client.clone(), ns.name());
    let started = Instant::now();
    for i in 0..KUSTOMIZATIONS {
        apply_yaml(&ks_api, &format!(
            "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata: {{name: app-{i:03}}}\nspec: {{interval: 10m, prune: true, path: ./app, namePrefix: app-{i:03}-, sourceRef: {{kind: GitRepository, name: fleet}}}}\n"
        )).await;
    }
    let ready_count = || async {
        let list = ks_api.list(&Default::default()).await.unwrap();
        list.items
            .iter()
            .filter(|k| {
                k.status
                    .as_ref()
                    .is_some_and(|s| driftless_api::condition::is_ready(&s.conditions))
            })
            .count()
    };
    poll_until(
        "100 Kustomizations Ready",
        Duration::from_secs(120),
        || async { Ok((ready_count().await == KUSTOMIZATIONS).then_some(())) },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let all_ready = started.elapsed();
    let rss_mib = peak_rss_kib(driftless.pid()) as f64 / 1024.0;
    eprintln!(
        "{KUSTOMIZATIONS} Kustomizations x 10 objects: all Ready after {all_ready:?}; controller peak RSS {rss_mib:.1} MiB"
    );
    assert!(
        all_ready < Duration::from_secs(60),
        "all Ready took {all_ready:?}"
    );
    assert!(rss_mib < 100.0, "peak RSS {rss_mib:.1} MiB");

    // A new commit reaches all 100 Kustomizations (1000 objects, 600 of them changed).
    let files = app_files("2");
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let commit = server.push_files(&url, "main", &refs, "v2").unwrap();
    let expected = format!("main@sha1:{commit}");
    let asked = Instant::now();
    let patch = serde_json::json!({"metadata": {"annotations": {"reconcile.driftless.dev/requestedAt": "v2"}}});
    repos
        .patch("fleet", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    poll_until(
        "all 100 Kustomizations at the new commit",
        Duration::from_secs(120),
        || async {
            let list = ks_api.list(&Default::default()).await.unwrap();
            let done = list
                .items
                .iter()
                .filter(|k| {
                    k.status
                        .as_ref()
                        .and_then(|s| s.last_applied_revision.as_deref())
                        == Some(expected.as_str())
                })
                .count();
            Ok((done == KUSTOMIZATIONS).then_some(()))
        },
    )
    .await
    .unwrap();
    eprintln!(
        "a commit reached all {KUSTOMIZATIONS} Kustomizations in {:?}",
        asked.elapsed()
    );

    // Commit-to-applied latency of one 10-object set from its own repository, with the
    // 100 others in place.
    server.create_repo("solo").unwrap();
    let solo_url = server.git_url("solo");
    let files = app_files("1");
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    server.push_files(&solo_url, "main", &refs, "solo").unwrap();
    apply_yaml(&repos, &format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: solo}}\nspec: {{url: '{solo_url}', interval: 10m, ref: {{branch: main}}}}\n"
    )).await;
    apply_yaml(&ks_api,
        "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata: {name: solo}\nspec: {interval: 10m, prune: true, path: ./app, namePrefix: solo-, sourceRef: {kind: GitRepository, name: solo}}\n"
    ).await;
    wait_ks(&ks_api, "solo", "solo Ready", |k| {
        k.status
            .as_ref()
            .is_some_and(|s| driftless_api::condition::is_ready(&s.conditions))
    })
    .await;
    let mut latencies = Vec::new();
    for round in 2..5 {
        let files = app_files(&round.to_string());
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        let commit = server.push_files(&solo_url, "main", &refs, "bump").unwrap();
        let expected = format!("main@sha1:{commit}");
        let asked = Instant::now();
        let patch = serde_json::json!({"metadata": {"annotations": {"reconcile.driftless.dev/requestedAt": format!("solo-{round}")}}});
        repos
            .patch("solo", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        wait_ks(&ks_api, "solo", "solo at the new commit", |k| {
            k.status
                .as_ref()
                .and_then(|s| s.last_applied_revision.as_deref())
                == Some(expected.as_str())
        })
        .await;
        latencies.push(asked.elapsed());
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    eprintln!(
        "commit-to-applied latency after requestedAt, 10 objects: median {median:?} of {latencies:?}"
    );
    assert!(median < Duration::from_secs(2), "median latency {median:?}");
}
