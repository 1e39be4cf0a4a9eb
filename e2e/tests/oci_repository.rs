//! OCIRepository end to end: `driftless push artifact` writes a Flux artifact (media types
//! and annotations of `flux push artifact`) to the loopback docker-registry; an
//! OCIRepository pulls it (Ready, revision `<tag>@sha256:<digest>`, annotations in
//! `status.artifact.metadata`) and a Kustomization with `sourceRef.kind: OCIRepository`
//! applies it and follows a re-pushed tag. Bad input: an unknown tag is Ready=False naming
//! the tag; a layer with a `../` entry is refused naming the entry, nothing lands outside
//! the cache and the last artifact stays; `spec.verify` is refused, not ignored.

mod common;

use std::io::Write;
use std::path::Path;

use common::*;
use driftless_api::{Kustomization, OCIRepository};
use driftless_e2e::{ControlPlane, Driftless, Registry, TestNamespace, driftless_binary};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

const FLUX_CONFIG: &str = "application/vnd.cncf.flux.config.v1+json";
const FLUX_CONTENT: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";

fn configmap(greeting: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\ndata:\n  greeting: {greeting}\n"
    )
}

/// Runs `driftless push artifact`; returns the manifest digest it printed.
async fn push(url: &str, dir: &Path, revision: &str) -> String {
    let binary = driftless_binary().await.unwrap();
    let output = std::process::Command::new(binary)
        .args(["push", "artifact", url, "--path"])
        .arg(dir)
        .args([
            "--source",
            "https://git.example/team/apps",
            "--revision",
            revision,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "push failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .trim()
        .rsplit_once('@')
        .map(|(_, d)| d.to_owned())
        .unwrap_or_else(|| panic!("no digest in {stdout:?}"))
}

fn write_dir(dir: &Path, greeting: &str) {
    std::fs::create_dir_all(dir.join("deploy")).unwrap();
    std::fs::write(dir.join("deploy/configmap.yaml"), configmap(greeting)).unwrap();
}

struct Setup {
    client: Client,
    ns: TestNamespace,
    registry: Registry,
    driftless: Driftless,
}

async fn setup(prefix: &str) -> Setup {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, prefix).await.unwrap();
    let registry = Registry::start().unwrap();
    let driftless = Driftless::start(plane, &[ns.name()], &["--insecure-apply-as-controller"])
        .await
        .unwrap();
    Setup {
        client,
        ns,
        registry,
        driftless,
    }
}

fn oci_repository(name: &str, url: &str, reference: &str) -> String {
    format!(
        "apiVersion: source.driftless.dev/v1\nkind: OCIRepository\nmetadata: {{name: {name}}}\nspec:\n  url: {url}\n  interval: 10m\n  insecure: true\n  ref: {reference}\n"
    )
}

fn revision_of(repo: &OCIRepository) -> Option<String> {
    repo.status
        .as_ref()?
        .artifact
        .as_ref()
        .map(|a| a.revision.clone())
}

fn ready_with(repo: &OCIRepository, revision: &str) -> bool {
    repo.status.as_ref().is_some_and(|s| {
        driftless_api::condition::is_ready(&s.conditions)
            && s.artifact.as_ref().map(|a| a.revision.as_str()) == Some(revision)
    })
}

async fn request_reconcile(api: &Api<OCIRepository>, name: &str, token: &str) {
    let patch = serde_json::json!({"metadata": {"annotations": {"reconcile.driftless.dev/requestedAt": token}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn pushed_artifact_is_pulled_and_applied_and_follows_the_tag() {
    let s = setup("oci-apply").await;
    let work = tempfile::tempdir().unwrap();
    write_dir(work.path(), "hello");
    let url = format!("oci://{}/team/apps", s.registry.host());
    let digest1 = push(&format!("{url}:v1"), work.path(), "main@sha1:1111").await;

    // The registry holds what `flux push artifact` writes.
    let manifest = s.registry.manifest("team/apps", "v1").await.unwrap();
    assert_eq!(manifest["config"]["mediaType"], FLUX_CONFIG);
    assert_eq!(manifest["layers"][0]["mediaType"], FLUX_CONTENT);
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.source"],
        "https://git.example/team/apps"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.revision"],
        "main@sha1:1111"
    );
    assert!(
        manifest["annotations"]["org.opencontainers.image.created"]
            .as_str()
            .is_some_and(|c| c.ends_with('Z'))
    );
    // Deterministic tarball: pushing the same directory again gives the same layer.
    let layer1 = manifest["layers"][0]["digest"].clone();

    let repos: Api<OCIRepository> = Api::namespaced(s.client.clone(), s.ns.name());
    apply_yaml(&repos, &oci_repository("apps", &url, "{tag: v1}")).await;
    let rev1 = format!("v1@{digest1}");
    let repo = wait_for(&repos, "apps", "the OCIRepository is Ready", |r| {
        ready_with(r, &rev1)
    })
    .await;
    let artifact = repo.status.unwrap().artifact.unwrap();
    assert_eq!(
        artifact
            .metadata
            .get("org.opencontainers.image.revision")
            .map(String::as_str),
        Some("main@sha1:1111")
    );
    assert!(artifact.url.contains("/artifacts/ocirepository/"));

    // The artifact tarball is served for this OCIRepository and holds the pushed file.
    let path = artifact
        .url
        .split_once("/artifacts/")
        .map(|(_, p)| format!("/artifacts/{p}"))
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tarball = reqwest::get(s.driftless.storage_url(&path)).await.unwrap();
    assert_eq!(tarball.status(), 200, "{path}");
    let bytes = tarball.bytes().await.unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains(&"deploy/configmap.yaml".to_owned()),
        "{names:?}"
    );

    let ks: Api<Kustomization> = Api::namespaced(s.client.clone(), s.ns.name());
    apply_yaml(&ks, "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata: {name: apps}\nspec:\n  interval: 10m\n  prune: true\n  path: ./deploy\n  sourceRef: {kind: OCIRepository, name: apps}\n").await;
    wait_ks(&ks, "apps", "the artifact applied", |k| applied(k, &rev1)).await;
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), s.ns.name());
    let cm = cms.get("greeting").await.unwrap();
    assert_eq!(
        cm.data.unwrap().get("greeting").map(String::as_str),
        Some("hello")
    );

    // Push the same tag again with new content: the OCIRepository and the Kustomization follow.
    let again = push(&format!("{url}:same"), work.path(), "main@sha1:1111").await;
    let layer_again =
        s.registry.manifest("team/apps", "same").await.unwrap()["layers"][0]["digest"].clone();
    assert_eq!(layer_again, layer1, "the tarball is deterministic");
    assert_ne!(again, "", "digest printed");
    write_dir(work.path(), "bonjour");
    let digest2 = push(&format!("{url}:v1"), work.path(), "main@sha1:2222").await;
    assert_ne!(digest1, digest2);
    request_reconcile(&repos, "apps", "1").await;
    let rev2 = format!("v1@{digest2}");
    wait_for(&repos, "apps", "the new digest pulled", |r| {
        ready_with(r, &rev2)
    })
    .await;
    wait_ks(&ks, "apps", "the new artifact applied", |k| {
        applied(k, &rev2)
    })
    .await;
    let cm = cms.get("greeting").await.unwrap();
    assert_eq!(
        cm.data.unwrap().get("greeting").map(String::as_str),
        Some("bonjour")
    );

    // Semver picks the highest matching tag.
    push(&format!("{url}:1.2.0"), work.path(), "main@sha1:2222").await;
    let d3 = push(&format!("{url}:1.10.0"), work.path(), "main@sha1:2222").await;
    push(&format!("{url}:2.0.0"), work.path(), "main@sha1:2222").await;
    apply_yaml(
        &repos,
        &oci_repository("semver", &url, "{semver: '>=1.0.0 <2.0.0'}"),
    )
    .await;
    wait_for(&repos, "semver", "the highest 1.x tag", |r| {
        ready_with(r, &format!("1.10.0@{d3}"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_tag_and_unsupported_fields_are_named() {
    let s = setup("oci-bad").await;
    let work = tempfile::tempdir().unwrap();
    write_dir(work.path(), "hello");
    let url = format!("oci://{}/team/apps", s.registry.host());
    push(&format!("{url}:v1"), work.path(), "main@sha1:1111").await;
    let repos: Api<OCIRepository> = Api::namespaced(s.client.clone(), s.ns.name());
    apply_yaml(&repos, &oci_repository("missing", &url, "{tag: nope}")).await;
    let repo = wait_for(&repos, "missing", "Ready=False naming the tag", |r| {
        failing_with(r.status.as_ref().map(|s| &s.conditions[..]), "tag 'nope'")
    })
    .await;
    assert!(repo.status.unwrap().artifact.is_none());

    // verify (cosign) is refused, never silently skipped; so is a cloud provider.
    apply_yaml(
        &repos,
        &format!(
            "{}  verify: {{provider: cosign}}\n",
            oci_repository("signed", &url, "{tag: v1}")
        ),
    )
    .await;
    let repo = wait_for(&repos, "signed", "spec.verify refused", |r| {
        failing_with(r.status.as_ref().map(|s| &s.conditions[..]), "spec.verify")
    })
    .await;
    let status = repo.status.unwrap();
    assert!(status.artifact.is_none(), "nothing pulled unverified");
    assert!(driftless_api::condition::find(&status.conditions, "Stalled").is_some());
    apply_yaml(
        &repos,
        &format!(
            "{}  provider: aws\n",
            oci_repository("aws", &url, "{tag: v1}")
        ),
    )
    .await;
    wait_for(&repos, "aws", "spec.provider refused", |r| {
        failing_with(
            r.status.as_ref().map(|s| &s.conditions[..]),
            "spec.provider",
        )
    })
    .await;
}

/// A tar.gz with one regular file at a raw (unchecked) path.
fn hostile_layer(path: &[u8], content: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    let name = &mut header.as_gnu_mut().unwrap().name;
    name[..path.len()].copy_from_slice(path);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(content.len() as u64);
    header.set_cksum();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(header.as_bytes()).unwrap();
    gz.write_all(content).unwrap();
    gz.write_all(&vec![0u8; 512 - content.len() % 512]).unwrap();
    gz.write_all(&[0u8; 1024]).unwrap();
    gz.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_layer_escaping_the_artifact_is_refused_and_the_last_artifact_stays() {
    let s = setup("oci-hostile").await;
    let work = tempfile::tempdir().unwrap();
    write_dir(work.path(), "hello");
    let url = format!("oci://{}/team/apps", s.registry.host());
    let digest1 = push(&format!("{url}:v1"), work.path(), "main@sha1:1111").await;
    let repos: Api<OCIRepository> = Api::namespaced(s.client.clone(), s.ns.name());
    apply_yaml(&repos, &oci_repository("apps", &url, "{tag: v1}")).await;
    let rev1 = format!("v1@{digest1}");
    wait_for(&repos, "apps", "Ready on the good artifact", |r| {
        ready_with(r, &rev1)
    })
    .await;

    // The same tag now points at an artifact whose layer writes ../../escaped.yaml.
    let evil = b"../../escaped.yaml";
    let layer = hostile_layer(evil, configmap("evil").as_bytes());
    let annotations = serde_json::json!({"org.opencontainers.image.revision": "main@sha1:6666"});
    s.registry
        .push_artifact(
            "team/apps",
            "v1",
            &layer,
            FLUX_CONTENT,
            FLUX_CONFIG,
            &annotations,
        )
        .await
        .unwrap();
    request_reconcile(&repos, "apps", "1").await;
    let repo = wait_for(&repos, "apps", "the entry refused", |r| {
        failing_with(
            r.status.as_ref().map(|s| &s.conditions[..]),
            "../../escaped.yaml",
        )
    })
    .await;
    let status = repo.status.unwrap();
    let ready = ready_of(&status.conditions).unwrap();
    assert_eq!(ready.reason, "UnsafeArchiveEntry", "{}", ready.message);
    assert_eq!(
        revision_of_status(&status),
        Some(rev1.clone()),
        "last artifact kept"
    );
    // Nothing escaped the staging directory (cache/tmp/<staging>/../../ is cache/).
    let storage = s.driftless.storage_dir();
    let mut escaped = Vec::new();
    for dir in [
        storage.to_path_buf(),
        storage.join("cache"),
        storage.join("cache/tmp"),
    ] {
        if dir.join("escaped.yaml").exists() {
            escaped.push(dir);
        }
    }
    assert!(escaped.is_empty(), "escaped into {escaped:?}");

    // A layer that is not gzip at all: Ready=False, the last artifact still there.
    s.registry
        .push_artifact(
            "team/apps",
            "v1",
            b"not a tarball",
            FLUX_CONTENT,
            FLUX_CONFIG,
            &annotations,
        )
        .await
        .unwrap();
    request_reconcile(&repos, "apps", "2").await;
    let repo = wait_for(&repos, "apps", "the garbage layer refused", |r| {
        r.status
            .as_ref()
            .and_then(|s| ready_of(&s.conditions))
            .is_some_and(|c| c.status == "False" && c.reason == "ArchiveInvalid")
    })
    .await;
    assert_eq!(revision_of(&repo), Some(rev1));
}

fn revision_of_status(status: &driftless_api::oci::OCIRepositoryStatus) -> Option<String> {
    status.artifact.as_ref().map(|a| a.revision.clone())
}
