//! Building a Kustomization from a local directory exactly as the controller builds it from
//! its artifact: the cluster's Kustomization spec overlaid, the native build, `postBuild`
//! substitution with `substituteFrom` read from the cluster, and the owner labels.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use driftless_api::Kustomization;
use driftless_apply::Owner;
use driftless_kustomize_controller::{build_manifests, substitute_all, substitution_vars};
use kube::{Api, Client, ResourceExt};
use serde_json::Value;

use crate::cmd::build_limits::BuildLimitArgs;
use crate::cmd::kube_args::check_object_name;

/// `--path DIR` (and where the source tree starts).
#[derive(clap::Args, Debug, Clone)]
pub struct LocalSourceArgs {
    /// The local directory standing in for the Kustomization's `spec.path`.
    #[arg(long, value_name = "DIR")]
    pub path: PathBuf,
    /// The root of the source tree the build may read from (as the artifact root bounds the
    /// controller's build). Default: the git work tree holding `--path`, else `--path` itself.
    #[arg(long, value_name = "DIR")]
    pub source_root: Option<PathBuf>,
    #[command(flatten)]
    pub limits: BuildLimitArgs,
}

/// The Kustomization and what it would apply.
pub struct LocalBuild {
    /// The Kustomization read from the cluster.
    pub kustomization: Kustomization,
    /// The built, substituted and labelled manifests.
    pub objects: Vec<Value>,
}

/// Reads the Kustomization `namespace/name`.
pub async fn read_kustomization(
    client: &Client,
    namespace: &str,
    name: &str,
) -> anyhow::Result<Kustomization> {
    check_object_name("Kustomization NAME", name)?;
    let api: Api<Kustomization> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(name).await {
        Ok(Some(ks)) => Ok(ks),
        Ok(None) => bail!("Kustomization '{name}' not found in namespace '{namespace}'"),
        Err(kube::Error::Api(status)) if status.code == 404 => bail!(
            "the Kustomization API is not served: are the Driftless CRDs installed? (`driftless check`)"
        ),
        Err(err) => {
            Err(anyhow::Error::new(err)
                .context(format!("reading Kustomization '{namespace}/{name}'")))
        }
    }
}

/// Builds `args.path` as the Kustomization would; `substituteFrom` is read with
/// `vars_client` (the Kustomization's identity for `diff`, the user's for `build`).
pub async fn build(
    ks: Kustomization,
    args: &LocalSourceArgs,
    vars_client: &Client,
) -> anyhow::Result<LocalBuild> {
    let (root, relative) = source_root(&args.path, args.source_root.as_deref())?;
    let mut spec = ks.spec.clone();
    spec.path = Some(relative);
    let limits = args.limits.limits();
    let mut objects = tokio::task::spawn_blocking(move || build_manifests(&root, &spec, &limits))
        .await
        .context("the build task failed")??;
    let namespace = ks.namespace().unwrap_or_default();
    if let Some(post_build) = &ks.spec.post_build {
        let vars = substitution_vars(vars_client, &namespace, post_build).await?;
        substitute_all(&mut objects, &vars)?;
    }
    let owner = Owner::new(ks.name_any(), namespace);
    for object in &mut objects {
        owner.label(object);
    }
    Ok(LocalBuild {
        kustomization: ks,
        objects,
    })
}

/// The source root and `--path` relative to it (as `spec.path`).
fn source_root(path: &Path, root: Option<&Path>) -> anyhow::Result<(PathBuf, String)> {
    let dir = path
        .canonicalize()
        .with_context(|| format!("--path {}: no such directory", path.display()))?;
    if !dir.is_dir() {
        bail!("--path {} is not a directory", path.display());
    }
    let root = match root {
        Some(root) => root
            .canonicalize()
            .with_context(|| format!("--source-root {}: no such directory", root.display()))?,
        None => dir
            .ancestors()
            .find(|a| a.join(".git").exists())
            .unwrap_or(&dir)
            .to_path_buf(),
    };
    let relative = dir.strip_prefix(&root).with_context(|| {
        format!(
            "--path {} is not inside --source-root {}",
            dir.display(),
            root.display()
        )
    })?;
    Ok((root, format!("./{}", relative.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_root_is_the_git_work_tree() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join(".git")).unwrap();
        std::fs::create_dir_all(tmp.path().join("apps/prod")).unwrap();
        let (root, rel) = source_root(&tmp.path().join("apps/prod"), None).unwrap();
        assert_eq!(root, tmp.path().canonicalize().unwrap());
        assert_eq!(rel, "./apps/prod");
        let err = source_root(
            &tmp.path().join("apps"),
            Some(&tmp.path().join("apps/prod")),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not inside"), "{err}");
        assert!(source_root(&tmp.path().join("missing"), None).is_err());
    }
}
