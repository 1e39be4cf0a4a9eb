//! Golden tests: every case under `tests/conformance/<case>/` is built and
//! compared with what `kubectl kustomize` (v1.32, kustomize v5.5.0) printed for
//! it (`expected.yaml`: same documents in the same order, key order free), or
//! must fail with a message containing `expected-error.txt`.
//! Regenerate the expectations with `tests/conformance/regenerate.sh`.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

fn parse_stream(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("expected output parses"))
        .filter(|v| !v.is_null())
        .collect()
}

fn build_dir(case: &Path) -> PathBuf {
    let input = case.join("input");
    match std::fs::read_to_string(case.join("build-dir")) {
        Ok(rel) => input.join(rel.trim()),
        Err(_) => input,
    }
}

fn first_difference(ours: &[Value], theirs: &[Value]) -> String {
    if ours.len() != theirs.len() {
        let ids = |v: &[Value]| -> Vec<String> {
            v.iter()
                .map(|o| {
                    format!(
                        "{}/{}",
                        o["kind"].as_str().unwrap_or("?"),
                        o["metadata"]["name"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        };
        return format!(
            "{} documents, expected {}\nours:     {:?}\nexpected: {:?}",
            ours.len(),
            theirs.len(),
            ids(ours),
            ids(theirs)
        );
    }
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        if a != b {
            return format!(
                "document {i} differs\n--- ours\n{}\n--- expected\n{}",
                serde_norway::to_string(a).unwrap_or_default(),
                serde_norway::to_string(b).unwrap_or_default()
            );
        }
    }
    String::new()
}

fn run_case(case: &Path) -> Result<(), String> {
    let dir = build_dir(case);
    let result = if case.join("generate-missing").exists() {
        let opts = driftless_kustomize::BuildOptions {
            boundary: Some(case.join("input")),
            generate_missing: true,
            ..driftless_kustomize::BuildOptions::default()
        };
        driftless_kustomize::build_with(&dir, &opts)
    } else {
        driftless_kustomize::build(&dir)
    };
    if let Ok(fragment) = std::fs::read_to_string(case.join("expected-error.txt")) {
        let fragment = fragment.trim().to_lowercase();
        return match result {
            Ok(list) => Err(format!(
                "expected an error containing '{fragment}', got {} objects",
                list.len()
            )),
            Err(e) if e.to_string().to_lowercase().contains(&fragment) => Ok(()),
            Err(e) => Err(format!("error '{e}' does not contain '{fragment}'")),
        };
    }
    let expected = std::fs::read_to_string(case.join("expected.yaml"))
        .map_err(|e| format!("expected.yaml: {e}"))?;
    let list = result.map_err(|e| format!("build failed: {e}"))?;
    let ours = parse_stream(&list.to_yaml());
    let theirs = parse_stream(&expected);
    if ours == theirs {
        Ok(())
    } else {
        Err(first_difference(&ours, &theirs))
    }
}

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("corpus directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("input").is_dir())
        .collect();
    cases.sort();
    cases
}

/// Stronger than the spec asks (key order may differ): the printed stream is
/// byte for byte what kubectl printed, for every case kubectl builds.
#[test]
fn printed_yaml_is_byte_identical_to_kubectl() {
    let mut differing = Vec::new();
    for case in corpus() {
        let Ok(expected) = std::fs::read_to_string(case.join("expected.yaml")) else {
            continue;
        };
        if case.join("generate-missing").exists() {
            continue;
        }
        match driftless_kustomize::build(&build_dir(&case)) {
            Ok(list) if list.to_yaml() == expected => {}
            _ => differing.push(
                case.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("?")
                    .to_string(),
            ),
        }
    }
    assert!(
        differing.is_empty(),
        "output differs byte-wise from kubectl in: {differing:?}"
    );
}

#[test]
fn conformance_corpus_matches_kubectl() {
    let cases = corpus();
    assert!(cases.len() >= 40, "corpus has only {} cases", cases.len());
    let only = std::env::var("CONFORMANCE_CASE").ok();
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in &cases {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        ran += 1;
        if let Err(msg) = run_case(case) {
            failures.push(format!("=== {name}: {msg}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} cases failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
