//! kustomize's own integration suite (`api/krusty` tests and `examples/`
//! walkthroughs at tag `kustomize/v5.5.0`), ported by `tests/krusty/port.py`
//! into `tests/krusty/<case>/`: `input/` (the test's files), `build-dir` (the
//! directory the test built, relative to `input/`), `options.json` (the Go
//! test's options) and what the installed `kubectl kustomize` printed for it:
//! `expected.yaml` (exact bytes) or `expected-error.txt`.
//!
//! The test builds every case with the native engine, prints a summary by
//! outcome and the cases that do not match, and asserts floors that only go
//! up, and that where kubectl and the engine both fail, the engine's message
//! names a file of the case. `KRUSTY_CASE=<name>` prints the diff (or both
//! errors) of one case; `KRUSTY_ALL=1` lists the both-fail cases too.

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use driftless_kustomize::{BuildOptions, LoadRestrictions};
use serde::Deserialize;
use serde_json::Value;

/// Floors: raise them as the engine improves, never lower them.
const MIN_BYTE_IDENTICAL: usize = 302;
/// kubectl failures that the engine also refuses.
const MIN_BOTH_FAIL: usize = 47;
/// Cases where the engine accepts what kubectl refuses (none left: any is a regression).
const MAX_WE_SUCCEED_KUBECTL_FAILS: usize = 0;

/// How one case came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    ByteIdentical,
    ValueEqual,
    WrongOutput,
    WeFail,
    BothFail,
    WeSucceedKubectlFails,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::ByteIdentical => "byte-identical",
            Outcome::ValueEqual => "value-equal, bytes differ",
            Outcome::WrongOutput => "wrong output",
            Outcome::WeFail => "we fail where kubectl succeeds",
            Outcome::BothFail => "both fail (ok)",
            Outcome::WeSucceedKubectlFails => "we succeed where kubectl fails",
        }
    }
}

struct CaseResult {
    name: String,
    outcome: Outcome,
    detail: String,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/krusty")
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root())
        .expect("tests/krusty exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("input").is_dir())
        .collect();
    cases.sort();
    cases
}

fn options(case: &Path) -> BuildOptions {
    let mut opts = BuildOptions::default();
    if let Ok(text) = std::fs::read_to_string(case.join("options.json")) {
        let v: Value = serde_json::from_str(&text).expect("options.json parses");
        if v["loadRestrictions"] == "LoadRestrictionsNone" {
            opts.load_restrictions = LoadRestrictions::None;
        }
    }
    opts
}

fn build(case: &Path) -> Result<String, String> {
    let rel = std::fs::read_to_string(case.join("build-dir")).expect("build-dir");
    let dir = case.join("input").join(rel.trim());
    let opts = options(case);
    match catch_unwind(AssertUnwindSafe(|| {
        driftless_kustomize::build_with(&dir, &opts)
    })) {
        Ok(Ok(list)) => Ok(list.to_yaml()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("PANIC".to_string()),
    }
}

fn parse_stream(text: &str) -> Option<Vec<Value>> {
    let mut docs = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        let v = Value::deserialize(doc).ok()?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Some(docs)
}

fn run_case(case: &Path) -> CaseResult {
    let name = case
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("?")
        .to_string();
    let ours = build(case);
    let (outcome, detail) = match std::fs::read(case.join("expected.yaml")) {
        Ok(expected) => {
            let expected = String::from_utf8_lossy(&expected).into_owned();
            match ours {
                Ok(out) if out == expected => (Outcome::ByteIdentical, String::new()),
                Ok(out) => {
                    let equal = matches!(
                        (parse_stream(&out), parse_stream(&expected)),
                        (Some(a), Some(b)) if a == b
                    );
                    let kind = if equal {
                        Outcome::ValueEqual
                    } else {
                        Outcome::WrongOutput
                    };
                    (kind, first_line_difference(&out, &expected))
                }
                Err(e) => (Outcome::WeFail, e),
            }
        }
        Err(_) => match ours {
            Ok(_) => {
                let theirs =
                    std::fs::read_to_string(case.join("expected-error.txt")).unwrap_or_default();
                (Outcome::WeSucceedKubectlFails, theirs.trim().to_string())
            }
            Err(e) => (Outcome::BothFail, e),
        },
    };
    CaseResult {
        name,
        outcome,
        detail,
    }
}

fn first_line_difference(ours: &str, theirs: &str) -> String {
    for (i, (a, b)) in ours.lines().zip(theirs.lines()).enumerate() {
        if a != b {
            return format!("line {}: ours {a:?} / kubectl {b:?}", i + 1);
        }
    }
    format!(
        "{} lines, kubectl {} lines",
        ours.lines().count(),
        theirs.lines().count()
    )
}

/// A line diff (longest common subsequence), `-` kubectl, `+` ours.
fn line_diff(theirs: &str, ours: &str) -> String {
    let a: Vec<&str> = theirs.lines().collect();
    let b: Vec<&str> = ours.lines().collect();
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, " {}", a[i]);
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "+{}", b[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "-{}", a[i]);
            i += 1;
        }
    }
    out
}

fn show_one(name: &str) {
    let case = root().join(name);
    assert!(case.join("input").is_dir(), "no case named {name}");
    let ours = build(&case);
    match std::fs::read_to_string(case.join("expected.yaml")) {
        Ok(expected) => match ours {
            Ok(out) if out == expected => println!("{name}: byte-identical"),
            Ok(out) => println!(
                "{name}: differs (- kubectl, + ours)\n{}",
                line_diff(&expected, &out)
            ),
            Err(e) => println!("{name}: we fail: {e}\n--- kubectl\n{expected}"),
        },
        Err(_) => {
            let theirs =
                std::fs::read_to_string(case.join("expected-error.txt")).unwrap_or_default();
            match ours {
                Ok(out) => println!("{name}: kubectl fails: {theirs}--- ours\n{out}"),
                Err(e) => println!("{name}: both fail\nkubectl: {theirs}ours:    {e}"),
            }
        }
    }
}

#[test]
fn kustomize_suite_matches_kubectl() {
    if let Ok(name) = std::env::var("KRUSTY_CASE") {
        show_one(&name);
        return;
    }
    let results: Vec<CaseResult> = cases().iter().map(|c| run_case(c)).collect();
    assert!(results.len() >= 340, "only {} cases", results.len());
    let count = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
    let runnable = results.len();
    let mut report = format!("kustomize suite: {runnable} cases\n");
    for o in [
        Outcome::ByteIdentical,
        Outcome::ValueEqual,
        Outcome::WrongOutput,
        Outcome::WeFail,
        Outcome::BothFail,
        Outcome::WeSucceedKubectlFails,
    ] {
        let _ = writeln!(report, "  {:<32} {}", o.label(), count(o));
    }
    let mut sorted: Vec<&CaseResult> = results
        .iter()
        .filter(|r| {
            !matches!(r.outcome, Outcome::ByteIdentical)
                && (r.outcome != Outcome::BothFail || std::env::var_os("KRUSTY_ALL").is_some())
        })
        .collect();
    sorted.sort_by(|a, b| a.outcome.cmp(&b.outcome).then(a.name.cmp(&b.name)));
    for r in sorted {
        let prefix = format!("{}/{}/input/", root().display(), r.name);
        let detail: String = r.detail.replace(&prefix, "").chars().take(160).collect();
        let _ = writeln!(
            report,
            "  [{}] {}: {}",
            r.outcome.label(),
            r.name,
            detail.replace('\n', " ")
        );
    }
    println!("{report}");
    let identical = count(Outcome::ByteIdentical);
    assert!(
        identical >= MIN_BYTE_IDENTICAL,
        "byte-identical fell to {identical} (floor {MIN_BYTE_IDENTICAL})\n{report}"
    );
    assert!(
        count(Outcome::BothFail) >= MIN_BOTH_FAIL,
        "fewer kubectl failures refused\n{report}"
    );
    assert!(
        count(Outcome::WeSucceedKubectlFails) == MAX_WE_SUCCEED_KUBECTL_FAILS,
        "more kubectl failures accepted\n{report}"
    );
    // Where both fail, ours must say which file: its message holds a path
    // inside the case's input.
    let unnamed: Vec<&str> = results
        .iter()
        .filter(|r| r.outcome == Outcome::BothFail)
        .filter(|r| {
            !r.detail
                .contains(&format!("{}/{}/input", root().display(), r.name))
        })
        .map(|r| r.name.as_str())
        .collect();
    assert!(
        unnamed.is_empty(),
        "errors that name no file of the case: {unnamed:?}\n{report}"
    );
    assert!(
        !results.iter().any(|r| r.detail == "PANIC"),
        "the engine panicked\n{report}"
    );
    // A refusal names the file it is about (a kustomization, or the file it
    // lists that cannot be read or parsed).
    let unnamed: Vec<&str> = results
        .iter()
        .filter(|r| r.outcome == Outcome::BothFail)
        .filter(|r| {
            let input = root().join(&r.name).join("input");
            !r.detail.contains(input.to_string_lossy().as_ref())
        })
        .map(|r| r.name.as_str())
        .collect();
    assert!(
        unnamed.is_empty(),
        "refusals that name no file of the case: {unnamed:?}\n{report}"
    );
}
