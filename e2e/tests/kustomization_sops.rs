//! `spec.decryption` end to end: files encrypted by the real `sops` CLI (age keys from the
//! real `age-keygen`) are decrypted by the `driftless` binary and applied; a file for a key
//! the Secret does not hold, or with a tampered MAC, fails the Kustomization naming the file
//! and applies nothing.

mod common;

use common::*;
use driftless_api::{GitRepository, Kustomization};
use driftless_e2e::{ControlPlane, Driftless, GitServer, SopsTools, TestNamespace};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use kube::api::ListParams;
use kube::{Api, Client};

const DB_SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: db
  labels:
    tier: backend
type: Opaque
stringData:
  password: s3cr3t-e2e-password
";

const PLAIN_CM: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: plain
data:
  k: v
";

/// Encrypts like Flux's guide: only `data`/`stringData` values, the rest readable.
const REGEX: [&str; 2] = ["--encrypted-regex", "^(data|stringData)$"];

fn kustomization(name: &str, path: &str, secret: &str) -> String {
    format!(
        "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata: {{name: {name}}}\nspec:\n  interval: 10m\n  prune: true\n  path: {path}\n  sourceRef: {{kind: GitRepository, name: apps}}\n  decryption:\n    provider: sops\n    secretRef: {{name: {secret}}}\n"
    )
}

async fn key_secret(client: &Client, ns: &str, name: &str, entry: &str, value: &str) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData:\n  {entry}: {}\n",
        serde_json::to_string(value).unwrap()
    );
    apply_yaml(&secrets, &yaml).await;
}

fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    let data = secret.data.as_ref()?;
    Some(String::from_utf8(data.get(key)?.0.clone()).unwrap())
}

struct Setup {
    client: Client,
    ns: TestNamespace,
    _server: GitServer,
    _driftless: Driftless,
}

async fn setup(prefix: &str, files: &[(&str, &str)]) -> Setup {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, prefix).await.unwrap();
    let server = GitServer::start().unwrap();
    server.create_repo("apps").unwrap();
    let url = server.git_url("apps");
    server.push_files(&url, "main", files, "initial").unwrap();
    let driftless = Driftless::start(plane, &[ns.name()], &["--insecure-apply-as-controller"])
        .await
        .unwrap();
    let repos: Api<GitRepository> = Api::namespaced(client.clone(), ns.name());
    apply_yaml(&repos, &format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: apps}}\nspec: {{url: '{url}', interval: 10m, ref: {{branch: main}}}}\n"
    )).await;
    Setup {
        client,
        ns,
        _server: server,
        _driftless: driftless,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sops_encrypted_secrets_and_generator_inputs_are_applied_decrypted() {
    let tools = SopsTools::find().unwrap();
    let key = tools.age_keygen().unwrap();
    let db = tools
        .encrypt(DB_SECRET, "db.yaml", &key.recipient, &REGEX)
        .unwrap();
    assert!(!db.contains("s3cr3t"), "sops encrypted the value");
    let env = tools
        .encrypt(
            "TOKEN=tok-e2e-123\nMODE=live\n",
            "app.env",
            &key.recipient,
            &[],
        )
        .unwrap();
    let json = tools
        .encrypt(
            "{\"apiKey\": \"json-e2e-key\"}",
            "creds.json",
            &key.recipient,
            &[],
        )
        .unwrap();
    let kustomization_yaml = "resources: [db.yaml]
secretGenerator:
- name: app
  envs: [app.env]
- name: creds
  files: [creds.json]
";
    let s = setup(
        "sops-good",
        &[
            ("good/kustomization.yaml", kustomization_yaml),
            ("good/db.yaml", &db),
            ("good/app.env", &env),
            ("good/creds.json", &json),
        ],
    )
    .await;
    let ns = s.ns.name();
    key_secret(&s.client, ns, "sops-age", "identity.agekey", &key.key_file).await;
    let kss: Api<Kustomization> = Api::namespaced(s.client.clone(), ns);
    apply_yaml(&kss, &kustomization("good", "./good", "sops-age")).await;
    wait_ks(&kss, "good", "Ready=True", |ks| {
        ks.status
            .as_ref()
            .is_some_and(|st| driftless_api::condition::is_ready(&st.conditions))
    })
    .await;

    let secrets: Api<Secret> = Api::namespaced(s.client.clone(), ns);
    let db = secrets.get("db").await.unwrap();
    assert_eq!(
        secret_value(&db, "password").as_deref(),
        Some("s3cr3t-e2e-password")
    );
    assert_eq!(
        db.metadata
            .labels
            .unwrap_or_default()
            .get("tier")
            .map(String::as_str),
        Some("backend")
    );
    let all = secrets.list(&ListParams::default()).await.unwrap();
    let generated = |prefix: &str| {
        all.items
            .iter()
            .find(|s| {
                s.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .unwrap_or_else(|| panic!("generated Secret {prefix}*"))
            .clone()
    };
    let app = generated("app-");
    assert_eq!(secret_value(&app, "TOKEN").as_deref(), Some("tok-e2e-123"));
    assert_eq!(secret_value(&app, "MODE").as_deref(), Some("live"));
    assert!(
        app.data
            .as_ref()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("sops")),
        "no sops metadata keys in the generated Secret"
    );
    let creds = generated("creds-");
    let creds_json: serde_json::Value =
        serde_json::from_str(&secret_value(&creds, "creds.json").unwrap()).unwrap();
    assert_eq!(creds_json["apiKey"], "json-e2e-key");

    // The plaintext is in the Secrets only: never in the Kustomization's status or events.
    let ks = kss.get("good").await.unwrap();
    let status = serde_json::to_string(&ks.status).unwrap();
    let events: Api<Event> = Api::namespaced(s.client.clone(), ns);
    let notes: String = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|e| e.message.clone())
        .collect();
    for secret in ["s3cr3t-e2e-password", "tok-e2e-123", "json-e2e-key"] {
        assert!(
            !status.contains(secret) && !notes.contains(secret),
            "{secret} leaked"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_key_and_tampered_mac_apply_nothing_and_name_the_file() {
    let tools = SopsTools::find().unwrap();
    let held = tools.age_keygen().unwrap();
    let other = tools.age_keygen().unwrap();
    let for_other = tools
        .encrypt(DB_SECRET, "db.yaml", &other.recipient, &REGEX)
        .unwrap();
    let good = tools
        .encrypt(DB_SECRET, "db.yaml", &held.recipient, &REGEX)
        .unwrap();
    // A readable (unencrypted) value changed after encryption: only the MAC can tell.
    let tampered = good.replace("tier: backend", "tier: frontend");
    assert_ne!(tampered, good);
    let s = setup(
        "sops-bad",
        &[
            ("wrong-key/db.yaml", &for_other),
            ("wrong-key/plain.yaml", PLAIN_CM),
            ("tampered/db.yaml", &tampered),
            ("tampered/plain.yaml", PLAIN_CM),
            ("pgp/db.yaml", &good),
        ],
    )
    .await;
    let ns = s.ns.name();
    key_secret(&s.client, ns, "sops-age", "identity.agekey", &held.key_file).await;
    key_secret(
        &s.client,
        ns,
        "sops-pgp",
        "team.asc",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----",
    )
    .await;
    let kss: Api<Kustomization> = Api::namespaced(s.client.clone(), ns);
    apply_yaml(&kss, &kustomization("wrong-key", "./wrong-key", "sops-age")).await;
    apply_yaml(&kss, &kustomization("tampered", "./tampered", "sops-age")).await;
    apply_yaml(&kss, &kustomization("pgp", "./pgp", "sops-pgp")).await;

    let failed = |name: &'static str, needles: Vec<String>| {
        let kss = kss.clone();
        async move {
            wait_ks(&kss, name, "Ready=False naming the cause", |ks| {
                let conditions = ks.status.as_ref().map(|s| s.conditions.as_slice());
                needles.iter().all(|n| failing_with(conditions, n))
            })
            .await
        }
    };
    failed(
        "wrong-key",
        vec![
            "db.yaml".into(),
            other.recipient.clone(),
            held.recipient.clone(),
        ],
    )
    .await;
    failed("tampered", vec!["db.yaml".into(), "MAC mismatch".into()]).await;
    failed("pgp", vec!["team.asc".into(), "PGP".into()]).await;

    // Nothing of the failed builds was applied, not even the plain ConfigMap beside them.
    let secrets: Api<Secret> = Api::namespaced(s.client.clone(), ns);
    assert!(secrets.get_opt("db").await.unwrap().is_none());
    let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), ns);
    assert!(cms.get_opt("plain").await.unwrap().is_none());
    // And the secret key is not echoed anywhere in status.
    for name in ["wrong-key", "tampered", "pgp"] {
        let status = serde_json::to_string(&kss.get(name).await.unwrap().status).unwrap();
        assert!(!status.contains("AGE-SECRET-KEY"), "{status}");
    }
}
