//! Building a Kustomization's manifests from an artifact: the path inside the artifact,
//! the spec fields overlaid on the kustomization file (as Flux does), the native build,
//! and `commonMetadata`. Pure and blocking: the reconciler runs it off the async workers.

use std::path::{Component, Path, PathBuf};

use driftless_api::kustomize::KustomizationSpec;
use driftless_kustomize::{
    BuildOptions, Image, Kustomization, Limits, LoadRestrictions, Patch, Selector,
};
use serde_json::Value;

use crate::Error;

/// Resolves `spec.path` inside `root`: relative to it, never outside it (`..` or a symlink).
pub fn resolve_path(root: &Path, path: Option<&str>) -> Result<PathBuf, Error> {
    let raw = path.unwrap_or("./");
    let mut joined = PathBuf::new();
    for component in Path::new(raw.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => joined.push(part),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !joined.pop() {
                    return Err(Error::InvalidSpec(format!(
                        "spec.path '{raw}' points outside the source artifact"
                    )));
                }
            }
        }
    }
    let dir = root.join(&joined);
    let canonical = dir.canonicalize().map_err(|_| {
        Error::MissingPath(format!(
            "spec.path '{raw}' not found in the source artifact"
        ))
    })?;
    let canonical_root = root
        .canonicalize()
        .map_err(|e| Error::Build(format!("artifact {}: {e}", root.display())))?;
    if !canonical.starts_with(&canonical_root) {
        return Err(Error::InvalidSpec(format!(
            "spec.path '{raw}' points outside the source artifact (through a symlink)"
        )));
    }
    if !canonical.is_dir() {
        return Err(Error::MissingPath(format!(
            "spec.path '{raw}' is not a directory"
        )));
    }
    Ok(canonical)
}

/// Whether the spec changes the kustomization (so it must be loaded and overlaid).
fn overlays(spec: &KustomizationSpec) -> bool {
    spec.target_namespace.is_some()
        || spec.name_prefix.is_some()
        || spec.name_suffix.is_some()
        || !spec.patches.is_empty()
        || !spec.images.is_empty()
        || !spec.components.is_empty()
}

/// Builds `spec.path` of the artifact at `root` with the spec's overlays and commonMetadata,
/// refusing input past `limits` (the error names the file and the limit). Files stay as
/// committed: SOPS-encrypted ones are not decrypted (see [`build_filtered`]).
pub fn build(root: &Path, spec: &KustomizationSpec, limits: &Limits) -> Result<Vec<Value>, Error> {
    build_filtered(root, spec, limits, None)
}

/// [`build`] with an input filter (SOPS decryption) on the files the build reads.
pub fn build_filtered(
    root: &Path,
    spec: &KustomizationSpec,
    limits: &Limits,
    input_filter: Option<std::sync::Arc<dyn driftless_kustomize::InputFilter>>,
) -> Result<Vec<Value>, Error> {
    let dir = resolve_path(root, spec.path.as_deref())?;
    // As Flux: files may come from anywhere inside the artifact, never from outside it.
    let opts = BuildOptions {
        boundary: Some(root.to_path_buf()),
        load_restrictions: LoadRestrictions::None,
        generate_missing: true,
        limits: *limits,
        input_filter,
    };
    let relative = dir
        .strip_prefix(root.canonicalize().unwrap_or_default())
        .unwrap_or(&dir)
        .display()
        .to_string();
    let located = |e: driftless_kustomize::Error| {
        // Say plainly that a refused path leaves the artifact (tenants read this message).
        let outside = if matches!(e, driftless_kustomize::Error::LoadRestriction { .. }) {
            ": outside the source artifact"
        } else {
            ""
        };
        Error::Build(format!(
            "{e}{outside} (in spec.path '{}')",
            if relative.is_empty() { "." } else { &relative }
        ))
    };
    let list = if overlays(spec) {
        let kustomization = overlay(
            driftless_kustomize::load_kustomization(&dir, &opts).map_err(located)?,
            spec,
        );
        driftless_kustomize::build_kustomization(&dir, &kustomization, &opts).map_err(located)?
    } else {
        driftless_kustomize::build_with(&dir, &opts).map_err(located)?
    };
    let mut objects = list.objects;
    if let Some(common) = &spec.common_metadata {
        for object in &mut objects {
            set_metadata(object, "labels", &common.labels);
            set_metadata(object, "annotations", &common.annotations);
        }
    }
    Ok(objects)
}

/// Flux's overlay of spec fields onto the kustomization: namespace, prefix and suffix
/// override; patches, images and components are appended.
fn overlay(mut k: Kustomization, spec: &KustomizationSpec) -> Kustomization {
    if let Some(ns) = &spec.target_namespace {
        k.namespace = Some(ns.clone());
    }
    if let Some(prefix) = &spec.name_prefix {
        k.name_prefix = Some(prefix.clone());
    }
    if let Some(suffix) = &spec.name_suffix {
        k.name_suffix = Some(suffix.clone());
    }
    k.patches.extend(spec.patches.iter().map(|p| Patch {
        patch: p.patch.clone(),
        target: p.target.as_ref().map(|t| Selector {
            group: t.group.clone().unwrap_or_default(),
            version: t.version.clone().unwrap_or_default(),
            kind: t.kind.clone().unwrap_or_default(),
            name: t.name.clone().unwrap_or_default(),
            namespace: t.namespace.clone().unwrap_or_default(),
            label_selector: t.label_selector.clone().unwrap_or_default(),
            annotation_selector: t.annotation_selector.clone().unwrap_or_default(),
        }),
        ..Patch::default()
    }));
    k.images.extend(spec.images.iter().map(|i| Image {
        name: i.name.clone(),
        new_name: i.new_name.clone().unwrap_or_default(),
        new_tag: i.new_tag.clone().unwrap_or_default(),
        digest: i.digest.clone().unwrap_or_default(),
        ..Image::default()
    }));
    k.components.extend(spec.components.iter().cloned());
    k
}

fn set_metadata(
    object: &mut Value,
    field: &str,
    pairs: &std::collections::BTreeMap<String, String>,
) {
    if pairs.is_empty() {
        return;
    }
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let map = meta
        .entry(field)
        .or_insert_with(|| Value::Object(Default::default()));
    if !map.is_object() {
        *map = Value::Object(Default::default());
    }
    if let Some(map) = map.as_object_mut() {
        for (k, v) in pairs {
            map.insert(k.clone(), Value::String(v.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::kustomize::{
        CommonMetadata, Image as SpecImage, Patch as SpecPatch, Selector as SpecSelector,
    };
    use driftless_api::meta::CrossNamespaceSourceReference;

    fn spec(path: &str) -> KustomizationSpec {
        serde_json::from_value(serde_json::json!({
            "interval": "1m", "prune": true, "path": path,
            "sourceRef": {"kind": "GitRepository", "name": "repo"}
        }))
        .unwrap()
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.0\n";

    #[test]
    fn path_must_stay_inside_the_artifact() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "apps/x.yaml", DEPLOY);
        assert!(resolve_path(tmp.path(), Some("./apps")).is_ok());
        assert!(resolve_path(tmp.path(), Some("/apps")).is_ok());
        let err = resolve_path(tmp.path(), Some("../etc")).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        let err = resolve_path(tmp.path(), Some("missing")).unwrap_err();
        assert!(err.to_string().contains("'missing' not found"), "{err}");
        std::os::unix::fs::symlink("/etc", tmp.path().join("escape")).unwrap();
        let err = resolve_path(tmp.path(), Some("escape")).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
    }

    #[test]
    fn spec_fields_overlay_a_generated_kustomization() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "apps/deploy.yaml", DEPLOY);
        let mut s = spec("./apps");
        s.target_namespace = Some("team-a".into());
        s.name_prefix = Some("a-".into());
        s.images = vec![SpecImage {
            name: "nginx".into(),
            new_tag: Some("2.0".into()),
            ..Default::default()
        }];
        s.patches = vec![SpecPatch {
            patch: "- op: add\n  path: /spec/replicas\n  value: 3\n".into(),
            target: Some(SpecSelector {
                kind: Some("Deployment".into()),
                ..Default::default()
            }),
        }];
        s.common_metadata = Some(CommonMetadata {
            labels: [("team".to_owned(), "a".to_owned())].into(),
            ..Default::default()
        });
        s.source_ref = CrossNamespaceSourceReference {
            name: "repo".into(),
            ..Default::default()
        };
        let objects = build(tmp.path(), &s, &Limits::default()).unwrap();
        assert_eq!(objects.len(), 1);
        let d = &objects[0];
        assert_eq!(d["metadata"]["name"], "a-web");
        assert_eq!(d["metadata"]["namespace"], "team-a");
        assert_eq!(d["metadata"]["labels"]["team"], "a");
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2.0"
        );
    }

    #[test]
    fn build_errors_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "apps/broken.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n",
        );
        let err = build(tmp.path(), &spec("apps"), &Limits::default()).unwrap_err();
        assert!(err.to_string().contains("broken.yaml"), "{err}");
    }

    #[test]
    fn limits_refuse_the_build_naming_file_and_limit() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "apps/deploy.yaml", DEPLOY);
        let limits = Limits {
            max_file_bytes: 64,
            ..Limits::default()
        };
        // Flux's generated kustomization reads every file under the same limits.
        let err = build(tmp.path(), &spec("apps"), &limits).unwrap_err();
        assert!(matches!(err, Error::Build(_)), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("deploy.yaml") && text.contains("max-file-bytes=64"),
            "{text}"
        );
        // And with spec overlays, the kustomization file is loaded under them too.
        write(
            tmp.path(),
            "apps/kustomization.yaml",
            &format!("resources: [deploy.yaml]\n#{}\n", "x".repeat(100)),
        );
        let mut s = spec("apps");
        s.name_prefix = Some("a-".into());
        let text = build(tmp.path(), &s, &limits).unwrap_err().to_string();
        assert!(
            text.contains("kustomization.yaml") && text.contains("max-file-bytes=64"),
            "{text}"
        );
        assert!(build(tmp.path(), &s, &Limits::default()).is_ok());
    }

    #[test]
    fn kustomize_cannot_leave_the_artifact() {
        let outside = tempfile::tempdir().unwrap();
        write(
            outside.path(),
            "secret.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: outside\n",
        );
        let tmp = tempfile::tempdir().unwrap();
        let rel = pathdiff(outside.path(), &tmp.path().join("apps"));
        write(
            tmp.path(),
            "apps/kustomization.yaml",
            &format!("resources:\n- {rel}\n"),
        );
        let err = build(tmp.path(), &spec("apps"), &Limits::default()).unwrap_err();
        assert!(matches!(err, Error::Build(_)), "{err}");
        assert!(
            err.to_string().contains("outside the source artifact"),
            "{err}"
        );
    }

    fn pathdiff(target: &Path, from: &Path) -> String {
        let depth = from.components().count();
        format!(
            "{}{}",
            "../".repeat(depth),
            target.display().to_string().trim_start_matches('/')
        )
    }
}
