//! The `driftless` CLI end to end: the real binary against the loopback control plane, the
//! loopback git server and a running controller. One test per group of commands that share a
//! setup (one controller each), so the file stays fast.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use driftless_e2e::{
    ControlPlane, Driftless, GitServer, TestNamespace, driftless_binary, mark_deployment_available,
    poll_until,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::Api;
use kube::api::DeleteParams;
use serde_json::Value;

/// What one run of the CLI did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }
}

/// Runs `driftless ARGS` with the plane's kubeconfig (unless `env` overrides it).
async fn driftless(plane: &ControlPlane, args: &[&str]) -> Run {
    driftless_env(plane, args, &[], &[]).await
}

async fn driftless_env(
    plane: &ControlPlane,
    args: &[&str],
    env: &[(&str, &str)],
    unset: &[&str],
) -> Run {
    let binary = driftless_binary().await.expect("driftless binary");
    let mut command = tokio::process::Command::new(binary);
    command
        .args(args)
        .env("KUBECONFIG", plane.kubeconfig_path())
        .stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    for k in unset {
        command.env_remove(k);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("driftless {args:?} did not finish in 120 s"))
        .expect("run driftless");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const SETTINGS: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n";
const CHILD_SETTINGS: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: child-settings\ndata:\n  size: big\n";

fn child_kustomization() -> String {
    String::from(
        "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata:\n  name: child\n\
         spec:\n  interval: 10m\n  prune: true\n  path: ./child\n  sourceRef:\n    kind: GitRepository\n    name: apps\n",
    )
}

/// get, reconcile (success and failure), suspend, resume, tree, trace, events, export,
/// create source git / kustomization, `--watch`, and the kubectl plugin.
#[tokio::test(flavor = "multi_thread")]
async fn day_two_commands_follow_a_kustomization() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "cli").await.unwrap();
    let n = ns.name();
    let server = GitServer::start().unwrap();
    server.create_repo("apps").unwrap();
    let url = server.git_url("apps");
    let child = child_kustomization();
    let first = server
        .push_files(
            &url,
            "main",
            &[
                ("apps/settings.yaml", SETTINGS),
                ("apps/child.yaml", &child),
                ("child/settings.yaml", CHILD_SETTINGS),
            ],
            "first",
        )
        .unwrap();
    let _controller = Driftless::start(plane, &[n], &["--insecure-apply-as-controller"])
        .await
        .unwrap();

    // create: typed flags, applied by server-side apply.
    let created = driftless(
        plane,
        &[
            "create", "source", "git", "apps", "--url", &url, "--branch", "main", "-n", n,
        ],
    )
    .await
    .ok();
    assert!(
        created
            .stdout
            .contains(&format!("GitRepository/{n}/apps applied")),
        "{created:#?}"
    );
    driftless(
        plane,
        &[
            "create",
            "kustomization",
            "apps",
            "--source",
            "GitRepository/apps",
            "--path",
            "./apps",
            "-n",
            n,
        ],
    )
    .await
    .ok();

    // reconcile waits for the request to be handled and prints the applied revision.
    let reconciled = driftless(
        plane,
        &[
            "reconcile",
            "kustomization",
            "apps",
            "--with-source",
            "-n",
            n,
            "--timeout",
            "60s",
        ],
    )
    .await
    .ok();
    assert!(
        reconciled.stdout.contains(&format!("main@sha1:{first}")),
        "{reconciled:#?}"
    );
    driftless(
        plane,
        &[
            "reconcile",
            "kustomization",
            "child",
            "-n",
            n,
            "--timeout",
            "60s",
        ],
    )
    .await
    .ok();

    // get: the table and the JSON.
    let sources = driftless(plane, &["get", "sources", "git", "-n", n])
        .await
        .ok();
    let header = sources.stdout.lines().next().unwrap_or_default().to_owned();
    for column in ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE", "AGE"] {
        assert!(header.contains(column), "{sources:#?}");
    }
    let row = sources.stdout.lines().nth(1).unwrap_or_default().to_owned();
    assert!(
        row.starts_with("apps ") && row.contains(&first) && row.contains("True"),
        "{sources:#?}"
    );
    let listed = driftless(plane, &["get", "kustomizations", "-n", n])
        .await
        .ok();
    assert!(
        listed.stdout.lines().any(|l| l.starts_with("child ")),
        "{listed:#?}"
    );
    let json = driftless(plane, &["get", "all", "-A", "-o", "json"])
        .await
        .ok();
    let list: Value = serde_json::from_str(&json.stdout).expect("get -o json is JSON");
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["kind"] == "Kustomization"
                && i["metadata"]["namespace"] == n
                && i["metadata"]["name"] == "apps"),
        "{json:#?}"
    );

    // The same binary as a kubectl plugin.
    let plugin_dir = tempfile::tempdir().unwrap();
    let binary = driftless_binary().await.unwrap();
    std::os::unix::fs::symlink(binary, plugin_dir.path().join("kubectl-driftless")).unwrap();
    let path = format!(
        "{}:{}",
        plugin_dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = tokio::process::Command::new("kubectl")
        .args(["driftless", "get", "kustomizations", "-n", n])
        .env("PATH", &path)
        .env("KUBECONFIG", plane.kubeconfig_path())
        .output()
        .await
        .expect("kubectl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("apps"),
        "kubectl driftless: {out:?}"
    );
    let help = tokio::process::Command::new("kubectl")
        .args(["driftless", "--help"])
        .env("PATH", &path)
        .output()
        .await
        .expect("kubectl runs");
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("Usage: kubectl driftless"),
        "{help:?}"
    );

    // tree: the inventory with the nested Kustomization expanded.
    let tree = driftless(plane, &["tree", "kustomization", "apps", "-n", n])
        .await
        .ok();
    assert!(
        tree.stdout
            .starts_with(&format!("Kustomization/{n}/apps\n")),
        "{tree:#?}"
    );
    assert!(
        tree.stdout.contains(&format!("ConfigMap/{n}/settings")),
        "{tree:#?}"
    );
    assert!(
        tree.stdout.contains(&format!(
            "├── Kustomization/{n}/child\n│   └── ConfigMap/{n}/child-settings"
        )),
        "{tree:#?}"
    );

    // trace: from an object to its Kustomization and GitRepository.
    let trace = driftless(plane, &["trace", "configmap", "child-settings", "-n", n])
        .await
        .ok();
    assert!(trace.stdout.contains("Kustomization:  child"), "{trace:#?}");
    assert!(trace.stdout.contains("GitRepository:  apps"), "{trace:#?}");
    assert!(
        trace.stdout.contains(&format!("main@sha1:{first}")),
        "{trace:#?}"
    );
    assert!(trace.stdout.contains(&url), "{trace:#?}");

    // events: the controller's Events for one object.
    poll_until("events for Kustomization/apps", DEADLINE, || async {
        let events = driftless(plane, &["events", "--for", "Kustomization/apps", "-n", n]).await;
        Ok((events.code == 0 && events.stdout.contains("Kustomization/apps")).then_some(()))
    })
    .await
    .unwrap();

    // export: clean YAML.
    let exported = driftless(plane, &["export", "kustomization", "apps", "-n", n])
        .await
        .ok();
    let doc: Value = serde_norway::from_str(exported.stdout.trim_start_matches("---\n")).unwrap();
    assert_eq!(doc["spec"]["path"], "./apps", "{exported:#?}");
    assert!(
        doc.get("status").is_none() && doc["metadata"].get("uid").is_none(),
        "{exported:#?}"
    );
    assert!(
        doc["metadata"].get("managedFields").is_none(),
        "{exported:#?}"
    );

    // --watch prints the rows that change.
    let binary = driftless_binary().await.unwrap();
    let mut watch = tokio::process::Command::new(binary)
        .args(["get", "kustomizations", "-n", n, "--watch"])
        .env("KUBECONFIG", plane.kubeconfig_path())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut watched = tokio::io::BufReader::new(watch.stdout.take().unwrap());
    // Listing first: header and two rows.
    let mut lines = Vec::new();
    for _ in 0..3 {
        lines.push(read_line(&mut watched, "the listing").await);
    }
    assert!(lines[0].starts_with("NAME"), "{lines:?}");
    driftless(plane, &["suspend", "kustomization", "child", "-n", n])
        .await
        .ok();
    // Status writes may print rows too; the suspended row must come.
    let mut seen = Vec::new();
    loop {
        let line = read_line(&mut watched, "the row with child suspended").await;
        if line.starts_with("child ") && line.contains(" true ") {
            break;
        }
        seen.push(line);
        assert!(seen.len() < 50, "no row with child suspended: {seen:?}");
    }
    watch.kill().await.unwrap();

    // A broken commit: reconcile fails with the controller's message and a non-zero exit.
    let broken = server
        .push_files(
            &url,
            "main",
            &[(
                "apps/settings.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n",
            )],
            "broken",
        )
        .unwrap();
    let failed = driftless(
        plane,
        &[
            "reconcile",
            "kustomization",
            "apps",
            "--with-source",
            "-n",
            n,
            "--timeout",
            "60s",
        ],
    )
    .await;
    assert_eq!(failed.code, 1, "{failed:#?}");
    assert!(
        failed.stderr.contains("Kustomization/") && failed.stderr.contains("failed"),
        "{failed:#?}"
    );
    assert!(
        failed.stderr.contains("settings.yaml"),
        "the message names the file: {failed:#?}"
    );
    let _ = broken;

    // suspend / resume: a suspended object is not reconciled on request; resume waits for
    // the reconcile it triggers.
    driftless(plane, &["suspend", "kustomization", "apps", "-n", n])
        .await
        .ok();
    let got = driftless(plane, &["get", "kustomizations", "-n", n])
        .await
        .ok();
    let row = got
        .stdout
        .lines()
        .find(|l| l.starts_with("apps "))
        .unwrap_or_default()
        .to_owned();
    assert!(row.contains(" true "), "{got:#?}");
    let refused = driftless(plane, &["reconcile", "kustomization", "apps", "-n", n]).await;
    assert!(
        refused.code == 1 && refused.stderr.contains("suspended"),
        "{refused:#?}"
    );
    let fixed = server
        .push_files(&url, "main", &[("apps/settings.yaml", SETTINGS)], "fixed")
        .unwrap();
    driftless(
        plane,
        &[
            "reconcile",
            "source",
            "git",
            "apps",
            "-n",
            n,
            "--timeout",
            "60s",
        ],
    )
    .await
    .ok();
    let resumed = driftless(
        plane,
        &[
            "resume",
            "kustomization",
            "apps",
            "-n",
            n,
            "--timeout",
            "60s",
        ],
    )
    .await
    .ok();
    assert!(
        resumed.stdout.contains(&format!("main@sha1:{fixed}")),
        "{resumed:#?}"
    );
}

async fn read_line(
    reader: &mut tokio::io::BufReader<tokio::process::ChildStdout>,
    waiting_for: &str,
) -> String {
    use tokio::io::AsyncBufReadExt;
    let mut line = String::new();
    tokio::time::timeout(DEADLINE, reader.read_line(&mut line))
        .await
        .unwrap_or_else(|_| {
            panic!("no line from `get --watch` within {DEADLINE:?}: waiting for {waiting_for}")
        })
        .expect("read");
    line
}

fn write_tree(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
}

fn configmap(name: &str, data: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  {data}\n")
}

fn secret(name: &str, value_b64: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: Opaque\ndata:\n  password: {value_b64}\n"
    )
}

/// build and diff: the local tree built as the controller would (substituteFrom from the
/// cluster), dry-run as the Kustomization's ServiceAccount; created, changed and pruned
/// objects shown; Secret values masked; exit status 1 on differences, 0 without, 2 on error.
#[tokio::test(flavor = "multi_thread")]
async fn diff_and_build_show_what_a_change_would_do() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "cli-diff").await.unwrap();
    let n = ns.name();
    // "hunter2" and "swordfish", base64.
    let (old_secret, new_secret) = ("aHVudGVyMg==", "c3dvcmRmaXNo");
    let keep = configmap("keep", "a: \"1\"");
    let change_old = configmap("change", "v: old");
    let gone = configmap("gone", "x: \"1\"");
    let subst = configmap("greeting", "text: ${greeting}");
    let creds_old = secret("creds", old_secret);
    let server = GitServer::start().unwrap();
    server.create_repo("apps").unwrap();
    let url = server.git_url("apps");
    server
        .push_files(
            &url,
            "main",
            &[
                ("deploy/keep.yaml", &keep),
                ("deploy/change.yaml", &change_old),
                ("deploy/gone.yaml", &gone),
                ("deploy/greeting.yaml", &subst),
                ("deploy/creds.yaml", &creds_old),
            ],
            "first",
        )
        .unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), n);
    apply_yaml(
        &sas,
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: deployer}\n",
    )
    .await;
    apply_yaml(
        &sas,
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: nobody}\n",
    )
    .await;
    // No controller manager aggregates the `admin` ClusterRole here: a Role of its own.
    let roles: Api<Role> = Api::namespaced(client.clone(), n);
    apply_yaml(
        &roles,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: deployer}\n\
         rules: [{apiGroups: [''], resources: [configmaps, secrets], verbs: ['*']}]\n",
    )
    .await;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), n);
    apply_yaml(
        &bindings,
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: deployer}}\n\
             roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}}\n\
             subjects: [{{kind: ServiceAccount, name: deployer, namespace: {n}}}]\n"
        ),
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), n);
    apply_yaml(&cms, &configmap("vars", "greeting: hello-from-the-cluster")).await;
    let _controller = Driftless::start(plane, &[n], &[]).await.unwrap();
    driftless(
        plane,
        &["create", "source", "git", "apps", "--url", &url, "-n", n],
    )
    .await
    .ok();
    let ks = |name: &str, sa: &str| {
        format!(
            "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata: {{name: {name}}}\n\
             spec:\n  interval: 10m\n  prune: true\n  path: ./deploy\n  serviceAccountName: {sa}\n\
             \x20 sourceRef: {{kind: GitRepository, name: apps}}\n\
             \x20 postBuild:\n    substituteFrom: [{{kind: ConfigMap, name: vars}}]\n"
        )
    };
    let kss: Api<driftless_api::Kustomization> = Api::namespaced(client.clone(), n);
    apply_yaml(&kss, &ks("apps", "deployer")).await;
    apply_yaml(&kss, &ks("noperm", "nobody")).await;
    driftless(
        plane,
        &[
            "reconcile",
            "kustomization",
            "apps",
            "--with-source",
            "-n",
            n,
            "--timeout",
            "60s",
        ],
    )
    .await
    .ok();

    // The local tree: one changed, one removed, one new object, and a changed Secret.
    let local = tempfile::tempdir().unwrap();
    write_tree(
        local.path(),
        &[
            ("keep.yaml", &keep),
            ("change.yaml", &configmap("change", "v: new")),
            ("fresh.yaml", &configmap("fresh", "y: \"2\"")),
            ("greeting.yaml", &subst),
            ("creds.yaml", &secret("creds", new_secret)),
        ],
    );
    let dir = local.path().to_str().unwrap();
    let diff = driftless(
        plane,
        &["diff", "kustomization", "apps", "--path", dir, "-n", n],
    )
    .await;
    assert_eq!(diff.code, 1, "differences exit 1: {diff:#?}");
    let out = &diff.stdout;
    assert!(
        out.contains(&format!("► ConfigMap/{n}/fresh created")),
        "{out}"
    );
    assert!(
        out.contains(&format!("► ConfigMap/{n}/change configured")),
        "{out}"
    );
    assert!(
        out.contains("-  v: old") && out.contains("+  v: new"),
        "{out}"
    );
    assert!(
        out.contains(&format!("► ConfigMap/{n}/gone pruned")),
        "{out}"
    );
    assert!(
        out.contains(&format!("► Secret/{n}/creds configured")),
        "{out}"
    );
    assert!(
        out.contains("*** (before)") && out.contains("*** (after)"),
        "{out}"
    );
    for leaked in [old_secret, new_secret, "hunter2", "swordfish"] {
        assert!(
            !out.contains(leaked) && !diff.stderr.contains(leaked),
            "Secret value {leaked} shown: {out}"
        );
    }
    assert!(
        !out.contains("/keep "),
        "an unchanged object is not shown: {out}"
    );
    assert!(
        !out.contains("greeting configured"),
        "substituted as the controller did: {out}"
    );

    // The tree git holds: nothing to change.
    let same = tempfile::tempdir().unwrap();
    write_tree(
        same.path(),
        &[
            ("keep.yaml", &keep),
            ("change.yaml", &change_old),
            ("gone.yaml", &gone),
            ("greeting.yaml", &subst),
            ("creds.yaml", &creds_old),
        ],
    );
    let none = driftless(
        plane,
        &[
            "diff",
            "kustomization",
            "apps",
            "--path",
            same.path().to_str().unwrap(),
            "-n",
            n,
        ],
    )
    .await;
    assert_eq!(none.code, 0, "{none:#?}");
    assert!(
        none.stdout.is_empty() && none.stderr.contains("no changes"),
        "{none:#?}"
    );

    // As a ServiceAccount without rights, the dry-run is refused: exit 2, the identity named.
    let denied = driftless(
        plane,
        &["diff", "kustomization", "noperm", "--path", dir, "-n", n],
    )
    .await;
    assert_eq!(denied.code, 2, "{denied:#?}");
    assert!(
        denied
            .stderr
            .contains(&format!("system:serviceaccount:{n}:nobody"))
            && denied.stderr.contains("forbidden"),
        "{denied:#?}"
    );

    // build: substitution from the cluster's ConfigMap, and the owner labels.
    let built = driftless(
        plane,
        &["build", "kustomization", "apps", "--path", dir, "-n", n],
    )
    .await
    .ok();
    assert!(
        built.stdout.contains("text: hello-from-the-cluster"),
        "{built:#?}"
    );
    assert!(
        built.stdout.contains("kustomize.driftless.dev/name: apps"),
        "{built:#?}"
    );
    assert!(built.stdout.contains("name: fresh"), "{built:#?}");
}

/// Clear errors with a non-zero exit, create for every kind, export without a cluster,
/// completions, logs without a controller pod, and check.
#[tokio::test(flavor = "multi_thread")]
async fn errors_creation_completion_logs_and_check() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "cli-misc").await.unwrap();
    let n = ns.name();

    // No cluster: a clear message, exit 1.
    let home = tempfile::tempdir().unwrap();
    let home_dir = home.path().to_str().unwrap();
    let missing = driftless_env(
        plane,
        &["get", "kustomizations"],
        &[("KUBECONFIG", "/nonexistent/kubeconfig")],
        &[],
    )
    .await;
    assert!(
        missing.code == 1 && missing.stderr.contains("$KUBECONFIG"),
        "{missing:#?}"
    );
    let nothing = driftless_env(
        plane,
        &["get", "kustomizations"],
        &[("HOME", home_dir)],
        &[
            "KUBECONFIG",
            "KUBERNETES_SERVICE_HOST",
            "KUBERNETES_SERVICE_PORT",
        ],
    )
    .await;
    assert!(
        nothing.code == 1 && nothing.stderr.contains("no cluster configured"),
        "{nothing:#?}"
    );

    // Unknown objects are named.
    let unknown = driftless(plane, &["reconcile", "kustomization", "missing", "-n", n]).await;
    assert_eq!(unknown.code, 1, "{unknown:#?}");
    assert!(
        unknown.stderr.contains(&format!(
            "Kustomization 'missing' not found in namespace '{n}'"
        )),
        "{unknown:#?}"
    );
    let bad_name = driftless(plane, &["suspend", "source", "git", "../x", "-n", n]).await;
    assert!(
        bad_name.code == 1 && bad_name.stderr.contains("not a valid object name"),
        "{bad_name:#?}"
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), n);
    apply_yaml(&cms, &configmap("plain", "a: b")).await;
    let unmanaged = driftless(plane, &["trace", "configmap", "plain", "-n", n]).await;
    assert!(
        unmanaged.code == 1 && unmanaged.stderr.contains("not managed by Driftless"),
        "{unmanaged:#?}"
    );
    let no_kind = driftless(plane, &["trace", "nosuchkind", "x", "-n", n]).await;
    assert!(
        no_kind.code == 1 && no_kind.stderr.contains("serves no kind 'nosuchkind'"),
        "{no_kind:#?}"
    );

    // create: validated flags, --export without any cluster.
    let refused = driftless(
        plane,
        &[
            "create", "source", "git", "x", "--url", "ftp://x", "--export",
        ],
    )
    .await;
    assert!(
        refused.code == 1 && refused.stderr.contains("--url 'ftp://x'"),
        "{refused:#?}"
    );
    let exported = driftless_env(
        plane,
        &[
            "create",
            "source",
            "git",
            "web",
            "--url",
            "https://git.example/web.git",
            "--export",
        ],
        &[("HOME", home_dir)],
        &["KUBECONFIG"],
    )
    .await
    .ok();
    let doc: Value = serde_norway::from_str(exported.stdout.trim_start_matches("---\n")).unwrap();
    assert_eq!(doc["kind"], "GitRepository");
    assert_eq!(doc["metadata"]["namespace"], "default");
    assert_eq!(doc["spec"]["ref"]["branch"], "main");
    let creates: [&[&str]; 6] = [
        &[
            "create",
            "image",
            "repository",
            "web",
            "--image",
            "registry.example/acme/web",
        ],
        &[
            "create",
            "image",
            "policy",
            "web",
            "--image-ref",
            "web",
            "--select-semver",
            ">=1.0.0 <2",
        ],
        &[
            "create",
            "image",
            "update",
            "web",
            "--git-repo-ref",
            "apps",
            "--author-email",
            "bot@example.test",
        ],
        &[
            "create",
            "provider",
            "hook",
            "--type",
            "generic",
            "--address",
            "http://127.0.0.1:9/hook",
        ],
        &[
            "create",
            "alert",
            "all",
            "--provider-ref",
            "hook",
            "--event-source",
            "Kustomization/*",
        ],
        &[
            "create",
            "receiver",
            "push",
            "--type",
            "generic",
            "--resource",
            "GitRepository/apps",
            "--secret-ref",
            "token",
        ],
    ];
    for args in creates {
        let args: Vec<&str> = args.iter().copied().chain(["-n", n]).collect();
        driftless(plane, &args).await.ok();
    }
    let images = driftless(plane, &["get", "images", "all", "-n", n])
        .await
        .ok();
    for name in [
        "imagerepository/web",
        "imagepolicy/web",
        "imageupdateautomation/web",
    ] {
        assert!(images.stdout.contains(name), "{images:#?}");
    }
    let alerts = driftless(plane, &["get", "alerts", "-n", n, "-o", "yaml"])
        .await
        .ok();
    assert!(
        alerts.stdout.contains("kind: Alert") && alerts.stdout.contains("name: all"),
        "{alerts:#?}"
    );
    let bad_policy = driftless(
        plane,
        &[
            "create",
            "image",
            "policy",
            "p",
            "--image-ref",
            "web",
            "--select-semver",
            "not a range",
            "-n",
            n,
        ],
    )
    .await;
    assert!(
        bad_policy.code == 1 && bad_policy.stderr.contains("--select-semver"),
        "{bad_policy:#?}"
    );

    // completion scripts.
    for (shell, needle) in [
        ("bash", "_driftless"),
        ("zsh", "#compdef driftless"),
        ("fish", "complete -c driftless"),
    ] {
        let script = driftless(plane, &["completion", shell]).await.ok();
        assert!(
            script.stdout.contains(needle),
            "{shell}: {}",
            &script.stdout[..200.min(script.stdout.len())]
        );
    }

    // logs: no controller pod here, and it says so.
    let logs = driftless(
        plane,
        &[
            "logs",
            "--controller-namespace",
            n,
            "--kind",
            "Kustomization",
        ],
    )
    .await;
    assert!(
        logs.code == 1 && logs.stderr.contains("no controller pod found"),
        "{logs:#?}"
    );

    // check: CRDs current; no controller yet (exit 1); then a controller with its RBAC.
    let pre = driftless(plane, &["check", "--pre"]).await.ok();
    assert!(pre.stdout.contains("✔ Kubernetes v1."), "{pre:#?}");
    let check = driftless(plane, &["check", "--controller-namespace", n]).await;
    assert_eq!(check.code, 1, "{check:#?}");
    assert!(
        check
            .stdout
            .contains("✔ CRD kustomizations.kustomize.driftless.dev is installed and current"),
        "{check:#?}"
    );
    assert!(
        check
            .stdout
            .contains(&format!("✗ controller Deployment {n}/driftless not found")),
        "{check:#?}"
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), n);
    apply_yaml(
        &deployments,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: driftless}\nspec:\n  selector: {matchLabels: {app: d}}\n\
         \x20 template:\n    metadata: {labels: {app: d}}\n    spec: {containers: [{name: driftless, image: driftless}]}\n",
    )
    .await;
    mark_deployment_available(&client, n, "driftless")
        .await
        .unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), n);
    apply_yaml(
        &sas,
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: driftless}\n",
    )
    .await;
    let role_name = format!("{n}-impersonator");
    let roles: Api<ClusterRole> = Api::all(client.clone());
    apply_yaml(
        &roles,
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {role_name}}}\n\
             rules: [{{apiGroups: [''], resources: [serviceaccounts], verbs: [impersonate]}}]\n"
        ),
    )
    .await;
    let role_bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    apply_yaml(
        &role_bindings,
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: {role_name}}}\n\
             roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {role_name}}}\n\
             subjects: [{{kind: ServiceAccount, name: driftless, namespace: {n}}}]\n"
        ),
    )
    .await;
    let healthy = driftless(plane, &["check", "--controller-namespace", n]).await;
    let _ = role_bindings
        .delete(&role_name, &DeleteParams::default())
        .await;
    let _ = roles.delete(&role_name, &DeleteParams::default()).await;
    assert_eq!(healthy.code, 0, "{healthy:#?}");
    assert!(
        healthy.stdout.contains(&format!(
            "✔ system:serviceaccount:{n}:driftless may impersonate ServiceAccounts"
        )) && healthy.stdout.contains("all checks passed"),
        "{healthy:#?}"
    );
}
