//! Hostile input against the build's limits: every attack is refused with an
//! error naming the file and the limit, and refused quickly (before the
//! memory an expansion would take is spent).

use std::path::Path;
use std::time::{Duration, Instant};

use driftless_kustomize::{BuildOptions, Error, Limits};

/// Far above what each refusal takes, far below what any of these attacks
/// would take if the input were expanded or read whole.
const QUICK: Duration = Duration::from_secs(3);

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create dir");
    }
    std::fs::write(path, text).expect("write file");
}

/// Builds `dir`, asserting it fails quickly with a limit naming `file` and `limit`.
fn refused(dir: &Path, limits: Limits, file: &str, limit: &str) -> String {
    let opts = BuildOptions {
        limits,
        ..BuildOptions::default()
    };
    let started = Instant::now();
    let result = driftless_kustomize::build_with(dir, &opts);
    let took = started.elapsed();
    let err = result.expect_err("the build must be refused");
    assert!(took < QUICK, "refused only after {took:?}: {err}");
    let text = err.to_string();
    match &err {
        Error::Limit {
            path,
            limit: in_force,
            ..
        } => {
            assert!(path.ends_with(file), "names {}: {text}", path.display());
            assert!(in_force.starts_with(limit), "{text}");
        }
        other => panic!("expected a limit error, got {other:?}"),
    }
    assert!(text.contains(file) && text.contains(limit), "{text}");
    text
}

/// The classic "billion laughs": nine levels of nine aliases each (about 650 bytes).
fn laughs() -> String {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    text
}

#[test]
fn billion_laughs_kustomization_file_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Unknown keys would be refused after parsing; the bomb must be refused while parsing.
    let bomb = format!("resources: []\n{}", laughs());
    assert!(bomb.len() < 1024, "{}", bomb.len());
    write(&tmp.path().join("kustomization.yaml"), &bomb);
    let text = refused(
        tmp.path(),
        Limits::default(),
        "kustomization.yaml",
        "max-yaml-alias-bytes=",
    );
    assert!(text.contains("excessive aliasing"), "{text}");
}

#[test]
fn billion_laughs_resource_file_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(
        &tmp.path().join("kustomization.yaml"),
        "resources:\n- bomb.yaml\n",
    );
    let data = laughs()
        .lines()
        .map(|l| format!("  {l}\n"))
        .collect::<String>();
    write(
        &tmp.path().join("bomb.yaml"),
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n{data}"),
    );
    let text = refused(
        tmp.path(),
        Limits::default(),
        "bomb.yaml",
        "max-yaml-alias-bytes=",
    );
    assert!(text.contains("excessive aliasing"), "{text}");
}

/// A 1 MiB string aliased 90,000 times: few aliases (serde_norway's own guard,
/// which counts them, lets it through), but 90 GiB once expanded.
#[test]
fn wide_alias_bomb_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(
        &tmp.path().join("kustomization.yaml"),
        "resources:\n- wide.yaml\n",
    );
    let mut text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: wide\n  annotations:\n    big: &big \"{}\"\ndata:\n  list:\n",
        "x".repeat(1024 * 1024)
    );
    for _ in 0..90_000 {
        text.push_str("  - *big\n");
    }
    write(&tmp.path().join("wide.yaml"), &text);
    let text = refused(
        tmp.path(),
        Limits::default(),
        "wide.yaml",
        "max-yaml-alias-bytes=",
    );
    assert!(text.contains("excessive aliasing"), "{text}");
}

#[test]
fn modest_aliasing_still_builds() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(
        &tmp.path().join("kustomization.yaml"),
        "resources:\n- cm.yaml\ncommonLabels: &l {team: a}\ncommonAnnotations: *l\n",
    );
    write(
        &tmp.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  labels: &d {a: x, b: y}\ndata: *d\n",
    );
    let built = driftless_kustomize::build(tmp.path()).expect("builds");
    assert_eq!(built.len(), 1);
    assert_eq!(built.objects[0]["data"]["b"], "y");
    assert_eq!(built.objects[0]["metadata"]["labels"]["b"], "y");
    assert_eq!(built.objects[0]["metadata"]["annotations"]["team"], "a");
}

#[test]
fn deep_nesting_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(
        &tmp.path().join("kustomization.yaml"),
        "resources:\n- deep.yaml\n",
    );
    let deep = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\nx: {}{}\n",
        "[".repeat(40),
        "]".repeat(40)
    );
    write(&tmp.path().join("deep.yaml"), &deep);
    let limits = Limits {
        max_yaml_depth: 20,
        ..Limits::default()
    };
    let text = refused(tmp.path(), limits, "deep.yaml", "max-yaml-depth=20");
    assert!(text.contains("nesting deeper than 20"), "{text}");
    // The default (128) accepts it.
    assert!(driftless_kustomize::build(tmp.path()).is_ok());

    // The kustomization file (read with YAML 1.1 rules) has the same limit.
    write(
        &tmp.path().join("kustomization.yaml"),
        &format!(
            "resources:\n- deep.yaml\nx: {}{}\n",
            "[".repeat(200),
            "]".repeat(200)
        ),
    );
    refused(
        tmp.path(),
        Limits::default(),
        "kustomization.yaml",
        "max-yaml-depth=128",
    );
}

#[test]
fn big_files_are_refused_before_reading() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let limits = Limits {
        max_file_bytes: 4096,
        ..Limits::default()
    };
    write(
        &tmp.path().join("kustomization.yaml"),
        "resources:\n- big.yaml\n",
    );
    write(
        &tmp.path().join("big.yaml"),
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  a: {}\n",
            "x".repeat(8192)
        ),
    );
    let text = refused(tmp.path(), limits, "big.yaml", "max-file-bytes=4096");
    assert!(text.contains("more than the 4096"), "{text}");

    // Generator inputs and the kustomization file itself are read the same way.
    write(
        &tmp.path().join("kustomization.yaml"),
        "configMapGenerator:\n- name: gen\n  files:\n  - big.yaml\n",
    );
    refused(tmp.path(), limits, "big.yaml", "max-file-bytes=4096");
    write(
        &tmp.path().join("kustomization.yaml"),
        &format!("resources: []\n# {}\n", "x".repeat(8192)),
    );
    refused(
        tmp.path(),
        limits,
        "kustomization.yaml",
        "max-file-bytes=4096",
    );

    // Flux's generated kustomization reads every YAML file: same limit.
    std::fs::remove_file(tmp.path().join("kustomization.yaml")).expect("rm");
    let opts = BuildOptions {
        limits,
        generate_missing: true,
        ..BuildOptions::default()
    };
    let err = driftless_kustomize::build_with(tmp.path(), &opts).expect_err("refused");
    assert!(
        matches!(err, Error::Limit { .. }) && err.to_string().contains("big.yaml"),
        "{err}"
    );
}

#[test]
fn a_fifo_is_never_opened() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(
        &tmp.path().join("kustomization.yaml"),
        "resources:\n- pipe.yaml\n",
    );
    let status = std::process::Command::new("mkfifo")
        .arg(tmp.path().join("pipe.yaml"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let started = Instant::now();
    let err = driftless_kustomize::build(tmp.path()).expect_err("refused");
    assert!(started.elapsed() < QUICK);
    let text = err.to_string();
    assert!(
        text.contains("pipe.yaml") && text.contains("not a regular file"),
        "{text}"
    );
}

#[test]
fn too_many_objects_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let limits = Limits {
        max_build_objects: 5,
        ..Limits::default()
    };
    let many: String = (0..6)
        .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\n"))
        .collect();
    write(&tmp.path().join("base/many.yaml"), &many);
    write(
        &tmp.path().join("base/kustomization.yaml"),
        "resources:\n- many.yaml\n",
    );
    let text = refused(
        &tmp.path().join("base"),
        limits,
        "kustomization.yaml",
        "max-build-objects=5",
    );
    assert!(text.contains("more than 5 objects"), "{text}");

    // Bases add up in the overlay.
    let three: String = (0..3)
        .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\n"))
        .collect();
    write(&tmp.path().join("base/many.yaml"), &three);
    write(
        &tmp.path().join("a/kustomization.yaml"),
        "resources:\n- ../base\nnamePrefix: a-\n",
    );
    write(
        &tmp.path().join("b/kustomization.yaml"),
        "resources:\n- ../base\nnamePrefix: b-\n",
    );
    write(
        &tmp.path().join("top/kustomization.yaml"),
        "resources:\n- ../a\n- ../b\n",
    );
    refused(
        &tmp.path().join("top"),
        limits,
        "top/kustomization.yaml",
        "max-build-objects=5",
    );

    // A List's items count one by one.
    write(
        &tmp.path().join("list/list.yaml"),
        &format!(
            "apiVersion: v1\nkind: List\nitems:\n{}",
            (0..6)
                .map(|i| format!(
                    "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: l{i}\n"
                ))
                .collect::<String>()
        ),
    );
    write(
        &tmp.path().join("list/kustomization.yaml"),
        "resources:\n- list.yaml\n",
    );
    refused(
        &tmp.path().join("list"),
        limits,
        "kustomization.yaml",
        "max-build-objects=5",
    );
}

#[test]
fn deep_chains_of_kustomizations_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let limits = Limits {
        max_kustomization_depth: 8,
        ..Limits::default()
    };
    for i in 0..20 {
        write(
            &tmp.path().join(format!("k{i}/kustomization.yaml")),
            &format!("resources:\n- ../k{}\n", i + 1),
        );
    }
    write(
        &tmp.path().join("k20/kustomization.yaml"),
        "resources:\n- cm.yaml\n",
    );
    write(
        &tmp.path().join("k20/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
    );
    refused(
        &tmp.path().join("k0"),
        limits,
        "k8/kustomization.yaml",
        "max-kustomization-depth=8",
    );
    // The default allows a chain of 20.
    assert_eq!(
        driftless_kustomize::build(&tmp.path().join("k0"))
            .expect("builds")
            .len(),
        1
    );
}

#[test]
fn var_expansion_is_bounded() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let limits = Limits {
        max_file_bytes: 64 * 1024,
        ..Limits::default()
    };
    // A 30 KB value referenced 40 times in one annotation: 1.2 MB of output
    // from a 31 KB input, past the 64 KiB the build may add.
    write(
        &tmp.path().join("kustomization.yaml"),
        "resources:\n- objects.yaml\nvars:\n- name: BIG\n  objref:\n    apiVersion: v1\n    kind: ConfigMap\n    name: big\n  fieldref:\n    fieldpath: data.v\n",
    );
    write(
        &tmp.path().join("objects.yaml"),
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  annotations:\n    a: \"{}\"\ndata:\n  v: {}\n",
            "$(BIG)".repeat(40),
            "x".repeat(30_000)
        ),
    );
    let text = refused(
        tmp.path(),
        limits,
        "kustomization.yaml",
        "max-file-bytes=65536",
    );
    assert!(text.contains("vars"), "{text}");
}

#[test]
fn configuration_and_schema_files_go_through_the_loader() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let limits = Limits {
        max_file_bytes: 4096,
        ..Limits::default()
    };
    write(
        &tmp.path().join("app/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
    );
    let padding = format!("# {}\n", "x".repeat(8192));
    for (field, file) in [
        ("configurations", "config.yaml"),
        ("crds", "crd.yaml"),
        ("openapi:\n  path", "schema.yaml"),
    ] {
        let list = if field.starts_with("openapi") {
            format!("{field}: {file}\n")
        } else {
            format!("{field}:\n- {file}\n")
        };
        write(
            &tmp.path().join("app/kustomization.yaml"),
            &format!("resources:\n- cm.yaml\n{list}"),
        );
        write(&tmp.path().join("app").join(file), &padding);
        refused(&tmp.path().join("app"), limits, file, "max-file-bytes=4096");

        // Outside the kustomization's directory: refused before reading.
        let outside = format!("../{file}");
        let list = list.replace(file, &outside);
        write(
            &tmp.path().join("app/kustomization.yaml"),
            &format!("resources:\n- cm.yaml\n{list}"),
        );
        write(&tmp.path().join(file), "{}\n");
        let err = driftless_kustomize::build(&tmp.path().join("app")).expect_err("refused");
        assert!(
            matches!(err, Error::LoadRestriction { .. }),
            "{field}: {err}"
        );
    }
}

#[test]
fn huge_configuration_files_are_refused_before_merging() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(
        &tmp.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
    );
    write(
        &tmp.path().join("kustomization.yaml"),
        "resources:\n- cm.yaml\nconfigurations:\n- config.yaml\n",
    );
    // More distinct specs than allowed (merging is quadratic in their number).
    let mut text = String::from("commonLabels:\n");
    for i in 0..6_000 {
        text.push_str(&format!("- path: spec/f{i}\n"));
    }
    write(&tmp.path().join("config.yaml"), &text);
    refused(
        tmp.path(),
        Limits::default(),
        "config.yaml",
        "max-field-specs=5000",
    );
}

#[test]
fn billion_laughs_inline_transformer_config_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bomb = laughs()
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect::<String>();
    write(
        &tmp.path().join("kustomization.yaml"),
        &format!(
            "transformers:\n- |\n  apiVersion: builtin\n  kind: LabelTransformer\n  metadata:\n    name: x\n  labels:\n{bomb}"
        ),
    );
    refused(
        tmp.path(),
        Limits::default(),
        "kustomization.yaml",
        "max-yaml-alias-bytes=",
    );
}

/// Twelve levels of directories, each listing the next as a transformer
/// config twenty times: 20^12 builds if each listing were built again.
#[test]
fn transformer_directories_listed_again_are_built_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let levels = 12;
    for level in 0..levels {
        let dir = tmp.path().join(format!("l{level}"));
        let text = if level + 1 < levels {
            let entries: String = (0..20).map(|_| format!("- ../l{}\n", level + 1)).collect();
            format!("resources:\n- labels.yaml\ntransformers:\n{entries}")
        } else {
            "resources:\n- labels.yaml\n".to_string()
        };
        write(&dir.join("kustomization.yaml"), &text);
        write(
            &dir.join("labels.yaml"),
            &format!(
                "apiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: l{level}\nlabels:\n  level: \"{level}\"\nfieldSpecs:\n- path: metadata/labels\n  create: true\n"
            ),
        );
    }
    write(
        &tmp.path().join("kustomization.yaml"),
        "resources:\n- cm.yaml\ntransformers:\n- l0\n- l0\n",
    );
    write(
        &tmp.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
    );
    let started = Instant::now();
    let list = driftless_kustomize::build(tmp.path()).expect("builds");
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    assert_eq!(list.len(), 1);
    assert_eq!(list.objects[0]["metadata"]["labels"]["level"], "0");
}

#[test]
fn a_transformer_directory_listing_itself_is_a_cycle() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(
        &tmp.path().join("kustomization.yaml"),
        "resources:\n- cm.yaml\ntransformers:\n- .\n",
    );
    write(
        &tmp.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
    );
    let err = driftless_kustomize::build(tmp.path()).expect_err("cycle");
    assert!(matches!(err, Error::Cycle { .. }), "{err}");
}

/// Twenty levels of directories, each listing the next twice as transformer
/// configs through two symlinks, in a build that tracks origins: every path
/// to a directory is a different origin, so 2^20 builds if nothing bounded them.
#[test]
fn origin_tracking_cannot_multiply_builds() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let levels = 20;
    for level in 0..levels {
        let dir = tmp.path().join(format!("l{level}"));
        let text = if level + 1 < levels {
            for link in ["a", "b"] {
                std::fs::create_dir_all(&dir).expect("mkdir");
                std::os::unix::fs::symlink(format!("../l{}", level + 1), dir.join(link))
                    .expect("symlink");
            }
            "resources:\n- labels.yaml\ntransformers:\n- a\n- b\n".to_string()
        } else {
            "resources:\n- labels.yaml\n".to_string()
        };
        write(&dir.join("kustomization.yaml"), &text);
        write(
            &dir.join("labels.yaml"),
            &format!(
                "apiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: l{level}\nlabels:\n  level: \"{level}\"\nfieldSpecs:\n- path: metadata/labels\n  create: true\n"
            ),
        );
    }
    write(
        &tmp.path().join("kustomization.yaml"),
        "resources:\n- cm.yaml\nbuildMetadata: [originAnnotations, transformerAnnotations]\ntransformers:\n- l0\n",
    );
    write(
        &tmp.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n",
    );
    refused(
        tmp.path(),
        Limits::default(),
        "kustomization.yaml",
        "max-origin-rebuilds=512",
    );
}
