//! A git push announced by a GitHub-style webhook reaches the cluster in seconds: the real
//! `driftless` binary's receiver checks the signature, asks the GitRepository to fetch, and
//! the Kustomization applies the new commit.

mod common;

use std::time::{Duration, Instant};

use common::*;
use driftless_api::notification::Receiver;
use driftless_api::{GitRepository, Kustomization};
use driftless_e2e::{ControlPlane, Driftless, GitServer, TestNamespace, poll_until};
use hmac::{Hmac, Mac};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use sha2::Sha256;

fn signature(token: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_push_webhook_syncs_within_three_seconds() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "webhook").await.unwrap();
    let n = ns.name();
    let server = GitServer::start().unwrap();
    server.create_repo("app").unwrap();
    let url = server.git_url("app");
    let cm = |v: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  version: \"{v}\"\n"
        )
    };
    server
        .push_files(&url, "main", &[("deploy/cm.yaml", &cm("1"))], "v1")
        .unwrap();
    let driftless = Driftless::start(plane, &[n], &["--insecure-apply-as-controller"])
        .await
        .unwrap();

    // A long interval: only the webhook can make the new commit arrive in time.
    apply_yaml(&Api::<GitRepository>::namespaced(client.clone(), n), &format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: app}}\nspec: {{url: '{url}', interval: 1h, ref: {{branch: main}}}}\n"
    )).await;
    let ks_api: Api<Kustomization> = Api::namespaced(client.clone(), n);
    apply_yaml(&ks_api, "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata: {name: app}\nspec: {interval: 1h, prune: true, path: ./deploy, sourceRef: {kind: GitRepository, name: app}}\n").await;
    apply_yaml(&Api::<Secret>::namespaced(client.clone(), n), "apiVersion: v1\nkind: Secret\nmetadata: {name: webhook}\nstringData: {token: s3cret-token}\n").await;
    let receivers: Api<Receiver> = Api::namespaced(client.clone(), n);
    apply_yaml(&receivers, "apiVersion: notification.driftless.dev/v1\nkind: Receiver\nmetadata: {name: github}\nspec:\n  type: github\n  events: [push]\n  secretRef: {name: webhook}\n  resources:\n  - {kind: GitRepository, name: app}\n").await;
    let path = poll_until("the receiver's webhook path", DEADLINE, || async {
        Ok(receivers
            .get("github")
            .await
            .unwrap()
            .status
            .and_then(|s| s.webhook_path))
    })
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), n);
    poll_until("first commit applied", DEADLINE, || async {
        Ok(cms.get_opt("app").await.unwrap().map(|_| ()))
    })
    .await
    .unwrap();

    let commit = server
        .push_files(&url, "main", &[("deploy/cm.yaml", &cm("2"))], "v2")
        .unwrap();
    let body = format!(r#"{{"ref":"refs/heads/main","after":"{commit}"}}"#).into_bytes();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();

    let refused = http
        .post(driftless.receiver_url(&path))
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", signature("wrong-token", &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);

    let called = Instant::now();
    let accepted = http
        .post(driftless.receiver_url(&path))
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", signature("s3cret-token", &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(accepted.status().is_success(), "{}", accepted.status());
    let expected = format!("main@sha1:{commit}");
    wait_ks(&ks_api, "app", "the pushed commit applied", |k| {
        applied(k, &expected)
    })
    .await;
    let elapsed = called.elapsed();
    eprintln!("webhook call to applied: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert_eq!(cms.get("app").await.unwrap().data.unwrap()["version"], "2");
}
