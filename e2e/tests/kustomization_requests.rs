//! How much the Kustomization controller asks the API server, counted by kube-apiserver
//! itself (`apiserver_request_total` on its `/metrics`): periodic reconciles of an unchanged,
//! undrifted set write nothing and dry-run nothing; a commit changing one object reads and
//! writes that object only (the set is still dry-run as a whole before the write); a drifted
//! object is corrected; a foreign edit of a field the controller does not own reads and
//! dry-runs that object only; `requestedAt` forces a full reconcile. A Kustomization of an
//! OCIRepository reads its source from a watch cache too (no GET per reconcile).
//!
//! One test in this file: test binaries run one after another, so during it only this
//! test's controller talks to the plane (the counts exclude the API server's own leases).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use driftless_api::{GitRepository, Kustomization, OCIRepository};
use driftless_e2e::{
    ControlPlane, Driftless, GitServer, Registry, TestNamespace, driftless_binary, poll_until,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

/// (verb, resource, dry-run) → requests so far, for the resources the controller touches.
type Counts = BTreeMap<(String, String, bool), u64>;

async fn counts(client: &Client) -> Counts {
    let text = client
        .request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
        .await
        .expect("kube-apiserver /metrics");
    let mut counts = Counts::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once('}') else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
                .unwrap_or_default()
        };
        let resource = label("resource");
        if ![
            "configmaps",
            "kustomizations",
            "gitrepositories",
            "ocirepositories",
            "events",
        ]
        .contains(&resource.as_str())
        {
            continue;
        }
        let key = (label("verb"), resource, !label("dry_run").is_empty());
        *counts.entry(key).or_default() += value.trim().parse::<f64>().unwrap_or(0.0) as u64;
    }
    counts
}

/// What happened between two counts.
struct Delta(Counts);

impl Delta {
    fn between(before: &Counts, after: &Counts) -> Self {
        Delta(
            after
                .iter()
                .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
                .filter(|(_, v)| *v > 0)
                .collect(),
        )
    }
    fn writes(&self, resource: Option<&str>) -> u64 {
        self.sum(|verb, r, dry| {
            !dry && ["APPLY", "PATCH", "POST", "PUT", "DELETE"].contains(&verb)
                && resource.is_none_or(|want| want == r)
        })
    }
    fn dry_runs(&self) -> u64 {
        self.sum(|_, _, dry| dry)
    }
    fn gets(&self, resource: &str) -> u64 {
        self.sum(|verb, r, _| verb == "GET" && r == resource)
    }
    fn sum(&self, keep: impl Fn(&str, &str, bool) -> bool) -> u64 {
        self.0
            .iter()
            .filter(|((verb, r, dry), _)| keep(verb, r, *dry))
            .map(|(_, n)| n)
            .sum()
    }
}

async fn reconciles(driftless: &Driftless) -> u64 {
    let (_, text) = driftless.get_metrics("/metrics").await.unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("driftless_reconcile_total{") && l.contains("kind=\"Kustomization\"")
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn objects(version: &str) -> Vec<(String, String)> {
    (0..3)
        .map(|i| {
            let value = if i == 0 { version } else { "fixed" };
            (
                format!("app/cm-{i}.yaml"),
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  value: \"{value}\"\n"
                ),
            )
        })
        .collect()
}

/// Waits until the controller has reconciled the Kustomization at least `times` more
/// times, then returns what the API server counted meanwhile.
async fn over_reconciles(client: &Client, driftless: &Driftless, times: u64) -> Delta {
    let before = counts(client).await;
    let start = reconciles(driftless).await;
    poll_until("periodic reconciles", Duration::from_secs(60), || async {
        Ok((reconciles(driftless).await >= start + times).then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    Delta::between(&before, &counts(client).await)
}

#[tokio::test(flavor = "multi_thread")]
async fn steady_reconciles_ask_nothing_and_changes_ask_only_for_what_changed() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "ks-requests").await.unwrap();
    let server = GitServer::start().unwrap();
    server.create_repo("app").unwrap();
    let url = server.git_url("app");
    let push = |version: &str| {
        let files = objects(version);
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        server.push_files(&url, "main", &refs, version).unwrap()
    };
    push("1");
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
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: app}}\nspec: {{url: '{url}', interval: 1h, ref: {{branch: main}}}}\n"
    )).await;
    let ks_api: Api<Kustomization> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&ks_api, "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata: {name: app}\nspec: {interval: 2s, prune: true, path: ./app, sourceRef: {kind: GitRepository, name: app}}\n").await;
    wait_ks(&ks_api, "app", "Ready", |ks| {
        ks.status
            .as_ref()
            .is_some_and(|s| driftless_api::condition::is_ready(&s.conditions))
    })
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());

    // Steady state: a reconcile every 2 s, and nothing asked of the API server (the source
    // comes from a watch cache, the objects have not drifted).
    let steady = over_reconciles(&client, &driftless, 4).await;
    assert_eq!(
        steady.writes(None),
        0,
        "steady reconciles wrote: {:?}",
        steady.0
    );
    assert_eq!(
        steady.dry_runs(),
        0,
        "steady reconciles dry-ran: {:?}",
        steady.0
    );
    assert_eq!(
        steady.gets("configmaps") + steady.gets("gitrepositories"),
        0,
        "{:?}",
        steady.0
    );

    // A commit changing one of three objects: the set is dry-run (3), one object is read
    // and written.
    let before = counts(&client).await;
    let commit = push("2");
    let expected = format!("main@sha1:{commit}");
    let request = serde_json::json!({"metadata": {"annotations": {"reconcile.driftless.dev/requestedAt": "2"}}});
    repos
        .patch("app", &PatchParams::default(), &Patch::Merge(&request))
        .await
        .unwrap();
    wait_ks(&ks_api, "app", "the new commit applied", |ks| {
        applied(ks, &expected)
    })
    .await;
    // Count through two more reconciles: whatever the change costs, follow-ups included.
    over_reconciles(&client, &driftless, 2).await;
    let change = Delta::between(&before, &counts(&client).await);
    assert_eq!(change.writes(Some("configmaps")), 1, "{:?}", change.0);
    assert_eq!(
        change.gets("configmaps"),
        1,
        "only the changed object is read: {:?}",
        change.0
    );
    assert_eq!(
        change.dry_runs(),
        3,
        "the whole set is dry-run once: {:?}",
        change.0
    );
    let cm0 = cms.get("cm-0").await.unwrap();
    assert_eq!(cm0.data.unwrap()["value"], "2");

    // Drift: someone edits cm-1; the controller puts it back, and is quiet again after.
    let edit = serde_json::json!({"data": {"value": "edited"}});
    cms.patch("cm-1", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    poll_until("cm-1 corrected", DEADLINE, || async {
        let cm = cms.get("cm-1").await.unwrap();
        Ok(
            (cm.data.unwrap_or_default().get("value").map(String::as_str) == Some("fixed"))
                .then_some(()),
        )
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let after_drift = over_reconciles(&client, &driftless, 3).await;
    assert_eq!(
        after_drift.writes(None),
        0,
        "quiet after the correction: {:?}",
        after_drift.0
    );
    assert_eq!(after_drift.dry_runs(), 0, "{:?}", after_drift.0);

    // Someone else labels cm-2 (a field the controller does not own): its resourceVersion
    // changes, so it is read and dry-run again, but nothing is to be written, so the other
    // two are not dry-run.
    let label = serde_json::json!({"metadata": {"labels": {"team": "ops"}}});
    let before = counts(&client).await;
    cms.patch("cm-2", &PatchParams::default(), &Patch::Merge(&label))
        .await
        .unwrap();
    poll_until("cm-2 read again", DEADLINE, || async {
        let delta = Delta::between(&before, &counts(&client).await);
        Ok((delta.gets("configmaps") >= 1).then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    // Count through two more reconciles: whatever the label costs, follow-ups included.
    over_reconciles(&client, &driftless, 2).await;
    let foreign = Delta::between(&before, &counts(&client).await);
    assert_eq!(
        foreign.gets("configmaps"),
        1,
        "only the changed object is read: {:?}",
        foreign.0
    );
    assert_eq!(
        foreign.dry_runs(),
        1,
        "only it is dry-run, since nothing is to be written: {:?}",
        foreign.0
    );
    assert_eq!(
        foreign.writes(Some("configmaps")),
        1,
        "the label patch itself, nothing from the controller: {:?}",
        foreign.0
    );

    // requestedAt forces a full reconcile: every object is read and dry-run, none written.
    let before = counts(&client).await;
    let request = serde_json::json!({"metadata": {"annotations": {"reconcile.driftless.dev/requestedAt": "full"}}});
    ks_api
        .patch("app", &PatchParams::default(), &Patch::Merge(&request))
        .await
        .unwrap();
    wait_ks(&ks_api, "app", "requestedAt handled", |ks| {
        ks.status
            .as_ref()
            .and_then(|s| s.reconcile_request.last_handled_reconcile_at.as_deref())
            == Some("full")
    })
    .await;
    let full = Delta::between(&before, &counts(&client).await);
    assert!(
        full.dry_runs() >= 3,
        "a requested reconcile dry-runs every object: {:?}",
        full.0
    );
    assert!(
        full.gets("configmaps") >= 3,
        "and reads every object: {:?}",
        full.0
    );
    assert_eq!(
        full.writes(Some("configmaps")),
        0,
        "nothing changed: {:?}",
        full.0
    );

    // An OCIRepository source: its Kustomization's steady reconciles read it from the
    // watch cache (no GET of the OCIRepository) and write nothing.
    let registry = Registry::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("deploy")).unwrap();
    std::fs::write(
        work.path().join("deploy/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-oci\ndata:\n  value: oci\n",
    )
    .unwrap();
    let oci_url = format!("oci://{}/team/requests", registry.host());
    let pushed = std::process::Command::new(driftless_binary().await.unwrap())
        .args(["push", "artifact", &format!("{oci_url}:v1"), "--path"])
        .arg(work.path())
        .args(["--source", "https://git.example/team/requests"])
        .args(["--revision", "main@sha1:1111"])
        .output()
        .unwrap();
    assert!(
        pushed.status.success(),
        "push artifact: {}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let oci_repos: Api<OCIRepository> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&oci_repos, &format!(
        "apiVersion: source.driftless.dev/v1\nkind: OCIRepository\nmetadata: {{name: oci}}\nspec: {{url: '{oci_url}', interval: 1h, insecure: true, ref: {{tag: v1}}}}\n"
    )).await;
    apply_yaml(&ks_api, "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata: {name: oci}\nspec: {interval: 2s, prune: true, path: ./deploy, sourceRef: {kind: OCIRepository, name: oci}}\n").await;
    wait_ks(&ks_api, "oci", "Ready", |ks| {
        ks.status
            .as_ref()
            .is_some_and(|s| driftless_api::condition::is_ready(&s.conditions))
    })
    .await;
    assert_eq!(
        cms.get("from-oci").await.unwrap().data.unwrap()["value"],
        "oci"
    );
    let steady = over_reconciles(&client, &driftless, 6).await;
    assert_eq!(
        steady.gets("ocirepositories"),
        0,
        "the OCIRepository comes from a watch cache: {:?}",
        steady.0
    );
    assert_eq!(steady.writes(None), 0, "{:?}", steady.0);
    assert_eq!(steady.dry_runs(), 0, "{:?}", steady.0);
}
