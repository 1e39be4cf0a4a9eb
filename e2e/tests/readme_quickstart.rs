//! README.md's quickstart, run verbatim: `make run` in the background, then every block
//! marked `<!-- quickstart: run -->` in order, one command at a time, in one "terminal".
//! The README's own `kubectl wait` lines check what it says the user will see; this test
//! then checks the end state itself through the API (the rollback, the pruned Service, the
//! reverted scale), so a README that stopped checking would still be caught.

use std::time::Duration;

use driftless_e2e::readme::{Mode, Session, steps};
use driftless_e2e::{driftless_binary, poll_until, repo_root};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::Api;

/// How long `make run` gets to answer its readiness URL (its build steps are cached by the
/// time this runs; a cold machine builds the control plane before any test).
const START: Duration = Duration::from_secs(300);

#[tokio::test]
async fn readme_quickstart_runs_verbatim() {
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let steps = steps("README.md", &readme, "quickstart").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        steps.iter().any(|s| s.mode == Mode::Run),
        "README.md marks no quickstart block to run"
    );
    // `make run` builds the binary with this same cargo command; building it first keeps a
    // cold build out of the time `make run` gets to answer.
    driftless_binary().await.expect("driftless binary");

    // A fresh `make run`: no git repository or working clone from an earlier run, no git
    // daemon serving them. The control plane itself is reused, as `make run` does.
    let dev = root.join(".dev");
    if let Ok(pid) = std::fs::read_to_string(dev.join("git-daemon.pid")) {
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
    for stale in ["git", "hello-world", "git-daemon.pid", "git-daemon.port"] {
        let path = dev.join(stale);
        let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
    }

    // The user's terminal starts without KUBECONFIG (README: set it to use another cluster).
    let logs = tempfile::tempdir().expect("log dir");
    let session = Session::new("README.md", &root, &["KUBECONFIG"]).expect("session");
    let mut background = Vec::new();
    for step in &steps {
        let started = std::time::Instant::now();
        match &step.mode {
            Mode::Skip { .. } => {}
            Mode::Background { until } => {
                let log = logs.path().join(format!("line-{}.log", step.line));
                let mut process = session
                    .spawn(&step.commands[0], &log)
                    .unwrap_or_else(|e| panic!("{e}"));
                let _ = rustls::crypto::ring::default_provider().install_default();
                let client = reqwest::Client::new();
                poll_until(
                    &format!("README.md:{}: {until} answering", step.line),
                    START,
                    || {
                        let alive = process.check_running();
                        let request = client.get(until.as_str()).send();
                        async move {
                            alive?;
                            Ok(request
                                .await
                                .ok()
                                .filter(|r| r.status().is_success())
                                .map(|_| ()))
                        }
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("{e}\n{}", process.log_tail()));
                background.push(process);
            }
            Mode::Run => {
                if let Err(error) = session.run_step(step) {
                    for process in &mut background {
                        if let Err(exited) = process.check_running() {
                            panic!("{error}\n(and the background command exited: {exited})");
                        }
                    }
                    panic!("{error}");
                }
            }
        }
        eprintln!(
            "README.md:{}: {:?} took {:.1?}",
            step.line,
            step.mode,
            started.elapsed()
        );
    }

    // What the README promised, checked through the API of the cluster `make run` used (its
    // own cluster-up may have restarted the plane, on new ports, after a rebuild).
    let kubeconfig =
        kube::config::Kubeconfig::read_from(dev.join("kubeconfig")).expect(".dev/kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config from .dev/kubeconfig");
    let client = kube::Client::try_from(config).expect("client");
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "hello-world");
    let message = configmaps
        .get("hello-world")
        .await
        .expect("ConfigMap hello-world")
        .data
        .and_then(|d| d.get("message").cloned());
    let sample = std::fs::read_to_string(root.join("config/samples/hello-world/configmap.yaml"))
        .expect("sample configmap");
    let message = message.expect("data.message");
    assert!(
        sample.contains(&format!("message: {message}")),
        "after `git revert`, the ConfigMap says {message:?}, not the sample's message"
    );
    let services: Api<Service> = Api::namespaced(client.clone(), "hello-world");
    assert!(
        services
            .get_opt("hello-world")
            .await
            .expect("get Service")
            .is_none(),
        "the Service removed from git was not pruned"
    );
    let deployments: Api<Deployment> = Api::namespaced(client, "hello-world");
    poll_until(
        "the Deployment back at 1 replica",
        Duration::from_secs(30),
        || {
            let deployments = deployments.clone();
            async move {
                let d = deployments
                    .get("hello-world")
                    .await
                    .map_err(driftless_e2e::Error::kube("get Deployment"))?;
                Ok((d.spec.and_then(|s| s.replicas) == Some(1)).then_some(()))
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    drop(background);
}
