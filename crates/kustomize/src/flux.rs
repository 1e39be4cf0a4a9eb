//! Flux's rule for a directory without a kustomization file: generate one
//! listing every Kubernetes YAML file below it (sub-directories with their own
//! kustomization file are listed as directories and not descended into).

use std::path::Path;

use crate::error::{Error, Result};
use crate::kustomization::{KUSTOMIZATION_FILE_NAMES, Kustomization};
use crate::limits::Limits;

fn has_kustomization(dir: &Path) -> bool {
    KUSTOMIZATION_FILE_NAMES
        .iter()
        .any(|n| dir.join(n).is_file())
}

/// The kustomization Flux generates for `dir` (which must not have one), under
/// the default [`Limits`].
pub fn generate_kustomization(dir: &Path) -> Result<Kustomization> {
    generate_kustomization_with(dir, &Limits::default())
}

/// The kustomization Flux generates for `dir` (which must not have one); every
/// YAML file is read and checked under `limits`.
pub fn generate_kustomization_with(dir: &Path, limits: &Limits) -> Result<Kustomization> {
    let mut resources = Vec::new();
    scan(dir, dir, limits, &mut resources)?;
    Ok(Kustomization {
        api_version: Some("kustomize.config.k8s.io/v1beta1".into()),
        kind: Some("Kustomization".into()),
        resources,
        ..Kustomization::default()
    })
}

fn scan(base: &Path, dir: &Path, limits: &Limits, out: &mut Vec<String>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let rel = path
            .strip_prefix(base)
            .map(|p| format!("./{}", p.display()))
            .unwrap_or_else(|_| path.display().to_string());
        let meta = std::fs::symlink_metadata(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            if has_kustomization(&path) {
                out.push(rel);
            } else {
                scan(base, &path, limits, out)?;
            }
            continue;
        }
        let is_yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml") | Some("yml")
        );
        if !is_yaml || !meta.is_file() {
            continue;
        }
        let text = crate::loader::read_text_bounded(&path, limits)?;
        crate::yaml_io::parse_objects(&text, &path, limits).map_err(|e| match e {
            // Refusals keep their kind (and name the limit).
            limit @ Error::Limit { .. } => limit,
            e => Error::invalid(&path, format!("failed to decode Kubernetes YAML: {e}")),
        })?;
        out.push(rel);
    }
    Ok(())
}
