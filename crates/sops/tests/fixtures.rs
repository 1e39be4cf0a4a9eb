//! Decrypting files written by the real `sops` CLI (fixtures/README.md says how they were
//! made): every format, MAC verification, wrong keys and tampering.

use std::path::PathBuf;

use driftless_sops::{Error, Format, Keyring, decrypt_file, decrypt_resource_file};
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn keyring() -> Keyring {
    let key = fixture("test-only.agekey");
    Keyring::from_secret_data([("identity.agekey", key.as_slice())]).unwrap()
}

fn other_keyring() -> Keyring {
    use age::secrecy::ExposeSecret;
    let key = age::x25519::Identity::generate().to_string();
    Keyring::from_secret_data([("other.agekey", key.expose_secret().as_bytes())]).unwrap()
}

fn yaml(bytes: &[u8]) -> Value {
    serde_norway::from_slice(bytes).unwrap()
}

fn expected_secret() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "labels": {"tier": "backend"}},
        "type": "Opaque",
        "stringData": {
            "password": "s3cr3t", "port": 5432, "ratio": 0.5, "on": true,
            "list": ["a", 7], "empty": ""
        }
    })
}

#[test]
fn yaml_resources_decrypt_with_every_crypt_rule() {
    for file in [
        "secret.enc.yaml",
        "secret.full.enc.yaml",
        "secret.maconly.enc.yaml",
    ] {
        let plain = decrypt_resource_file(&fixture(file), &keyring())
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .expect("encrypted");
        assert_eq!(yaml(&plain), expected_secret(), "{file}");
    }
}

#[test]
fn multi_document_yaml_shares_one_mac() {
    let plain = decrypt_resource_file(&fixture("multi.enc.yaml"), &keyring())
        .unwrap()
        .unwrap();
    let text = String::from_utf8(plain).unwrap();
    let docs: Vec<&str> = text.split("---\n").collect();
    assert_eq!(docs.len(), 2, "{text}");
    assert_eq!(yaml(docs[0].as_bytes()), json!({"a": 1}));
    assert_eq!(yaml(docs[1].as_bytes()), json!({"b": "two"}));
}

#[test]
fn dotenv_json_and_binary_files_decrypt() {
    let env = decrypt_file(
        &fixture("app.enc.env"),
        Format::Dotenv,
        Format::Dotenv,
        &keyring(),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(env).unwrap(),
        "TOKEN=tok-123\nMULTI=line1\\nline2\n"
    );
    let creds = decrypt_file(
        &fixture("creds.enc.json"),
        Format::Json,
        Format::Json,
        &keyring(),
    )
    .unwrap();
    let creds: Value = serde_json::from_slice(&creds).unwrap();
    assert_eq!(
        creds,
        json!({"apiKey": "k-1", "n": 3, "nested": {"f": 1.5, "b": false}})
    );
    let blob = decrypt_file(
        &fixture("blob.enc.bin"),
        Format::Binary,
        Format::Binary,
        &keyring(),
    )
    .unwrap();
    assert_eq!(blob, b"binary\x01payload");
    assert_eq!(
        Format::detect(&fixture("creds.enc.json")),
        Some(Format::Json)
    );
    assert_eq!(
        Format::detect(&fixture("app.enc.env")),
        Some(Format::Dotenv)
    );
    assert_eq!(Format::detect(b"plain: yaml\n"), None);
}

#[test]
fn a_file_for_another_key_names_its_recipient() {
    let err = decrypt_resource_file(&fixture("secret.enc.yaml"), &other_keyring()).unwrap_err();
    assert!(matches!(err, Error::NoKey(_)), "{err}");
    let text = err.to_string();
    let recipient = String::from_utf8(fixture("test-only.agekey"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_owned))
        .unwrap();
    assert!(text.contains(&recipient), "{text}");
    assert!(!text.contains("AGE-SECRET-KEY"), "{text}");
    // No key at all.
    let err = decrypt_resource_file(&fixture("secret.enc.yaml"), &Keyring::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds no age key"), "{err}");
}

#[test]
fn tampering_is_caught_by_the_mac_or_the_value_tag() {
    let good = String::from_utf8(fixture("secret.enc.yaml")).unwrap();
    // A readable value changed: only the MAC covers it.
    let tampered = good.replace("tier: backend", "tier: frontend");
    let err = decrypt_resource_file(tampered.as_bytes(), &keyring()).unwrap_err();
    assert!(matches!(err, Error::MacMismatch), "{err}");
    // A value removed: the MAC again.
    let removed: String = good
        .lines()
        .filter(|l| !l.contains("ratio:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let err = decrypt_resource_file(removed.as_bytes(), &keyring()).unwrap_err();
    assert!(matches!(err, Error::MacMismatch), "{err}");
    // Values swapped between keys: the path is the additional data, so the tag fails.
    let password = good
        .lines()
        .find(|l| l.trim_start().starts_with("password:"))
        .unwrap()
        .trim_start()
        .trim_start_matches("password: ")
        .to_owned();
    let swapped = good.replace(&format!("password: {password}"), "password: ENC[AES256_GCM,data:AAAA,iv:VNjPi4ePLwk54TesuGefaqb8K6b5ALZG4qNLB7Om67I=,tag:AS7K5/gkVdwCOvRiI/IJWg==,type:str]");
    let err = decrypt_resource_file(swapped.as_bytes(), &keyring()).unwrap_err();
    assert!(matches!(err, Error::Value { .. }), "{err}");
    assert!(err.to_string().contains("stringData:password"), "{err}");
}

#[test]
fn hostile_inputs_are_bounded() {
    let huge = vec![b'a'; driftless_sops::MAX_FILE_BYTES + 1];
    let mut with_marker = b"mac: ENC[".to_vec();
    with_marker.extend(huge);
    let err = decrypt_resource_file(&with_marker, &keyring()).unwrap_err();
    assert!(matches!(err, Error::Limit(_)), "{err}");
    // Unencrypted files pass through untouched.
    assert!(
        decrypt_resource_file(b"apiVersion: v1\nkind: ConfigMap\n", &keyring())
            .unwrap()
            .is_none()
    );
    // Malformed metadata is an error, not a panic.
    let bad =
        b"a: 1\nsops:\n  mac: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n  lastmodified: nope\n";
    assert!(decrypt_resource_file(bad, &keyring()).is_err());
}
