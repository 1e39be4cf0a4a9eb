//! Git over ssh:// end to end, with the real `driftless` binary and the loopback sshd:
//! `driftless create secret git` generates a deploy key and gathers the host key, the printed
//! public key is authorized, and a GitRepository over ssh:// becomes Ready; a key the server
//! does not know fails with AuthenticationFailed naming the URL (never the key); a changed host
//! key is refused (known_hosts mismatch) and the last artifact kept; an ImageUpdateAutomation
//! pushes its commit over ssh with the same deploy key and the same host key checking.

mod common;

use std::process::Command;

use common::*;
use driftless_api::{GitRepository, ImagePolicy, ImageRepository, ImageUpdateAutomation};
use driftless_e2e::{
    ControlPlane, Driftless, GitServer, Registry, SshServer, TestNamespace, driftless_binary,
    poll_until,
};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

/// Runs `driftless args…` against `plane`; returns (success, stdout, stderr).
async fn driftless_cli(plane: &ControlPlane, args: &[&str]) -> (bool, String, String) {
    let binary = driftless_binary().await.unwrap();
    let out = Command::new(binary)
        .env("KUBECONFIG", plane.kubeconfig_path())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `driftless create secret git NAME --url URL -n NS`: the printed public key line.
async fn create_deploy_key(plane: &ControlPlane, ns: &str, name: &str, url: &str) -> String {
    let (ok, stdout, stderr) = driftless_cli(
        plane,
        &["create", "secret", "git", name, "--url", url, "-n", ns],
    )
    .await;
    assert!(ok, "create secret git {name} failed: {stderr}");
    let key = stdout.trim().to_owned();
    assert!(
        key.starts_with("ssh-ed25519 ") && !key.contains('\n'),
        "stdout is the public key alone: {stdout:?}"
    );
    assert!(stderr.contains("host key: ssh-ed25519 SHA256:"), "{stderr}");
    key
}

fn ready_reason_message(repo: &GitRepository) -> Option<(String, String, String)> {
    let ready = ready_of(&repo.status.as_ref()?.conditions)?;
    Some((ready.status, ready.reason, ready.message))
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_key_from_the_cli_syncs_over_ssh_and_bad_keys_are_refused() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "git-ssh").await.unwrap();
    let git = GitServer::start().unwrap();
    let mut ssh = SshServer::start(&git).unwrap();
    let repo = git.create_repo("app").unwrap();
    let first = git
        .push_files(
            &git.git_url("app"),
            "main",
            &[("deploy/cm.yaml", "kind: ConfigMap\n")],
            "first",
        )
        .unwrap();
    let url = ssh.url(&repo);

    let public_key = create_deploy_key(plane, ns.name(), "deploy", &url).await;
    let unauthorized = create_deploy_key(plane, ns.name(), "other", &url).await;
    assert_ne!(public_key, unauthorized);
    ssh.authorize(&public_key).unwrap();

    // The Secret is in Flux's format, its known_hosts the server's real key.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns.name());
    let secret = secrets.get("deploy").await.unwrap();
    let data = secret.data.unwrap();
    let text = |key: &str| String::from_utf8(data[key].0.clone()).unwrap();
    assert!(text("identity").starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert_eq!(text("identity.pub").trim(), public_key);
    assert_eq!(text("known_hosts"), ssh.known_hosts().unwrap());

    let _driftless = Driftless::start(plane, &[ns.name()], &["--controllers=source"])
        .await
        .unwrap();
    let api: Api<GitRepository> = Api::namespaced(client.clone(), ns.name());
    for (name, secret) in [("app", "deploy"), ("wrong-key", "other")] {
        apply_yaml(&api, &format!(
            "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: {name}}}\nspec: {{url: '{url}', interval: 1m, secretRef: {{name: {secret}}}, ref: {{branch: main}}}}\n"
        )).await;
    }
    let expected = format!("main@sha1:{first}");
    let synced = wait_repo(&api, "app", "GitRepository over ssh:// Ready", |r| {
        artifact_revision(r).as_deref() == Some(expected.as_str())
    })
    .await;
    let (status, reason, _) = ready_reason_message(&synced).unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Succeeded"));

    let wrong = wait_repo(&api, "wrong-key", "unauthorized key refused", |r| {
        ready_reason_message(r).is_some_and(|(status, _, _)| status == "False")
    })
    .await;
    let (_, reason, message) = ready_reason_message(&wrong).unwrap();
    assert_eq!(reason, "AuthenticationFailed", "{message}");
    let display_url = url.replacen(&format!("{}@", ssh.user()), "", 1);
    assert!(message.contains(&display_url), "names the URL: {message}");
    assert!(message.contains("Permission denied"), "{message}");
    let blob = unauthorized.split_whitespace().nth(1).unwrap();
    for material in ["OPENSSH PRIVATE KEY", blob] {
        assert!(
            !message.contains(material),
            "key material in the message: {message}"
        );
    }

    // The server's host key changes: the next fetch is refused, the last artifact kept.
    ssh.replace_host_key().unwrap();
    git.push_files(
        &git.git_url("app"),
        "main",
        &[("deploy/cm.yaml", "kind: ConfigMap # 2\n")],
        "second",
    )
    .unwrap();
    apply_yaml(&api, &format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: app, annotations: {{reconcile.driftless.dev/requestedAt: host-key-changed}}}}\nspec: {{url: '{url}', interval: 1m, secretRef: {{name: deploy}}, ref: {{branch: main}}}}\n"
    )).await;
    let refused = wait_repo(&api, "app", "changed host key refused", |r| {
        ready_reason_message(r).is_some_and(|(status, _, _)| status == "False")
    })
    .await;
    let (_, _, message) = ready_reason_message(&refused).unwrap();
    assert!(
        message.contains("does not match the secret's known_hosts")
            && message.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{message}"
    );
    assert!(message.contains(&display_url), "{message}");
    assert_eq!(
        artifact_revision(&refused).as_deref(),
        Some(expected.as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn image_automation_pushes_over_ssh_with_the_deploy_key() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "iua-ssh").await.unwrap();
    let n = ns.name();
    let registry = Registry::start().unwrap();
    for tag in ["1.0.0", "1.1.0"] {
        registry.push_image("team/web", tag).await.unwrap();
    }
    let image = format!("{}/team/web", registry.host());
    let git = GitServer::start().unwrap();
    let ssh = SshServer::start(&git).unwrap();
    let repo = git.create_repo("fleet").unwrap();
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: {image}:1.0.0 # {{\"$imagepolicy\": \"{n}:web\"}}\n"
    );
    let first = git
        .push_files(
            &git.git_url("fleet"),
            "main",
            &[("deploy/web.yaml", &deployment)],
            "web at 1.0.0",
        )
        .unwrap();
    let url = ssh.url(&repo);
    let public_key = create_deploy_key(plane, n, "deploy", &url).await;
    ssh.authorize(&public_key).unwrap();

    let _driftless = Driftless::start(plane, &[n], &["--controllers=source,image"])
        .await
        .unwrap();
    apply_yaml(&Api::<GitRepository>::namespaced(client.clone(), n), &format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: fleet}}\nspec: {{url: '{url}', interval: 1m, secretRef: {{name: deploy}}, ref: {{branch: main}}}}\n"
    )).await;
    apply_yaml(&Api::<ImageRepository>::namespaced(client.clone(), n), &format!(
        "apiVersion: image.driftless.dev/v1\nkind: ImageRepository\nmetadata: {{name: web}}\nspec: {{image: '{image}', interval: 1m, insecure: true}}\n"
    )).await;
    apply_yaml(&Api::<ImagePolicy>::namespaced(client.clone(), n),
        "apiVersion: image.driftless.dev/v1\nkind: ImagePolicy\nmetadata: {name: web}\nspec: {imageRepositoryRef: {name: web}, policy: {semver: {range: '^1'}}}\n",
    ).await;
    apply_yaml(&Api::<ImageUpdateAutomation>::namespaced(client.clone(), n),
        "apiVersion: image.driftless.dev/v1\nkind: ImageUpdateAutomation\nmetadata: {name: fleet}\nspec:\n  sourceRef: {kind: GitRepository, name: fleet}\n  interval: 2s\n  git:\n    commit:\n      author: {name: driftless-bot, email: bot@driftless.dev}\n  update: {path: ./deploy, strategy: Setters}\n",
    ).await;

    // The pushed commit lands on main of the bare repository behind sshd.
    let read = |args: &[&str]| {
        let out = git
            .git_command()
            .arg("-C")
            .arg(&repo)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let want = format!("{image}:1.1.0");
    let head = poll_until("the automation pushes 1.1.0 over ssh", DEADLINE, || async {
        let head = read(&["rev-parse", "main"]).trim().to_owned();
        if head == first {
            return Ok(None);
        }
        Ok(read(&["show", "main:deploy/web.yaml"])
            .contains(&want)
            .then_some(head))
    })
    .await
    .unwrap_or_else(|e| {
        let automation = automation_status(&client, n);
        panic!(
            "{e}\n{automation}\nsshd log:\n{}",
            std::fs::read_to_string(ssh.dir().join("sshd.log")).unwrap_or_default()
        )
    });
    assert_eq!(
        read(&["log", "-1", "--format=%an", &head]).trim(),
        "driftless-bot"
    );
    let sshd_log = std::fs::read_to_string(ssh.dir().join("sshd.log")).unwrap();
    assert!(sshd_log.contains("Accepted publickey"), "{sshd_log}");
}

/// The automation's status, for a failure message.
fn automation_status(client: &kube::Client, ns: &str) -> String {
    let api: Api<ImageUpdateAutomation> = Api::namespaced(client.clone(), ns);
    let status = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current()
            .block_on(async { api.get("fleet").await.ok().and_then(|a| a.status) })
    });
    format!("ImageUpdateAutomation status: {status:#?}")
}
