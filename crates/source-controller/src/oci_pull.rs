//! One pull of an OCIRepository: the spec checked (provider, verify, URL), the reference
//! resolved to a manifest (digest > semver > tag, as in Flux), the layer selected,
//! downloaded with its size bounded and digest verified, and stored in the source cache.

use std::collections::BTreeMap;
use std::time::Duration;

use driftless_api::OCIRepository;
use driftless_api::oci::{OCILayerOperation, OCIProvider};
use driftless_oci::{Access, Descriptor, ImageName, RegistryCredentials, Session};
use driftless_source::{Artifact, Digest, ImportRequest};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

use crate::{Context, Error};

/// The outcome of a pull.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The stored artifact.
    pub artifact: Artifact,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// What a reconcile already has: the revision and digest in status, and whether the
/// layer selector and ignore rules it was built with are still the spec's.
#[derive(Debug, Clone, Default)]
pub struct Current {
    /// `status.artifact.revision`.
    pub revision: Option<String>,
    /// `status.artifact.digest`.
    pub digest: Option<Digest>,
    /// `status.artifact.metadata`.
    pub annotations: BTreeMap<String, String>,
    /// `status.artifact.size`.
    pub size: u64,
    /// Whether ignore rules and layer selector of the current artifact are the spec's.
    pub same_settings: bool,
}

/// Refuses what Driftless does not implement, naming the field, before anything connects.
pub fn check_spec(repo: &OCIRepository) -> Result<(), Error> {
    if let Some(provider) = repo.spec.provider
        && provider != OCIProvider::Generic
    {
        return Err(Error::InvalidSpec(format!(
            "spec.provider: '{}' (cloud workload identity) is not supported; use 'generic' with spec.secretRef",
            serde_json::to_value(provider)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        )));
    }
    if let Some(verify) = &repo.spec.verify {
        return Err(Error::InvalidSpec(format!(
            "spec.verify: {} signature verification is not supported by Driftless yet; the artifact is not pulled unverified (remove spec.verify to pull without verification)",
            verify.provider
        )));
    }
    if let Some(digest) = repo
        .spec
        .reference
        .as_ref()
        .and_then(|r| r.digest.as_deref())
        && !driftless_oci::is_sha256_digest(digest)
    {
        return Err(Error::InvalidSpec(format!(
            "spec.ref.digest: '{digest}' is not 'sha256:' followed by 64 lowercase hex digits"
        )));
    }
    Ok(())
}

/// Reads the dockerconfigjson Secret `name` and returns its entry for `registry`.
async fn credentials(
    ctx: &Context,
    namespace: &str,
    name: &str,
    registry: &str,
) -> Result<RegistryCredentials, Error> {
    let secret_name = format!("{namespace}/{name}");
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let secret = api
        .get_opt(name)
        .await
        .map_err(|source| Error::Kube {
            action: format!("reading Secret {secret_name}"),
            source,
        })?
        .ok_or_else(|| {
            Error::Credentials(format!(
                "secret '{secret_name}' named by spec.secretRef not found"
            ))
        })?;
    let data = secret.data.unwrap_or_default();
    let json = data.get(".dockerconfigjson").ok_or_else(|| {
        Error::Credentials(format!(
            "secret '{secret_name}' has no key '.dockerconfigjson' (expected type kubernetes.io/dockerconfigjson)"
        ))
    })?;
    driftless_oci::from_docker_config(&json.0, registry, &secret_name)?.ok_or_else(|| {
        Error::Credentials(format!(
            "secret '{secret_name}' has no entry for registry '{registry}'"
        ))
    })
}

/// Pulls `repo` within `timeout` unless the reference still points at `current`'s revision.
pub async fn pull(
    repo: &OCIRepository,
    ctx: &Context,
    current: &Current,
    timeout: Duration,
) -> Result<Pulled, Error> {
    match tokio::time::timeout(timeout, pull_inner(repo, ctx, current, timeout)).await {
        Ok(result) => result,
        Err(_) => Err(Error::Registry(driftless_oci::Error::Registry {
            url: repo.spec.url.clone(),
            reason: format!("timed out after {}s (spec.timeout)", timeout.as_secs()),
        })),
    }
}

async fn pull_inner(
    repo: &OCIRepository,
    ctx: &Context,
    current: &Current,
    timeout: Duration,
) -> Result<Pulled, Error> {
    check_spec(repo)?;
    let namespace = repo.namespace().unwrap_or_default();
    let image = ImageName::parse_oci_url(&repo.spec.url, "spec.url")?;
    let creds = match &repo.spec.secret_ref {
        Some(secret) => Some(credentials(ctx, &namespace, &secret.name, &image.registry).await?),
        None => None,
    };
    let access = Access {
        image: &image,
        insecure: repo.spec.insecure,
        credentials: creds.as_ref(),
        timeout,
        policy: &ctx.url_policy,
        max_response_bytes: ctx.max_registry_response_bytes,
    };
    let mut session = Session::new(&ctx.http, access, false)?;
    let reference = repo.spec.reference.clone().unwrap_or_default();
    let (label, manifest) = if let Some(digest) = reference.digest.as_deref() {
        let manifest = driftless_oci::fetch_manifest(&mut session, digest).await?;
        (None, manifest)
    } else {
        let tag = match reference.semver.as_deref() {
            Some(range) => {
                let filter = reference
                    .semver_filter
                    .as_deref()
                    .map(|f| {
                        regex::Regex::new(f).map_err(|e| {
                            Error::InvalidSpec(format!(
                                "spec.ref.semverFilter: invalid regular expression '{f}': {e}"
                            ))
                        })
                    })
                    .transpose()?;
                let tags: Vec<String> = driftless_oci::list_tags_in(&mut session, 1000)
                    .await?
                    .into_iter()
                    .filter(|t| filter.as_ref().is_none_or(|f| f.is_match(t)))
                    .collect();
                driftless_source::highest_semver_tag(range, &tags)?
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Error::Registry(driftless_oci::Error::NotFound {
                            what: format!("no tag matching semver '{range}'"),
                            repository: image.canonical(),
                            reason: format!("{} tags considered", tags.len()),
                        })
                    })?
            }
            None => reference.tag.clone().unwrap_or_else(|| "latest".to_owned()),
        };
        let manifest = driftless_oci::fetch_manifest(&mut session, &tag).await?;
        (Some(tag), manifest)
    };
    let revision = match &label {
        Some(tag) => format!("{tag}@{}", manifest.digest),
        None => manifest.digest.clone(),
    };
    // Same manifest, same settings, artifact still cached: nothing to download.
    if current.same_settings
        && current.revision.as_deref() == Some(revision.as_str())
        && let Some(digest) = &current.digest
        && let Some(path) = ctx.cache.artifact_dir(digest)
    {
        return Ok(Pulled {
            artifact: Artifact {
                revision,
                commit: manifest.digest.clone(),
                digest: digest.clone(),
                path,
                size: current.size,
                verified: None,
            },
            annotations: current.annotations.clone(),
        });
    }
    let layer = select_layer(repo, &manifest.manifest.layers, &revision)?;
    let staging = ctx.cache.staging_path("oci-layer");
    let downloaded =
        driftless_oci::download_blob(&mut session, &layer, &staging, ctx.max_artifact_bytes).await;
    if let Err(e) = downloaded {
        return Err(e.into());
    }
    let copy = repo
        .spec
        .layer_selector
        .as_ref()
        .and_then(|s| s.operation)
        .unwrap_or_default()
        == OCILayerOperation::Copy;
    let imported = ctx
        .cache
        .import_tar_gz(ImportRequest {
            key: layer.digest.clone(),
            revision: revision.clone(),
            origin: repo.spec.url.clone(),
            archive: staging.clone(),
            ignore: repo.spec.ignore.clone(),
            keep_tarball: copy,
        })
        .await;
    let _ = tokio::fs::remove_file(&staging).await;
    Ok(Pulled {
        artifact: imported?,
        annotations: manifest.manifest.annotations,
    })
}

/// The first layer with the selector's media type (or the first layer).
fn select_layer(
    repo: &OCIRepository,
    layers: &[Descriptor],
    revision: &str,
) -> Result<Descriptor, Error> {
    let wanted = repo
        .spec
        .layer_selector
        .as_ref()
        .and_then(|s| s.media_type.as_deref());
    let found = match wanted {
        Some(media_type) => layers.iter().find(|l| l.media_type == media_type),
        None => layers.first(),
    };
    found.cloned().ok_or_else(|| {
        Error::Layer(match wanted {
            Some(media_type) => format!(
                "artifact {revision} of {} has no layer with media type '{media_type}' (spec.layerSelector.mediaType)",
                repo.spec.url
            ),
            None => format!("artifact {revision} of {} has no layers", repo.spec.url),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(extra: serde_json::Value) -> OCIRepository {
        let mut spec = serde_json::json!({"url": "oci://r.example/app", "interval": "1m"});
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "source.driftless.dev/v1",
            "kind": "OCIRepository",
            "metadata": {"name": "app", "namespace": "ns"},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn unsupported_fields_are_refused_naming_them() {
        assert!(check_spec(&repo(serde_json::json!({}))).is_ok());
        assert!(check_spec(&repo(serde_json::json!({"provider": "generic"}))).is_ok());
        let err = check_spec(&repo(serde_json::json!({"provider": "gcp"}))).unwrap_err();
        assert!(err.to_string().contains("spec.provider: 'gcp'"), "{err}");
        assert!(err.is_stalling());
        let err =
            check_spec(&repo(serde_json::json!({"verify": {"provider": "cosign"}}))).unwrap_err();
        assert!(err.to_string().contains("spec.verify: cosign"), "{err}");
        let err =
            check_spec(&repo(serde_json::json!({"ref": {"digest": "sha256:abc"}}))).unwrap_err();
        assert!(err.to_string().contains("spec.ref.digest"), "{err}");
    }

    #[test]
    fn layers_are_selected_by_media_type_or_first() {
        let layer = |t: &str, d: char| Descriptor {
            media_type: t.into(),
            digest: format!("sha256:{}", d.to_string().repeat(64)),
            size: 1,
            annotations: Default::default(),
        };
        let layers = vec![layer("a/one", '1'), layer("b/two", '2')];
        let first = select_layer(&repo(serde_json::json!({})), &layers, "v1@sha256:x").unwrap();
        assert_eq!(first.media_type, "a/one");
        let chosen = repo(serde_json::json!({"layerSelector": {"mediaType": "b/two"}}));
        assert_eq!(
            select_layer(&chosen, &layers, "r").unwrap().media_type,
            "b/two"
        );
        let missing = repo(serde_json::json!({"layerSelector": {"mediaType": "c/none"}}));
        let err = select_layer(&missing, &layers, "v1@sha256:x").unwrap_err();
        assert!(err.to_string().contains("'c/none'") && err.to_string().contains("v1@sha256:x"));
        assert_eq!(err.reason(), "OCIArtifactLayerOperationFailed");
    }
}
