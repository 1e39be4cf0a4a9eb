//! Onboarding tenants the way a user does: run `driftless tenant create` and apply its
//! output through the API (server-side apply, as `kubectl apply --server-side` would).
#![allow(dead_code)]

pub mod install;

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use driftless_api::{GitRepository, Kustomization};
use driftless_e2e::driftless_binary;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::{Api, Client};
use serde::Deserialize;
use serde_json::Value;

/// A name no earlier run of the shared control plane used (namespaces are never emptied
/// there: it has no namespace controller).
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mixed = nanos ^ (u128::from(std::process::id()) << 40);
    format!("{prefix}-{:08x}", (mixed as u64) & 0xffff_ffff)
}

/// Runs `driftless tenant create ARGS...` and returns the printed documents.
pub async fn tenant_create(args: &[&str]) -> Vec<Value> {
    let binary = driftless_binary().await.expect("driftless builds");
    let output = Command::new(binary)
        .args(["tenant", "create"])
        .args(args)
        .output()
        .expect("driftless tenant create runs");
    assert!(
        output.status.success(),
        "driftless tenant create {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    serde_norway::Deserializer::from_str(&stdout)
        .map(|doc| Value::deserialize(doc).expect("every printed document parses"))
        .collect()
}

fn api_resource(kind: &str) -> ApiResource {
    match kind {
        "Namespace" => ApiResource::erase::<Namespace>(&()),
        "ServiceAccount" => ApiResource::erase::<ServiceAccount>(&()),
        "RoleBinding" => ApiResource::erase::<RoleBinding>(&()),
        "GitRepository" => ApiResource::erase::<GitRepository>(&()),
        "Kustomization" => ApiResource::erase::<Kustomization>(&()),
        other => panic!("driftless tenant create printed an unexpected kind {other}"),
    }
}

/// Server-side applies `documents` in order (the Namespace comes first in the output).
pub async fn apply_documents(client: &Client, documents: &[Value]) {
    for doc in documents {
        let kind = doc["kind"].as_str().expect("kind");
        let name = doc["metadata"]["name"].as_str().expect("metadata.name");
        let resource = api_resource(kind);
        let api: Api<DynamicObject> = match doc["metadata"]["namespace"].as_str() {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        api.patch(
            name,
            &PatchParams::apply("e2e-tenant-onboarding").force(),
            &Patch::Apply(doc),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {kind} {name}: {e}"));
    }
}

/// Adds `key: value` to the labels of every document (to select them with
/// `--watch-label-selector`).
pub fn label_all(documents: &mut [Value], key: &str, value: &str) {
    for doc in documents {
        doc["metadata"]["labels"][key] = Value::String(value.to_owned());
    }
}

/// A tenant onboarded with `driftless tenant create NAME --namespace NAME [--git-url URL
/// --path PATH --interval 10m] [EXTRA...]`, applied through the API.
pub async fn onboard(client: &Client, name: &str, git: Option<(&str, &str)>, extra: &[&str]) {
    let mut args = vec![name, "--namespace", name];
    if let Some((url, path)) = git {
        args.extend(["--git-url", url, "--path", path, "--interval", "10m"]);
    }
    args.extend(extra);
    let documents = tenant_create(&args).await;
    apply_documents(client, &documents).await;
}
