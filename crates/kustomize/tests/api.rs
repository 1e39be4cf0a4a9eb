//! The library API controllers use: load restrictions, in-memory
//! kustomizations, Flux's generated kustomization.

use std::path::Path;

use driftless_kustomize::{
    BuildOptions, Error, Image, Kustomization, LoadRestrictions, Patch, Selector,
};

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n";
const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n        envFrom:\n        - configMapRef: {name: cm}\n";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn names(list: &driftless_kustomize::ResourceList) -> Vec<String> {
    list.objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn overlay_reaching_a_sibling_base_works_like_kubectl_but_not_past_the_boundary() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    write(
        &root.join("repo/base/kustomization.yaml"),
        "resources:\n- cm.yaml\n",
    );
    write(&root.join("repo/base/cm.yaml"), CM);
    write(
        &root.join("repo/overlay/kustomization.yaml"),
        "resources:\n- ../base\nnamePrefix: p-\n",
    );

    let list = driftless_kustomize::build(&root.join("repo/overlay"))
        .expect("kubectl rules allow ../base");
    assert_eq!(names(&list), vec!["ConfigMap/p-cm"]);

    let artifact = BuildOptions {
        boundary: Some(root.join("repo/overlay")),
        generate_missing: false,
        ..BuildOptions::default()
    };
    let err = driftless_kustomize::build_with(&root.join("repo/overlay"), &artifact)
        .expect_err("base is outside the boundary");
    assert!(matches!(err, Error::LoadRestriction { .. }), "{err}");

    let repo = BuildOptions {
        boundary: Some(root.join("repo")),
        generate_missing: false,
        ..BuildOptions::default()
    };
    assert!(driftless_kustomize::build_with(&root.join("repo/overlay"), &repo).is_ok());
}

#[test]
fn symlink_leaving_the_boundary_is_refused_but_one_inside_is_followed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    write(&root.join("secret.yaml"), CM);
    write(&root.join("repo/app/real.yaml"), CM);
    write(
        &root.join("repo/app/kustomization.yaml"),
        "resources:\n- link.yaml\n",
    );
    std::os::unix::fs::symlink(
        root.join("repo/app/real.yaml"),
        root.join("repo/app/link.yaml"),
    )
    .expect("symlink");
    let opts = BuildOptions {
        boundary: Some(root.join("repo")),
        generate_missing: false,
        ..BuildOptions::default()
    };
    assert!(driftless_kustomize::build_with(&root.join("repo/app"), &opts).is_ok());

    std::fs::remove_file(root.join("repo/app/link.yaml")).expect("rm");
    std::os::unix::fs::symlink(root.join("secret.yaml"), root.join("repo/app/link.yaml"))
        .expect("symlink");
    let err = driftless_kustomize::build_with(&root.join("repo/app"), &opts).expect_err("escapes");
    assert!(err.to_string().contains("secret.yaml"), "{err}");
}

#[test]
fn in_memory_overlay_of_spec_fields_on_the_users_kustomization() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write(
        &dir.join("kustomization.yaml"),
        "resources:\n- app.yaml\nconfigMapGenerator:\n- name: cm\n  literals: [a=b]\n",
    );
    write(&dir.join("app.yaml"), DEPLOY);
    let mut k = Kustomization::load(dir)
        .expect("load")
        .expect("has a kustomization");
    k.namespace = Some("tenant-a".into());
    k.name_prefix = Some("t-".into());
    k.images.push(Image {
        name: "nginx".into(),
        new_tag: "1.27".into(),
        ..Image::default()
    });
    k.patches.push(Patch {
        patch: "- op: add\n  path: /spec/replicas\n  value: 2\n".into(),
        target: Some(Selector {
            kind: "Deployment".into(),
            ..Selector::default()
        }),
        ..Patch::default()
    });
    let list =
        driftless_kustomize::build_kustomization(dir, &k, &BuildOptions::default()).expect("build");
    let deploy = list
        .objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("deployment");
    assert_eq!(deploy["metadata"]["namespace"], "tenant-a");
    assert_eq!(deploy["metadata"]["name"], "t-web");
    assert_eq!(deploy["spec"]["replicas"], 2);
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx:1.27");
    let cm_name = container["envFrom"][0]["configMapRef"]["name"]
        .as_str()
        .expect("ref");
    assert!(
        cm_name.starts_with("t-cm-") && cm_name.len() == "t-cm-".len() + 10,
        "{cm_name}"
    );
    assert!(list.to_yaml().contains("namespace: tenant-a"));
}

#[test]
fn folder_without_kustomization_gets_flux_generated_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write(&dir.join("b/cm.yaml"), CM);
    write(&dir.join("a/deploy.yml"), DEPLOY);
    write(&dir.join("README.md"), "not yaml");
    write(
        &dir.join("sub/kustomization.yaml"),
        "resources:\n- x.yaml\nnameSuffix: -sub\n",
    );
    write(&dir.join("sub/x.yaml"), &CM.replace("name: cm", "name: x"));
    let k = driftless_kustomize::generate_kustomization(dir).expect("generate");
    assert_eq!(k.resources, vec!["./a/deploy.yml", "./b/cm.yaml", "./sub"]);

    let plain = driftless_kustomize::build(dir).expect_err("kubectl needs a kustomization file");
    assert!(
        matches!(plain, Error::MissingKustomization { .. }),
        "{plain}"
    );
    let opts = BuildOptions {
        boundary: Some(dir.to_path_buf()),
        generate_missing: true,
        ..BuildOptions::default()
    };
    let list = driftless_kustomize::build_with(dir, &opts).expect("flux rule");
    assert_eq!(
        names(&list),
        vec!["ConfigMap/cm", "ConfigMap/x-sub", "Deployment/web"]
    );
}

#[test]
fn invalid_yaml_in_a_generated_folder_names_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(&tmp.path().join("bad.yaml"), "kind: [\n");
    let err = driftless_kustomize::generate_kustomization(tmp.path()).expect_err("bad yaml");
    let msg = err.to_string();
    assert!(msg.contains("bad.yaml") && msg.contains("line"), "{msg}");
}

#[test]
fn unsupported_fields_are_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(
        &tmp.path().join("kustomization.yaml"),
        "resources: []\nhelmCharts:\n- name: x\n",
    );
    let err = driftless_kustomize::build(tmp.path()).expect_err("unsupported");
    assert!(
        matches!(&err, Error::UnsupportedField { field, .. } if field == "helmCharts"),
        "{err}"
    );
}

#[test]
fn files_outside_the_kustomization_need_load_restrictions_none() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    write(&root.join("shared/cm.yaml"), CM);
    write(
        &root.join("app/kustomization.yaml"),
        "resources:\n- ../shared/cm.yaml\n",
    );
    let err =
        driftless_kustomize::build(&root.join("app")).expect_err("kubectl's default refuses it");
    assert!(matches!(err, Error::LoadRestriction { .. }), "{err}");
    let opts = BuildOptions {
        load_restrictions: LoadRestrictions::None,
        ..BuildOptions::default()
    };
    let list = driftless_kustomize::build_with(&root.join("app"), &opts).expect("allowed");
    assert_eq!(names(&list), vec!["ConfigMap/cm"]);
    let fenced = BuildOptions {
        load_restrictions: LoadRestrictions::None,
        boundary: Some(root.join("app")),
        ..BuildOptions::default()
    };
    assert!(driftless_kustomize::build_with(&root.join("app"), &fenced).is_err());
}

#[test]
fn a_path_outside_the_boundary_is_refused_whether_or_not_it_exists() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    write(&root.join("outside/cm.yaml"), CM);
    for target in [
        "../../outside/cm.yaml",
        "../../missing/cm.yaml",
        "../../missing-dir",
    ] {
        write(
            &root.join("repo/app/kustomization.yaml"),
            &format!("resources:\n- {target}\n"),
        );
        let opts = BuildOptions {
            boundary: Some(root.join("repo")),
            load_restrictions: LoadRestrictions::None,
            ..BuildOptions::default()
        };
        let err = driftless_kustomize::build_with(&root.join("repo/app"), &opts)
            .expect_err("outside the boundary");
        assert!(
            matches!(err, Error::LoadRestriction { .. }),
            "{target}: the same refusal, existing or not: {err}"
        );
    }
}

/// Map keys that go-yaml's key order does not order totally (digit runs,
/// zeros, separators): printing them must not panic.
#[test]
fn hostile_map_keys_print_without_panicking() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let alphabet = ['a', 'b', '0', '1', '9', '-', '_', 'A'];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut keys = std::collections::BTreeSet::new();
    while keys.len() < 3000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = 1 + (seed % 6) as usize;
        let key: String = (0..len)
            .map(|j| alphabet[((seed >> (j * 5)) % alphabet.len() as u64) as usize])
            .collect();
        keys.insert(key);
    }
    let data: String = keys.iter().map(|k| format!("  \"{k}\": v\n")).collect();
    write(
        &tmp.path().join("cm.yaml"),
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n{data}"),
    );
    write(
        &tmp.path().join("kustomization.yaml"),
        "resources:\n- cm.yaml\n",
    );
    let list = driftless_kustomize::build(tmp.path()).expect("builds");
    let text = list.to_yaml();
    assert_eq!(text.matches(": v\n").count(), keys.len());
}
