//! Property test: whatever the kustomization, resources and patches contain,
//! a build returns Ok or Err and never panics.

use std::path::Path;

use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "apiVersion: v1\n",
    "apiVersion: apps/v1\n",
    "kind: ConfigMap\n",
    "kind: Deployment\n",
    "kind: List\n",
    "kind: Service\n",
    "metadata:\n",
    "  name: web\n",
    "  name: x\n",
    "  namespace: ns\n",
    "  labels:\n",
    "    app: web\n",
    "spec:\n",
    "  template:\n",
    "    spec:\n",
    "      containers:\n",
    "      - name: web\n",
    "        image: nginx:1\n",
    "        $patch: delete\n",
    "  $patch: replace\n",
    "$patch: delete\n",
    "data:\n",
    "  a: b\n",
    "items:\n",
    "- a\n",
    "- {}\n",
    "- name: x\n",
    "---\n",
    "[",
    "]",
    "{",
    "}",
    ": ",
    ":",
    "- ",
    "  ",
    "\n",
    "null",
    "~",
    "'",
    "\"",
    "*a",
    "&a ",
    "!!str ",
    "0x1f",
    "1e3",
    "-",
    "|\n",
    ">\n",
    "#c\n",
    "\t",
    "é",
    "subjects:\n",
    "- kind: ServiceAccount\n",
    "roleRef:\n",
    "  name: r\n",
    "resources:\n",
    "  - x.yaml\n",
];

fn yamlish() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|t| t.concat())
}

fn field_path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(
            &[
                "spec",
                "metadata",
                "name",
                "[name=web]",
                "0",
                "*",
                "containers",
                "image",
                "data",
                "a",
                "",
            ][..],
        ),
        1..6,
    )
    .prop_map(|p| p.join("."))
}

fn kustomization() -> impl Strategy<Value = String> {
    let scalar = "[a-zA-Z0-9_.*+?()\\[\\]{}|^$/:=-]{0,12}";
    (
        prop::option::of(scalar),
        prop::option::of(scalar),
        prop::option::of((scalar, scalar)),
        prop::option::of((scalar, scalar, scalar)),
        prop::option::of(yamlish()),
        prop::option::of(prop::collection::vec(("(add|remove|replace|move|copy|test|bad)", "(/[a-z0-9~-]{0,6}){0,4}"), 0..4)),
        prop::option::of((field_path(), field_path(), any::<bool>())),
        prop::option::of(prop::collection::vec(scalar, 0..3)),
        prop::option::of(scalar),
        prop::option::of((field_path(), 0u8..4)),
    )
        .prop_map(|(ns, prefix, label, image, smp, json, repl, literals, regex, var)| {
            let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
            let mut k = String::from("resources:\n- res.yaml\n");
            if let Some(ns) = ns {
                k += &format!("namespace: {}\n", q(&ns));
            }
            if let Some(p) = prefix {
                k += &format!("namePrefix: {}\nnameSuffix: {}\n", q(&p), q(&p));
            }
            if let Some((lk, lv)) = label {
                k += &format!("commonLabels:\n  {}: {}\ncommonAnnotations:\n  {}: {}\n", q(&lk), q(&lv), q(&lk), q(&lv));
            }
            if let Some((name, new_name, tag)) = image {
                k += &format!("images:\n- name: {}\n  newName: {}\n  newTag: {}\n", q(&name), q(&new_name), q(&tag));
            }
            k += "patches:\n";
            if let Some(smp) = smp {
                k += &format!("- patch: {}\n", q(&smp));
                k += &format!("- patch: {}\n  target:\n    kind: {}\n", q(&smp), q(&regex.clone().unwrap_or_default()));
            }
            if let Some(ops) = json {
                let ops: Vec<String> = ops
                    .iter()
                    .map(|(op, path)| format!("{{\"op\":{},\"path\":{},\"from\":\"/metadata\",\"value\":1}}", q(op), q(path)))
                    .collect();
                k += &format!("- patch: {}\n  target:\n    name: {}\n", q(&format!("[{}]", ops.join(","))), q(&regex.unwrap_or_default()));
            }
            k += "- path: patch.yaml\n";
            if let Some((from, to, create)) = repl {
                k += &format!(
                    "replacements:\n- source:\n    kind: Deployment\n    fieldPath: {}\n  targets:\n  - select:\n      kind: ConfigMap\n    fieldPaths: [{}]\n    options:\n      create: {create}\n      delimiter: \"/\"\n      index: 1\n",
                    q(&from),
                    q(&to)
                );
            }
            if let Some(literals) = literals {
                let l: Vec<String> = literals.iter().map(|s| q(s)).collect();
                k += &format!("configMapGenerator:\n- name: gen\n  literals: [{}]\n  behavior: {}\n", l.join(", "), if l.len().is_multiple_of(2) { "create" } else { "merge" });
            }
            if let Some((path, file_field)) = var {
                k += &format!(
                    "vars:\n- name: V\n  objref:\n    apiVersion: v1\n    kind: ConfigMap\n    name: gen\n  fieldref:\n    fieldPath: {}\n",
                    q(&path)
                );
                // The random patch file doubles as a configuration, CRD or schema file.
                k += match file_field {
                    0 => "configurations:\n- patch.yaml\n",
                    1 => "crds:\n- patch.yaml\n",
                    2 => "openapi:\n  path: patch.yaml\n",
                    _ => "",
                };
            }
            k
        })
}

const RESOURCES: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations: {a: \"$(V) $$(V) $(V\", b: \"$(V)\"}\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n        envFrom:\n        - configMapRef: {name: gen}\n        args: [\"$(V)\", \"x$(V)y\"]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gen\ndata:\n  a: b/c/d\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: rb\nsubjects:\n- kind: ServiceAccount\n  name: default\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: r\n";

fn build_files(dir: &Path, kustomization: &str, resources: &str, patch: &str) {
    std::fs::write(dir.join("kustomization.yaml"), kustomization).expect("write kustomization");
    std::fs::write(dir.join("res.yaml"), resources).expect("write resources");
    std::fs::write(dir.join("patch.yaml"), patch).expect("write patch");
    // Ok or Err are both fine; a panic fails the property.
    let _ = driftless_kustomize::build(dir);
    let _ = driftless_kustomize::build_with(
        dir,
        &driftless_kustomize::BuildOptions {
            boundary: Some(dir.to_path_buf()),
            generate_missing: true,
            ..driftless_kustomize::BuildOptions::default()
        },
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(k in yamlish(), res in yamlish(), patch in yamlish()) {
        let dir = tempfile::tempdir().expect("tempdir");
        build_files(dir.path(), &k, &res, &patch);
    }

    #[test]
    fn arbitrary_kustomizations_never_panic(k in kustomization(), patch in yamlish()) {
        let dir = tempfile::tempdir().expect("tempdir");
        build_files(dir.path(), &k, RESOURCES, &patch);
    }

    #[test]
    fn arbitrary_kustomizations_over_random_resources_never_panic(k in kustomization(), res in yamlish()) {
        let dir = tempfile::tempdir().expect("tempdir");
        build_files(dir.path(), &k, &format!("{RESOURCES}---\n{res}"), "");
    }
}
