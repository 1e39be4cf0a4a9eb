//! Operating Driftless: metrics and probes of a running process, leader election between two
//! processes, and SIGTERM in the middle of work.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use driftless_api::{GitRepository, Kustomization};
use driftless_e2e::{ControlPlane, Driftless, GitServer, TestNamespace, poll_until};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

fn sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn sigkill(pid: u32) {
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn metric(body: &str, prefix: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn repo_with_configmap(server: &GitServer, name: &str) -> String {
    server.create_repo(name).unwrap();
    let url = server.git_url(name);
    server
        .push_files(
            &url,
            "main",
            &[(
                "app/cm.yaml",
                &format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n"
                ),
            )],
            "first",
        )
        .unwrap();
    url
}

async fn sync(client: &kube::Client, ns: &str, name: &str, url: &str) {
    let repos: Api<GitRepository> = Api::namespaced(client.clone(), ns);
    apply_yaml(&repos, &format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: {name}}}\nspec: {{url: '{url}', interval: 10m, ref: {{branch: main}}}}\n"
    )).await;
    let ks: Api<Kustomization> = Api::namespaced(client.clone(), ns);
    apply_yaml(&ks, &format!(
        "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata: {{name: {name}}}\nspec: {{interval: 10m, prune: true, path: ./app, sourceRef: {{kind: GitRepository, name: {name}}}}}\n"
    )).await;
}

async fn wait_configmap(client: &kube::Client, ns: &str, name: &str, timeout: Duration) {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    poll_until(&format!("ConfigMap {name} applied"), timeout, || async {
        Ok(cms.get_opt(name).await.unwrap().map(|_| ()))
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_probes_move_with_reconciles() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "ops-metrics").await.unwrap();
    let server = GitServer::start().unwrap();
    let url = repo_with_configmap(&server, "metrics").await;
    let driftless = Driftless::start(plane, &[ns.name()], &["--insecure-apply-as-controller"])
        .await
        .unwrap();

    let (status, _) = driftless.get_health("/healthz").await.unwrap();
    assert_eq!(status, 200);
    poll_until("/readyz 200 once caches synced", DEADLINE, || async {
        Ok((driftless.get_health("/readyz").await?.0 == 200).then_some(()))
    })
    .await
    .unwrap();
    let (_, before) = driftless.get_metrics("/metrics").await.unwrap();
    assert!(
        before.contains("driftless_reconcile_total{kind=\"Kustomization\",result=\"success\"} 0"),
        "series exist at zero before any reconcile"
    );
    sync(&client, ns.name(), "metrics", &url).await;
    wait_configmap(&client, ns.name(), "metrics", DEADLINE).await;
    let ready = format!(
        "driftless_resource_ready{{kind=\"Kustomization\",name=\"metrics\",namespace=\"{}\"}} 1",
        ns.name()
    );
    let body = poll_until("the Kustomization's ready gauge", DEADLINE, || async {
        let body = driftless.get_metrics("/metrics").await?.1;
        Ok(body.contains(&ready).then_some(body))
    })
    .await
    .unwrap();
    for name in [
        "driftless_reconcile_duration_seconds",
        "driftless_reconcile_total",
        "driftless_resource_ready",
        "driftless_resource_suspended",
        "driftless_source_cache_hits",
        "driftless_source_cache_misses",
        "driftless_source_cache_bytes",
        "driftless_git_fetch_duration_seconds",
        "driftless_kustomize_build_duration_seconds",
        "driftless_apply_objects_total",
    ] {
        assert!(
            body.contains(&format!("# HELP {name} ")),
            "{name} missing from /metrics"
        );
    }
    assert!(
        metric(
            &body,
            "driftless_reconcile_total{kind=\"Kustomization\",result=\"success\"}"
        ) >= 1.0
    );
    assert!(
        metric(
            &body,
            "driftless_reconcile_total{kind=\"GitRepository\",result=\"success\"}"
        ) >= 1.0
    );
    assert!(metric(&body, "driftless_apply_objects_total{action=\"created\"}") >= 1.0);
    assert!(metric(&body, "driftless_source_cache_bytes") > 0.0);
    assert!(
        metric(
            &body,
            "driftless_kustomize_build_duration_seconds_count{kind=\"Kustomization\"}"
        ) >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn leader_hands_over_when_killed_and_sigterm_releases_the_lease() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "ops-leader").await.unwrap();
    let server = GitServer::start().unwrap();
    let lease_args = [
        "--leader-elect",
        "--leader-election-id=e2e-leader",
        "--insecure-apply-as-controller",
    ];
    let lease_ns = format!("--leader-election-namespace={}", ns.name());
    let mut args: Vec<&str> = lease_args.to_vec();
    args.push(&lease_ns);

    let mut first = Driftless::start(plane, &[ns.name()], &args).await.unwrap();
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns.name());
    let holder = || async {
        leases
            .get_opt("e2e-leader")
            .await
            .unwrap()
            .and_then(|l| l.spec?.holder_identity)
            .filter(|h| !h.is_empty())
    };
    let first_id = poll_until("the first process leads", DEADLINE, || async {
        Ok(holder().await)
    })
    .await
    .unwrap();
    let mut second = Driftless::start(plane, &[ns.name()], &args).await.unwrap();

    // Only the leader reconciles.
    let url = repo_with_configmap(&server, "one").await;
    sync(&client, ns.name(), "one", &url).await;
    wait_configmap(&client, ns.name(), "one", DEADLINE).await;
    assert!(
        second.log().contains("waiting for leadership") && !second.log().contains("became leader"),
        "{}",
        second.log()
    );

    // Kill the leader without a goodbye: the second takes over within 20 s.
    sigkill(first.pid());
    first.wait_exit(Duration::from_secs(10)).unwrap();
    let killed = Instant::now();
    let second_id = poll_until(
        "the second process leads",
        Duration::from_secs(30),
        || async { Ok(holder().await.filter(|h| *h != first_id)) },
    )
    .await
    .unwrap();
    let handover = killed.elapsed();
    eprintln!("leader handover after SIGKILL: {handover:?}");
    assert!(
        handover < Duration::from_secs(20),
        "handover took {handover:?}"
    );
    let url = repo_with_configmap(&server, "two").await;
    sync(&client, ns.name(), "two", &url).await;
    wait_configmap(&client, ns.name(), "two", DEADLINE).await;

    // SIGTERM in the middle of work: exits cleanly, releases the lease; a restart completes
    // what was interrupted.
    let url = repo_with_configmap(&server, "three").await;
    sync(&client, ns.name(), "three", &url).await;
    sigterm(second.pid());
    let code = tokio::task::block_in_place(|| second.wait_exit(Duration::from_secs(40))).unwrap();
    assert_eq!(code, Some(0), "{}", second.log());
    assert!(
        second.log().contains("released the leader lease"),
        "{}",
        second.log()
    );
    assert!(
        holder().await.is_none(),
        "the lease is released on SIGTERM (was {second_id})"
    );
    let _third = Driftless::start(plane, &[ns.name()], &args).await.unwrap();
    wait_configmap(&client, ns.name(), "three", DEADLINE).await;
    let ks: Api<Kustomization> = Api::namespaced(client.clone(), ns.name());
    for name in ["one", "two", "three"] {
        wait_ks(&ks, name, "Ready after the restarts", |k| {
            k.status
                .as_ref()
                .is_some_and(|s| driftless_api::condition::is_ready(&s.conditions))
        })
        .await;
    }
}
