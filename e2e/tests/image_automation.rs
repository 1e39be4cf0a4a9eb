//! Image automation end to end, with the image reconcilers running in-process against the
//! loopback control plane, the loopback OCI registry and the loopback git server.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use driftless_api::{GitRepository, ImagePolicy, ImageRepository, ImageUpdateAutomation};
use driftless_e2e::{ControlPlane, Error, GitServer, Registry, TestNamespace, poll_until};
use driftless_image_controller::{
    Context, image_policy, image_repository, image_update_automation,
};
use driftless_runtime::{EventRecorder, Metrics};
use kube::runtime::watcher;
use kube::{Api, Client};
use tokio::sync::oneshot;

/// The image controllers of one test, stopped on drop (or by [`ImageControllers::stop`],
/// which also waits until they are gone).
struct ImageControllers {
    /// The controllers' metrics.
    metrics: Metrics,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ImageControllers {
    /// Starts the ImagePolicy and ImageUpdateAutomation controllers, and the ImageRepository
    /// controller when `scan`, watching `namespace`, with their state under `storage`.
    fn start(client: &Client, namespace: &str, storage: &Path, scan: bool) -> Self {
        let metrics = Metrics::new().expect("metrics");
        let recorder = EventRecorder::new(client.clone(), "driftless");
        let ctx = Arc::new(
            Context::new(client.clone(), recorder, metrics.clone(), storage).expect("context"),
        );
        let mut controllers = ImageControllers {
            metrics,
            stops: Vec::new(),
            tasks: Vec::new(),
        };
        if scan {
            let api = Api::<ImageRepository>::namespaced(client.clone(), namespace);
            let stop = controllers.stop_signal();
            controllers.tasks.push(tokio::spawn(image_repository::run(
                ctx.clone(),
                api,
                watcher::Config::default(),
                || {},
                stop,
            )));
        }
        let api = Api::<ImagePolicy>::namespaced(client.clone(), namespace);
        let stop = controllers.stop_signal();
        controllers.tasks.push(tokio::spawn(image_policy::run(
            ctx.clone(),
            api,
            watcher::Config::default(),
            || {},
            stop,
        )));
        let api = Api::<ImageUpdateAutomation>::namespaced(client.clone(), namespace);
        let stop = controllers.stop_signal();
        controllers
            .tasks
            .push(tokio::spawn(image_update_automation::run(
                ctx,
                api,
                watcher::Config::default(),
                || {},
                stop,
            )));
        controllers
    }

    fn stop_signal(&mut self) -> impl std::future::Future<Output = ()> + Send + Sync + 'static {
        let (tx, rx) = oneshot::channel::<()>();
        self.stops.push(tx);
        async move {
            let _ = rx.await;
        }
    }

    /// Stops the controllers and waits until they have finished.
    async fn stop(mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for task in self.tasks.drain(..) {
            task.await.expect("controller task");
        }
    }
}

impl Drop for ImageControllers {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
    }
}

async fn wait_policy(
    api: &Api<ImagePolicy>,
    name: &str,
    what: &str,
    check: impl Fn(&ImagePolicy) -> bool,
) -> ImagePolicy {
    poll_until(what, DEADLINE, || async {
        let policy = api
            .get(name)
            .await
            .map_err(Error::kube(format!("get ImagePolicy {name}")))?;
        Ok(check(&policy).then_some(policy))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn wait_image_repo(
    api: &Api<ImageRepository>,
    name: &str,
    what: &str,
    check: impl Fn(&ImageRepository) -> bool,
) -> ImageRepository {
    poll_until(what, DEADLINE, || async {
        let repo = api
            .get(name)
            .await
            .map_err(Error::kube(format!("get ImageRepository {name}")))?;
        Ok(check(&repo).then_some(repo))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

fn latest_tag(policy: &ImagePolicy) -> Option<&str> {
    policy
        .status
        .as_ref()?
        .latest_ref
        .as_ref()
        .map(|r| r.tag.as_str())
}

fn image_repository_yaml(name: &str, image: &str, interval: &str) -> String {
    format!(
        "apiVersion: image.driftless.dev/v1\nkind: ImageRepository\nmetadata: {{name: {name}}}\nspec: {{image: '{image}', interval: {interval}, insecure: true}}\n"
    )
}

fn semver_policy_yaml(name: &str, repository: &str, range: &str) -> String {
    format!(
        "apiVersion: image.driftless.dev/v1\nkind: ImagePolicy\nmetadata: {{name: {name}}}\nspec: {{imageRepositoryRef: {{name: {repository}}}, policy: {{semver: {{range: '{range}'}}}}}}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn new_tags_flow_into_policies_and_survive_a_restart() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "image-scan").await.unwrap();
    let registry = Registry::start().unwrap();
    for tag in ["1.0.0", "1.1.0", "2.0.0-rc.1", "1.1.0.sig"] {
        registry.push_image("team/app", tag).await.unwrap();
    }
    let storage = tempfile::tempdir().unwrap();
    let controllers = ImageControllers::start(&client, ns.name(), storage.path(), true);

    let repos: Api<ImageRepository> = Api::namespaced(client.clone(), ns.name());
    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), ns.name());
    let image = format!("{}/team/app", registry.host());
    apply_yaml(&repos, &image_repository_yaml("app", &image, "2s")).await;
    apply_yaml(&policies, &semver_policy_yaml("app", "app", "^1")).await;

    let policy = wait_policy(&policies, "app", "ImagePolicy picks 1.1.0", |p| {
        latest_tag(p) == Some("1.1.0")
    })
    .await;
    let status = policy.status.unwrap();
    assert_eq!(status.latest_ref.unwrap().name, image);
    let ready = ready_of(&status.conditions).unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "Succeeded")
    );
    let repo = repos.get("app").await.unwrap();
    let repo_status = repo.status.unwrap();
    let scan = repo_status.last_scan_result.unwrap();
    assert_eq!(scan.tag_count, 3, "the .sig tag is excluded by default");
    assert_eq!(scan.latest_tags, ["2.0.0-rc.1", "1.1.0", "1.0.0"]);
    assert_eq!(
        repo_status.canonical_image_name.as_deref(),
        Some(image.as_str())
    );

    // A new tag flows through on the next scan, without any manual step.
    registry.push_image("team/app", "1.2.0").await.unwrap();
    wait_policy(&policies, "app", "ImagePolicy picks 1.2.0", |p| {
        latest_tag(p) == Some("1.2.0")
    })
    .await;
    let policy = policies.get("app").await.unwrap();
    assert_eq!(
        policy
            .status
            .unwrap()
            .observed_previous_ref
            .map(|r| r.tag)
            .as_deref(),
        Some("1.1.0")
    );

    // A long interval, scanned once more while the registry is up; then restart with the
    // registry gone. The restarted scanner must not need the registry (its last scan is
    // younger than the interval) and a new policy is answered from the stored tags.
    apply_yaml(&repos, &image_repository_yaml("app", &image, "1h")).await;
    let generation = repos.get("app").await.unwrap().metadata.generation;
    let scanned = wait_image_repo(&repos, "app", "rescan after the interval change", |r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.observed_generation == generation)
    })
    .await;
    let scan_time = scanned.status.unwrap().last_scan_result.unwrap().scan_time;
    controllers.stop().await;
    drop(registry);
    let restarted = ImageControllers::start(&client, ns.name(), storage.path(), true);
    let metrics = restarted.metrics.clone();
    poll_until("the restarted scanner reconciles", DEADLINE, || {
        let metrics = metrics.clone();
        async move {
            let done = metrics
                .reconcile_total
                .with_label_values(&["ImageRepository", "success"])
                .get();
            Ok((done >= 1).then_some(()))
        }
    })
    .await
    .unwrap();
    let ready = metrics
        .resource_ready
        .with_label_values(&["ImageRepository", ns.name(), "app"])
        .get();
    assert_eq!(
        ready, 1,
        "the restarted scanner kept its scan instead of failing to reach the registry"
    );
    apply_yaml(&policies, &semver_policy_yaml("tilde", "app", "~1.1")).await;
    wait_policy(
        &policies,
        "tilde",
        "ImagePolicy tilde picks 1.1.0 from stored tags",
        |p| latest_tag(p) == Some("1.1.0"),
    )
    .await;
    let repo = repos.get("app").await.unwrap().status.unwrap();
    assert_eq!(
        repo.last_scan_result.unwrap().scan_time,
        scan_time,
        "no rescan after the restart"
    );
    assert_eq!(ready_of(&repo.conditions).unwrap().status, "True");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gives_clear_conditions() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "image-bad").await.unwrap();
    let registry = Registry::start().unwrap();
    registry.push_image("team/app", "1.0.0").await.unwrap();
    let storage = tempfile::tempdir().unwrap();
    let _controllers = ImageControllers::start(&client, ns.name(), storage.path(), true);
    let repos: Api<ImageRepository> = Api::namespaced(client.clone(), ns.name());
    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), ns.name());

    // Nothing listens on a port we just had and closed: the registry is unreachable.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    apply_yaml(
        &repos,
        &image_repository_yaml("unreachable", &format!("127.0.0.1:{closed}/team/app"), "1m"),
    )
    .await;
    apply_yaml(
        &repos,
        &image_repository_yaml("app", &format!("{}/team/app", registry.host()), "1m"),
    )
    .await;
    let bad_regex = format!(
        "apiVersion: image.driftless.dev/v1\nkind: ImageRepository\nmetadata: {{name: bad-regex}}\nspec: {{image: '{}/team/app', interval: 1m, insecure: true, exclusionList: ['(']}}\n",
        registry.host()
    );
    apply_yaml(&repos, &bad_regex).await;
    apply_yaml(&policies, &semver_policy_yaml("bad-range", "app", ">= one")).await;
    apply_yaml(&policies, &semver_policy_yaml("no-match", "app", "^7")).await;
    apply_yaml(&policies, &semver_policy_yaml("no-repo", "missing", "^1")).await;

    let unreachable = wait_image_repo(
        &repos,
        "unreachable",
        "unreachable registry reported",
        |r| {
            failing_with(
                r.status.as_ref().map(|s| s.conditions.as_slice()),
                &format!("127.0.0.1:{closed}"),
            )
        },
    )
    .await;
    let ready = ready_of(&unreachable.status.unwrap().conditions).unwrap();
    assert_eq!(ready.reason, "ReadOperationFailed", "{ready:?}");

    let bad = wait_image_repo(
        &repos,
        "bad-regex",
        "invalid exclusion regex reported",
        |r| {
            failing_with(
                r.status.as_ref().map(|s| s.conditions.as_slice()),
                "spec.exclusionList[0]",
            )
        },
    )
    .await;
    let stalled =
        driftless_api::condition::find(&bad.status.unwrap().conditions, "Stalled").cloned();
    assert_eq!(stalled.map(|c| c.status).as_deref(), Some("True"));

    let range = wait_policy(&policies, "bad-range", "invalid range reported", |p| {
        failing_with(
            p.status.as_ref().map(|s| s.conditions.as_slice()),
            "spec.policy.semver.range",
        )
    })
    .await;
    assert_eq!(
        ready_of(&range.status.unwrap().conditions).unwrap().reason,
        "InvalidSpec"
    );
    wait_policy(
        &policies,
        "no-match",
        "a range matching nothing is reported",
        |p| {
            failing_with(
                p.status.as_ref().map(|s| s.conditions.as_slice()),
                "matches semver range '^7'",
            )
        },
    )
    .await;
    wait_policy(
        &policies,
        "no-repo",
        "a missing repository is reported",
        |p| {
            failing_with(
                p.status.as_ref().map(|s| s.conditions.as_slice()),
                "/missing' not found",
            )
        },
    )
    .await;
}

/// `git show <rev>:<path>` in the bare repository at `bare`.
fn show(bare: &Path, rev: &str, path: &str) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(bare)
        .args(["show", &format!("{rev}:{path}")])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn remote_head(bare: &Path, branch: &str) -> String {
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(bare)
        .args(["rev-parse", branch])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rev-parse {branch}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn manifest(namespace: &str, image: &str, tag: &str) -> String {
    format!(
        "# Deployed by the image automation e2e test.\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app   # keep this comment\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: \"{image}:{tag}\" # {{\"$imagepolicy\": \"{namespace}:app\"}}\n          args: ['--flag', \"quoted\"]\n"
    )
}

async fn wait_remote(bare: &Path, branch: &str, path: &str, what: &str, expected: &str) {
    poll_until(what, DEADLINE, || async {
        Ok((show(bare, branch, path).as_deref() == Some(expected)).then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}; remote has {:?}", show(bare, branch, path)));
}

#[tokio::test(flavor = "multi_thread")]
async fn automation_commits_new_tags_to_git_and_a_no_op_run_pushes_nothing() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "image-auto").await.unwrap();
    let registry = Registry::start().unwrap();
    for tag in ["1.0.0", "1.1.0", "2.0.0-rc.1"] {
        registry.push_image("team/app", tag).await.unwrap();
    }
    let image = format!("{}/team/app", registry.host());
    let server = GitServer::start().unwrap();
    let bare = server.create_repo("fleet").unwrap();
    let url = server.git_url("fleet");
    let before = manifest(ns.name(), &image, "1.0.0");
    server
        .push_files(
            &url,
            "main",
            &[
                ("deploy/app.yaml", &before),
                ("deploy/other.yaml", "kind: ConfigMap # untouched\n"),
            ],
            "initial",
        )
        .unwrap();
    let storage = tempfile::tempdir().unwrap();
    let _controllers = ImageControllers::start(&client, ns.name(), storage.path(), true);

    let git_repos: Api<GitRepository> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&git_repos, &format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: fleet}}\nspec: {{url: '{url}', interval: 1m, ref: {{branch: main}}}}\n"
    )).await;
    let repos: Api<ImageRepository> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&repos, &image_repository_yaml("app", &image, "2s")).await;
    let policies: Api<ImagePolicy> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&policies, &semver_policy_yaml("app", "app", "^1")).await;
    let automations: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&automations, "apiVersion: image.driftless.dev/v1\nkind: ImageUpdateAutomation\nmetadata: {name: fleet}\nspec:\n  sourceRef: {kind: GitRepository, name: fleet}\n  interval: 1m\n  git:\n    commit:\n      author: {name: driftless-bot, email: bot@driftless.dev}\n  update: {path: ./deploy, strategy: Setters}\n").await;

    // ^1 picks 1.1.0 and the automation commits exactly that value, every other byte kept.
    wait_remote(
        &bare,
        "main",
        "deploy/app.yaml",
        "automation commits 1.1.0",
        &manifest(ns.name(), &image, "1.1.0"),
    )
    .await;
    let head = remote_head(&bare, "main");
    let automation = poll_until("automation status shows the push", DEADLINE, || async {
        let a = automations
            .get("fleet")
            .await
            .map_err(Error::kube("get ImageUpdateAutomation fleet"))?;
        let pushed = a.status.as_ref().and_then(|s| s.last_push_commit.clone());
        Ok((pushed.as_deref() == Some(head.as_str())).then_some(a))
    })
    .await
    .unwrap();
    let status = automation.status.unwrap();
    assert_eq!(
        status.observed_policies.get("app").map(|r| r.tag.as_str()),
        Some("1.1.0")
    );
    assert!(status.last_push_time.is_some());
    let message = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(&bare)
        .args(["log", "-1", "--format=%an|%B", "main"])
        .output()
        .unwrap();
    let message = String::from_utf8_lossy(&message.stdout).into_owned();
    assert!(
        message.starts_with("driftless-bot|Update images from ImageUpdateAutomation"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "deploy/app.yaml:11: {image}:1.0.0 -> {image}:1.1.0"
        )),
        "{message}"
    );
    assert_eq!(
        show(&bare, "main", "deploy/other.yaml").as_deref(),
        Some("kind: ConfigMap # untouched\n")
    );

    // A new tag flows through: registry -> ImageRepository -> ImagePolicy -> git.
    let first_push = head;
    registry.push_image("team/app", "1.2.0").await.unwrap();
    wait_remote(
        &bare,
        "main",
        "deploy/app.yaml",
        "automation commits 1.2.0",
        &manifest(ns.name(), &image, "1.2.0"),
    )
    .await;
    let head = remote_head(&bare, "main");
    assert_eq!(
        remote_head(&bare, "main~1"),
        first_push,
        "one commit per update, on top of the last"
    );

    // A run with nothing to change makes no commit and no push.
    let requested = "2030-01-01T00:00:00Z";
    apply_yaml(&automations, &format!(
        "apiVersion: image.driftless.dev/v1\nkind: ImageUpdateAutomation\nmetadata: {{name: fleet, annotations: {{reconcile.driftless.dev/requestedAt: '{requested}'}}}}\nspec:\n  sourceRef: {{kind: GitRepository, name: fleet}}\n  interval: 1m\n  git:\n    commit:\n      author: {{name: driftless-bot, email: bot@driftless.dev}}\n  update: {{path: ./deploy, strategy: Setters}}\n"
    )).await;
    let handled = poll_until("the requested run is handled", DEADLINE, || async {
        let a = automations
            .get("fleet")
            .await
            .map_err(Error::kube("get ImageUpdateAutomation fleet"))?;
        let status = a.status.clone().unwrap_or_default();
        Ok((status
            .reconcile_request
            .last_handled_reconcile_at
            .as_deref()
            == Some(requested))
        .then_some(status))
    })
    .await
    .unwrap();
    assert_eq!(remote_head(&bare, "main"), head, "no new commit");
    assert_eq!(handled.last_push_commit.as_deref(), Some(head.as_str()));
    assert!(
        ready_of(&handled.conditions)
            .unwrap()
            .message
            .contains("up to date"),
        "{:?}",
        handled.conditions
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_marker_naming_a_missing_policy_fails_without_a_commit() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "image-missing").await.unwrap();
    let server = GitServer::start().unwrap();
    let bare = server.create_repo("fleet").unwrap();
    let url = server.git_url("fleet");
    let marked = format!(
        "image: r/app:1.0.0 # {{\"$imagepolicy\": \"{}:gone\"}}\n",
        ns.name()
    );
    server
        .push_files(&url, "main", &[("app.yaml", &marked)], "initial")
        .unwrap();
    let head = remote_head(&bare, "main");
    let storage = tempfile::tempdir().unwrap();
    let _controllers = ImageControllers::start(&client, ns.name(), storage.path(), false);
    let git_repos: Api<GitRepository> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&git_repos, &format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: fleet}}\nspec: {{url: '{url}', interval: 1m, ref: {{branch: main}}}}\n"
    )).await;
    let automations: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&automations, "apiVersion: image.driftless.dev/v1\nkind: ImageUpdateAutomation\nmetadata: {name: fleet}\nspec:\n  sourceRef: {kind: GitRepository, name: fleet}\n  interval: 1m\n  git:\n    commit:\n      author: {email: bot@driftless.dev}\n").await;
    poll_until("missing policy reported", DEADLINE, || async {
        let a = automations
            .get("fleet")
            .await
            .map_err(Error::kube("get ImageUpdateAutomation fleet"))?;
        Ok(failing_with(
            a.status.as_ref().map(|s| s.conditions.as_slice()),
            &format!(
                "app.yaml:1: setter marker names ImagePolicy '{}:gone'",
                ns.name()
            ),
        )
        .then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(remote_head(&bare, "main"), head, "nothing pushed");
}

#[tokio::test(flavor = "multi_thread")]
async fn automation_pushes_over_authenticated_http() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "image-http").await.unwrap();
    let registry = Registry::start().unwrap();
    registry.push_image("team/app", "1.0.0").await.unwrap();
    let image = format!("{}/team/app", registry.host());
    let server = GitServer::start().unwrap();
    let bare = server.create_private_repo("fleet").unwrap();
    let with_password =
        server.private_http_url_with_credentials("fleet", server.username(), server.password());
    server
        .push_files(
            &with_password,
            "main",
            &[("app.yaml", &manifest(ns.name(), &image, "0.9.0"))],
            "initial",
        )
        .unwrap();
    let secret = k8s_openapi::api::core::v1::Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("git-creds".into()),
            ..Default::default()
        },
        string_data: Some(
            [
                ("username".to_owned(), server.username().to_owned()),
                ("password".to_owned(), server.password().to_owned()),
            ]
            .into(),
        ),
        ..Default::default()
    };
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), ns.name())
        .create(&kube::api::PostParams::default(), &secret)
        .await
        .unwrap();
    let storage = tempfile::tempdir().unwrap();
    let _controllers = ImageControllers::start(&client, ns.name(), storage.path(), true);
    let url = server.private_http_url("fleet");
    apply_yaml(&Api::<GitRepository>::namespaced(client.clone(), ns.name()), &format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: fleet}}\nspec: {{url: '{url}', interval: 1m, ref: {{branch: main}}, secretRef: {{name: git-creds}}}}\n"
    ))
    .await;
    apply_yaml(
        &Api::<ImageRepository>::namespaced(client.clone(), ns.name()),
        &image_repository_yaml("app", &image, "1m"),
    )
    .await;
    apply_yaml(
        &Api::<ImagePolicy>::namespaced(client.clone(), ns.name()),
        &semver_policy_yaml("app", "app", ">=0.1.0"),
    )
    .await;
    let automations: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&automations, "apiVersion: image.driftless.dev/v1\nkind: ImageUpdateAutomation\nmetadata: {name: fleet}\nspec:\n  sourceRef: {kind: GitRepository, name: fleet}\n  interval: 1m\n  git:\n    commit:\n      author: {email: bot@driftless.dev}\n      messageTemplate: 'chore(images): {{ .Changes }}'\n    push: {branch: image-updates}\n").await;
    wait_remote(
        &bare,
        "image-updates",
        "app.yaml",
        "automation pushes 1.0.0 to the review branch",
        &manifest(ns.name(), &image, "1.0.0"),
    )
    .await;
    assert_eq!(
        show(&bare, "main", "app.yaml"),
        Some(manifest(ns.name(), &image, "0.9.0")),
        "main untouched"
    );
    let subject = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(&bare)
        .args(["log", "-1", "--format=%s", "image-updates"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&subject.stdout).starts_with("chore(images): - app.yaml:11:"),
        "{}",
        String::from_utf8_lossy(&subject.stdout)
    );
}
