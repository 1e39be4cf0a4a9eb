//! Scale: 200 tenants, each onboarded with one `driftless tenant create`, all following the
//! same repository, reconciled by one `driftless run`. All become Ready within minutes and
//! the controller's peak RSS stays under 150 MiB.
//!
//! The tenants' namespaces stay on the shared control plane afterwards (it has no namespace
//! controller); every run uses fresh names (`e2e-scale-<run>-NNN`).

mod common;
mod tenancy_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use driftless_api::Kustomization;
use driftless_api::condition;
use driftless_e2e::{ControlPlane, Driftless, GitServer, poll_until};
use kube::Api;
use kube::api::ListParams;
use tenancy_support::{apply_documents, label_all, tenant_create, unique};

const TENANTS: usize = 200;
/// Label put on every onboarded object, selected with `--watch-label-selector` so this
/// controller ignores what other tests create on the shared plane.
const RUN_LABEL: &str = "e2e.driftless.dev/scale-run";
/// Peak resident memory the controller may reach.
const RSS_BUDGET_KIB: u64 = 150 * 1024;
/// How long all tenants may take to become Ready.
const ALL_READY_DEADLINE: Duration = Duration::from_secs(150);

fn configmap(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  tenant: app\n")
}

/// A field of /proc/<pid>/status in KiB (`VmHWM`, `VmRSS`).
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_tenants_in_one_controller() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let server = GitServer::start().unwrap();
    server.create_repo("shared").unwrap();
    let url = server.git_url("shared");
    let (one, two, three) = (configmap("one"), configmap("two"), configmap("three"));
    let commit = server
        .push_files(
            &url,
            "main",
            &[
                ("app/one.yaml", one.as_str()),
                ("app/two.yaml", two.as_str()),
                ("app/three.yaml", three.as_str()),
            ],
            "shared app",
        )
        .unwrap();
    let revision = format!("main@sha1:{commit}");
    let run = unique("e2e-scale");

    // Onboard: one `driftless tenant create` per tenant, applied through the API.
    let started = Instant::now();
    let limit = Arc::new(tokio::sync::Semaphore::new(16));
    let mut onboarding = tokio::task::JoinSet::new();
    for i in 0..TENANTS {
        let name = format!("{run}-{i:03}");
        let mut documents = tenant_create(&[
            &name,
            "--namespace",
            &name,
            "--git-url",
            &url,
            "--path",
            "./app",
            "--interval",
            "10m",
            // `admin` is aggregated by the controller-manager, which this plane lacks.
            "--cluster-role",
            "cluster-admin",
        ])
        .await;
        label_all(&mut documents, RUN_LABEL, &run);
        let (client, limit) = (client.clone(), limit.clone());
        onboarding.spawn(async move {
            let _permit = limit.acquire().await.expect("semaphore open");
            apply_documents(&client, &documents).await;
        });
    }
    while let Some(done) = onboarding.join_next().await {
        done.expect("onboarding task");
    }
    let onboarded = started.elapsed();

    let selector = format!("{RUN_LABEL}={run}");
    let driftless = Driftless::start(
        plane,
        &[],
        &[
            &format!("--watch-label-selector={selector}"),
            "--no-cross-namespace-refs",
            "--default-service-account=default",
        ],
    )
    .await
    .unwrap();
    let pid = driftless.pid();
    let started = Instant::now();
    let kustomizations: Api<Kustomization> = Api::all(client.clone());
    let list = ListParams::default().labels(&selector);
    let ready_count = AtomicUsize::new(0);
    let all_ready = poll_until("all 200 tenants Ready", ALL_READY_DEADLINE, || {
        let (kustomizations, list, revision, ready_count) =
            (&kustomizations, &list, &revision, &ready_count);
        async move {
            let items = kustomizations
                .list(list)
                .await
                .map_err(driftless_e2e::Error::kube("list Kustomizations"))?
                .items;
            let ready = items.iter().filter(|k| applied(k, revision)).count();
            ready_count.store(ready, Ordering::Relaxed);
            Ok((items.len() == TENANTS && ready == TENANTS).then_some(()))
        }
    })
    .await;
    let to_ready = started.elapsed();
    if let Err(e) = all_ready {
        let failing: Vec<String> = kustomizations
            .list(&list)
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|k| !applied(k, &revision))
            .take(5)
            .map(|k| {
                let ready = k.status.and_then(|s| {
                    condition::find(&s.conditions, condition::READY).map(|c| c.message.clone())
                });
                format!("{}: {ready:?}", k.metadata.namespace.unwrap_or_default())
            })
            .collect();
        let ready = ready_count.load(Ordering::Relaxed);
        panic!("{e}: {ready}/{TENANTS} Ready; first not ready: {failing:#?}");
    }
    let peak_kib = proc_status_kib(pid, "VmHWM");
    let now_kib = proc_status_kib(pid, "VmRSS");
    println!(
        "{TENANTS} tenants: onboarded in {onboarded:?}; all Ready {to_ready:?} after the controller started; \
         controller peak RSS {:.1} MiB (now {:.1} MiB)",
        peak_kib as f64 / 1024.0,
        now_kib as f64 / 1024.0
    );
    let (_, metrics) = driftless.get_metrics("/metrics").await.unwrap();
    for line in metrics.lines().filter(|l| {
        l.starts_with("driftless_source_cache_")
            || l.starts_with("driftless_git_fetch_duration_seconds_count")
    }) {
        println!("  {line}");
    }
    assert!(
        peak_kib < RSS_BUDGET_KIB,
        "controller peak RSS {peak_kib} KiB is over the budget of {RSS_BUDGET_KIB} KiB"
    );
}
