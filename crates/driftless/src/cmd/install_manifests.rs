//! The install manifests embedded in the binary: `config/cluster-admin` (everything
//! `config/default` installs — CRDs, namespace `driftless-system`, RBAC, the Deployment and its
//! Service — plus cluster-admin for the controller and
//! `--apply-as-controller-namespace=driftless-system`), built with the native kustomize engine
//! and the Deployment's image set, as `kubectl kustomize` would build an overlay of it.
//!
//! The files are compiled in from `config/` (a change there is a change here at the next
//! build); the CRDs are rendered from the API types, as `make crds` writes them.

use std::path::Path;

use anyhow::{Context as _, bail};
use driftless_kustomize::{BuildOptions, LoadRestrictions, ResourceList};

/// The image named in `config/manager/deployment.yaml`, replaced by `--image`.
pub const CONFIG_IMAGE: &str = "ghcr.io/driftless-dev/driftless";
/// The image installed when none is given.
pub const DEFAULT_IMAGE: &str = "ghcr.io/driftless-dev/driftless:latest";
/// The namespace the install lives in.
pub const NAMESPACE: &str = "driftless-system";

macro_rules! config_file {
    ($path:literal) => {
        ($path, include_str!(concat!("../../../../", $path)))
    };
}

/// Every file the cluster-admin overlay reads, by path from the repository root.
const CONFIG_FILES: &[(&str, &str)] = &[
    config_file!("config/crds/kustomization.yaml"),
    config_file!("config/rbac/kustomization.yaml"),
    config_file!("config/rbac/service_account.yaml"),
    config_file!("config/rbac/cluster_role.yaml"),
    config_file!("config/rbac/cluster_role_binding.yaml"),
    config_file!("config/rbac/leader_election_role.yaml"),
    config_file!("config/rbac/leader_election_role_binding.yaml"),
    config_file!("config/manager/kustomization.yaml"),
    config_file!("config/manager/namespace.yaml"),
    config_file!("config/manager/deployment.yaml"),
    config_file!("config/manager/service.yaml"),
    config_file!("config/default/kustomization.yaml"),
    config_file!("config/cluster-admin/kustomization.yaml"),
    config_file!("config/cluster-admin/cluster_admin_binding.yaml"),
];

/// An image reference split the way a kustomization's `images:` entry wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry and repository, e.g. `registry.example/driftless`.
    pub name: String,
    /// Tag, if any.
    pub tag: Option<String>,
    /// `sha256:…` digest, if any.
    pub digest: Option<String>,
}

/// Parses `NAME[:TAG][@sha256:DIGEST]`, refusing anything that is not a plain reference.
pub fn parse_image(image: &str) -> anyhow::Result<ImageRef> {
    let (rest, digest) = match image.split_once('@') {
        Some((rest, digest)) => {
            let hex = digest.strip_prefix("sha256:").unwrap_or("");
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                bail!("--image '{image}': the digest must be sha256: and 64 hex digits");
            }
            (rest, Some(digest.to_owned()))
        }
        None => (image, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(colon) => (
            &rest[..last_slash + colon],
            Some(rest[last_slash + colon + 1..].to_owned()),
        ),
        None => (rest, None),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with(['/', '.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:".contains(c));
    if !name_ok {
        bail!("--image '{image}': '{name}' is not an image name (lowercase registry/repository)");
    }
    if let Some(tag) = &tag {
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && !tag.starts_with(['.', '-'])
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !tag_ok {
            bail!("--image '{image}': '{tag}' is not a tag");
        }
    }
    Ok(ImageRef {
        name: name.to_owned(),
        tag,
        digest,
    })
}

/// Builds the install manifests with `image` on the Deployment.
pub fn render(image: &ImageRef) -> anyhow::Result<ResourceList> {
    let dir = tempfile::Builder::new()
        .prefix("driftless-install-")
        .tempdir()
        .context("creating a temporary directory for the install manifests")?;
    let root = dir.path();
    for (path, content) in CONFIG_FILES {
        write(root, path, content)?;
    }
    let crds = super::crds::render()?;
    for (file, yaml) in &crds {
        write(root, &format!("crds/{file}"), yaml)?;
    }
    write(
        root,
        &format!("crds/{}", super::crds::KUSTOMIZATION_FILE),
        &super::crds::kustomization(&crds),
    )?;
    let mut overlay = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n\
         - ../config/cluster-admin\nimages:\n- name: {CONFIG_IMAGE}\n  newName: {}\n",
        image.name
    );
    if let Some(tag) = &image.tag {
        overlay.push_str(&format!("  newTag: \"{tag}\"\n"));
    }
    if let Some(digest) = &image.digest {
        overlay.push_str(&format!("  digest: {digest}\n"));
    }
    write(root, "install/kustomization.yaml", &overlay)?;
    let options = BuildOptions {
        boundary: Some(root.to_path_buf()),
        load_restrictions: LoadRestrictions::RootOnly,
        generate_missing: false,
        limits: driftless_kustomize::Limits::default(),
        input_filter: None,
    };
    driftless_kustomize::build_with(&root.join("install"), &options)
        .context("building the embedded install manifests (config/cluster-admin)")
}

fn write(root: &Path, path: &str, content: &str) -> anyhow::Result<()> {
    let file = root.join(path);
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&file, content).with_context(|| format!("writing {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(list: &ResourceList) -> Vec<String> {
        list.objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn the_overlay_builds_with_the_chosen_image_and_the_cluster_admin_semantics() {
        let image = parse_image("127.0.0.1:5000/driftless:dev").unwrap();
        let built = render(&image).unwrap();
        let kinds = kinds(&built);
        for kind in [
            "CustomResourceDefinition",
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
            "Deployment",
        ] {
            assert!(kinds.iter().any(|k| k == kind), "{kind} missing: {kinds:?}");
        }
        assert_eq!(
            kinds
                .iter()
                .filter(|k| *k == "CustomResourceDefinition")
                .count(),
            super::super::crds::render().unwrap().len()
        );
        let deployment = built
            .objects
            .iter()
            .find(|o| o["kind"] == "Deployment")
            .unwrap();
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "127.0.0.1:5000/driftless:dev");
        let args: Vec<&str> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        assert!(
            args.contains(&"--apply-as-controller-namespace=driftless-system"),
            "{args:?}"
        );
        assert!(
            built
                .objects
                .iter()
                .any(|o| o["kind"] == "ClusterRoleBinding"
                    && o["roleRef"]["name"] == "cluster-admin")
        );
        for object in &built.objects {
            let kind = object["kind"].as_str().unwrap();
            let namespaced = !matches!(
                kind,
                "CustomResourceDefinition" | "Namespace" | "ClusterRole" | "ClusterRoleBinding"
            );
            if namespaced {
                assert_eq!(object["metadata"]["namespace"], NAMESPACE, "{kind}");
            }
        }
    }

    #[test]
    fn image_references_are_parsed_and_junk_refused() {
        assert_eq!(
            parse_image("ghcr.io/acme/driftless:v1.2.3").unwrap(),
            ImageRef {
                name: "ghcr.io/acme/driftless".into(),
                tag: Some("v1.2.3".into()),
                digest: None
            }
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = parse_image(&format!("127.0.0.1:5000/driftless@{digest}")).unwrap();
        assert_eq!(pinned.name, "127.0.0.1:5000/driftless");
        assert_eq!(pinned.tag, None);
        assert_eq!(pinned.digest.as_deref(), Some(digest.as_str()));
        for bad in [
            "",
            "Driftless:1",
            "x:1\nkind: Secret",
            "x@sha256:short",
            "x:bad tag",
            "-x:1",
            "x:\"1\"",
        ] {
            assert!(parse_image(bad).is_err(), "{bad:?} accepted");
        }
    }
}
