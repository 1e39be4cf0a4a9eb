//! What bootstrap commits under `--path`: `driftless-system/` holding the install manifests
//! (`driftless-components.yaml`), the GitRepository and Kustomization that sync the path
//! (`driftless-sync.yaml`) and a `kustomization.yaml` listing both. The Kustomization builds
//! the whole path, so apps added beside `driftless-system/` are applied too, and Driftless
//! applies its own install from then on.

use anyhow::{Context as _, bail};
use driftless_api::{GitRepository, Kustomization};
use serde_json::json;

use crate::cmd::install_manifests::NAMESPACE;

/// Name of the GitRepository, Kustomization and Secret bootstrap creates.
pub const SYNC_NAME: &str = "driftless-system";
/// The directory under `--path` holding Driftless's own manifests.
pub const DIR: &str = "driftless-system";

/// What the sync objects need to know.
#[derive(Debug, Clone)]
pub struct SyncSpec {
    /// The repository URL (no credentials in it).
    pub url: String,
    /// The branch to follow.
    pub branch: String,
    /// The path in the repository, without `./` (e.g. `clusters/prod`).
    pub path: String,
    /// How often to fetch the repository.
    pub interval: String,
    /// Whether the GitRepository names the bootstrap Secret.
    pub with_secret: bool,
}

/// One file to commit: its path from the repository root and its content.
pub type File = (String, String);

/// Checks `--path`: relative, inside the repository, plain names only.
pub fn normalize_path(path: &str) -> anyhow::Result<String> {
    let trimmed = path.trim_start_matches("./").trim_end_matches('/');
    let parts: Vec<&str> = trimmed.split('/').collect();
    let plain = |p: &&str| {
        !p.is_empty()
            && *p != "."
            && *p != ".."
            && !p.starts_with('.')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    if path.starts_with('/') || parts.is_empty() || !parts.iter().all(plain) || trimmed.len() > 200
    {
        bail!(
            "--path '{path}' must be a relative path inside the repository made of plain \
             names (letters, digits, '.', '_', '-'; no '..', no leading '/' or '.'), e.g. clusters/prod"
        );
    }
    Ok(trimmed.to_owned())
}

/// The sync objects: a GitRepository following the branch and a Kustomization applying the
/// path, both in driftless-system without serviceAccountName (so they apply as the
/// controller: `--apply-as-controller-namespace=driftless-system`).
pub fn sync_objects(spec: &SyncSpec) -> anyhow::Result<(GitRepository, Kustomization)> {
    let mut repo_spec = json!({
        "interval": spec.interval,
        "ref": {"branch": spec.branch},
        "url": spec.url,
    });
    if spec.with_secret {
        repo_spec["secretRef"] = json!({"name": SYNC_NAME});
    }
    let repository: GitRepository = serde_json::from_value(json!({
        "apiVersion": "source.driftless.dev/v1",
        "kind": "GitRepository",
        "metadata": {"name": SYNC_NAME, "namespace": NAMESPACE},
        "spec": repo_spec,
    }))
    .context("building the GitRepository")?;
    let kustomization: Kustomization = serde_json::from_value(json!({
        "apiVersion": "kustomize.driftless.dev/v1",
        "kind": "Kustomization",
        "metadata": {"name": SYNC_NAME, "namespace": NAMESPACE},
        "spec": {
            "interval": "10m",
            "path": format!("./{}", spec.path),
            "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": SYNC_NAME},
        },
    }))
    .context("building the Kustomization")?;
    Ok((repository, kustomization))
}

/// What bootstrap applies to the cluster, in order: the install manifests (`components`),
/// the deploy key `secret` if any (before the GitRepository that names it), and the sync
/// objects. All but the Secret (which is not in git) are labelled as the Kustomization
/// `driftless-system/driftless-system` labels what it applies. Bootstrap and the controller
/// apply these objects with the same field manager (`driftless`), so this is what keeps a
/// re-run from taking the owner labels off objects the controller has applied from git (its
/// drift watch selects them by those labels) and makes it a no-op on an unchanged cluster.
/// The committed files carry no owner labels: the controller adds them, as it does to
/// everything it applies.
pub fn cluster_objects(
    spec: &SyncSpec,
    components: Vec<serde_json::Value>,
    secret: Option<serde_json::Value>,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let (repository, kustomization) = sync_objects(spec)?;
    let mut objects = components;
    objects.push(serde_json::to_value(repository).context("serializing the GitRepository")?);
    objects.push(serde_json::to_value(kustomization).context("serializing the Kustomization")?);
    let owner = driftless_apply::Owner::new(SYNC_NAME, NAMESPACE);
    for object in &mut objects {
        owner.label(object);
    }
    if let Some(secret) = secret {
        objects.insert(objects.len() - 2, secret);
    }
    Ok(objects)
}

/// The files to commit, given the built install manifests (`components`, a YAML stream).
pub fn files(spec: &SyncSpec, image: &str, components: &str) -> anyhow::Result<Vec<File>> {
    let (repository, kustomization) = sync_objects(spec)?;
    let base = format!("{}/{DIR}", spec.path);
    let components = format!(
        "# Driftless install manifests (config/cluster-admin, image {image}), written by\n\
         # `driftless bootstrap git`. Do not edit: run bootstrap again to change them.\n{components}"
    );
    let sync = format!(
        "# The GitRepository and Kustomization through which Driftless manages this cluster\n\
         # (and itself) from ./{path}. Written by `driftless bootstrap git`.\n---\n{}---\n{}",
        serde_norway::to_string(&repository).context("serializing the GitRepository")?,
        serde_norway::to_string(&kustomization).context("serializing the Kustomization")?,
        path = spec.path,
    );
    let kustomization_file = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
         resources:\n- driftless-components.yaml\n- driftless-sync.yaml\n"
        .to_owned();
    Ok(vec![
        (format!("{base}/driftless-components.yaml"), components),
        (format!("{base}/driftless-sync.yaml"), sync),
        (format!("{base}/kustomization.yaml"), kustomization_file),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SyncSpec {
        SyncSpec {
            url: "ssh://git@git.example/fleet.git".into(),
            branch: "main".into(),
            path: "clusters/prod".into(),
            interval: "1m".into(),
            with_secret: true,
        }
    }

    #[test]
    fn paths_are_normalized_and_escapes_refused() {
        assert_eq!(normalize_path("./clusters/prod/").unwrap(), "clusters/prod");
        assert_eq!(
            normalize_path("clusters/my-cluster_1").unwrap(),
            "clusters/my-cluster_1"
        );
        for bad in [
            "",
            "/etc",
            "clusters/../..",
            "../x",
            "a//b",
            ".git/hooks",
            "a/.git",
            "a b",
            "x/\n",
        ] {
            assert!(normalize_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sync_objects_follow_the_branch_and_apply_the_path_as_the_controller() {
        let (repository, kustomization) = sync_objects(&spec()).unwrap();
        assert_eq!(repository.metadata.namespace.as_deref(), Some(NAMESPACE));
        assert_eq!(repository.spec.url, "ssh://git@git.example/fleet.git");
        assert_eq!(repository.spec.secret_ref.as_ref().unwrap().name, SYNC_NAME);
        assert_eq!(kustomization.spec.path.as_deref(), Some("./clusters/prod"));
        assert!(kustomization.spec.prune);
        assert!(kustomization.spec.service_account_name.is_none());
        let no_secret = SyncSpec {
            with_secret: false,
            ..spec()
        };
        assert!(
            sync_objects(&no_secret)
                .unwrap()
                .0
                .spec
                .secret_ref
                .is_none()
        );
    }

    #[test]
    fn applied_objects_carry_the_owner_labels_the_controller_applies_them_with() {
        let components = vec![
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": "driftless",
                    "namespace": NAMESPACE,
                    "labels": {"app.kubernetes.io/name": "driftless"},
                },
            }),
        ];
        let secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": SYNC_NAME, "namespace": NAMESPACE},
        });
        let objects = cluster_objects(&spec(), components.clone(), Some(secret.clone())).unwrap();
        let kinds: Vec<&str> = objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "Deployment",
                "Secret",
                "GitRepository",
                "Kustomization"
            ]
        );
        assert_eq!(
            objects[2], secret,
            "the Secret is not in git: no owner labels"
        );
        assert_eq!(cluster_objects(&spec(), components, None).unwrap().len(), 4);
        for object in objects.iter().filter(|o| o["kind"] != "Secret") {
            let labels = &object["metadata"]["labels"];
            assert_eq!(
                labels["kustomize.driftless.dev/name"], SYNC_NAME,
                "{object}"
            );
            assert_eq!(
                labels["kustomize.driftless.dev/namespace"], NAMESPACE,
                "{object}"
            );
        }
        assert_eq!(
            objects[1]["metadata"]["labels"]["app.kubernetes.io/name"], "driftless",
            "the manifests' own labels are kept"
        );
        // The same label set as the controller's applier gives the committed objects.
        let mut committed = objects[1].clone();
        committed["metadata"]["labels"] = json!({"app.kubernetes.io/name": "driftless"});
        driftless_apply::Owner::new(SYNC_NAME, NAMESPACE).label(&mut committed);
        assert_eq!(committed, objects[1]);
        // The files in git stay without them.
        for (path, content) in files(&spec(), "x/driftless:1", "kind: Namespace\n").unwrap() {
            assert!(!content.contains("kustomize.driftless.dev/name"), "{path}");
            assert!(
                !content.contains("kustomize.driftless.dev/namespace"),
                "{path}"
            );
        }
    }

    #[test]
    fn files_live_under_the_path() {
        let files = files(&spec(), "x/driftless:1", "kind: Namespace\n").unwrap();
        let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "clusters/prod/driftless-system/driftless-components.yaml",
                "clusters/prod/driftless-system/driftless-sync.yaml",
                "clusters/prod/driftless-system/kustomization.yaml"
            ]
        );
        assert!(files[0].1.contains("image x/driftless:1"));
        assert!(files[1].1.contains("kind: GitRepository"));
        assert!(files[1].1.contains("kind: Kustomization"));
    }
}
