//! What the image reconcilers share: the client, events, metrics, the tag store and the
//! registry HTTP client.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use driftless_runtime::url_policy::UrlPolicy;
use driftless_runtime::{EventRecorder, Metrics};
use kube::Client;

use crate::Error;
use crate::git::WorkingClones;
use crate::tag_store::TagStore;

/// Shared state of the ImageRepository, ImagePolicy and ImageUpdateAutomation reconcilers.
/// Build one per process and hand the same `Arc` to each `run`.
#[derive(Clone)]
pub struct Context {
    /// Client acting as the controller itself.
    pub client: Client,
    /// Event recorder.
    pub recorder: EventRecorder,
    /// Metrics registry.
    pub metrics: Metrics,
    /// The controller's storage directory (tag lists live in `<storage>/image-tags`,
    /// working clones in `<storage>/image-automation`).
    pub storage: PathBuf,
    /// Scanned tags by ImageRepository, persisted under `storage`.
    pub tags: Arc<TagStore>,
    /// HTTP client for registries, enforcing [`Context::url_policy`] (set it with
    /// [`Context::set_url_policy`], which rebuilds the client).
    pub http: reqwest::Client,
    /// The URL policy for registries and git remotes. [`UrlPolicy::default`] from
    /// [`Context::new`]: network schemes to any host, no `file://`.
    pub url_policy: Arc<UrlPolicy>,
    /// Bytes of one registry response read at most (`--max-registry-response-bytes`).
    pub max_registry_response_bytes: u64,
    /// Locks of the automation's working clones under `storage`.
    pub clones: Arc<WorkingClones>,
    /// `--no-cross-namespace-refs`: `imageRepositoryRef` and `sourceRef` must stay in the
    /// object's namespace. False from [`Context::new`].
    pub no_cross_namespace_refs: bool,
}

impl Context {
    /// Refuses `namespace` as the target of `field` of an object in `own` when cross-namespace
    /// references are forbidden.
    pub fn check_reference(&self, field: &str, own: &str, namespace: &str) -> Result<(), Error> {
        check_reference(self.no_cross_namespace_refs, field, own, namespace)
    }

    /// Enforces `policy` from now on (rebuilds the registry client around it).
    pub fn set_url_policy(&mut self, policy: Arc<UrlPolicy>) -> Result<(), Error> {
        self.http = crate::registry::http_client(policy.clone())?;
        self.url_policy = policy;
        Ok(())
    }

    /// A context storing its state under `storage` (the same directory as the source cache
    /// is fine: everything goes below `image-tags/`).
    pub fn new(
        client: Client,
        recorder: EventRecorder,
        metrics: Metrics,
        storage: &Path,
    ) -> Result<Self, Error> {
        let url_policy = Arc::new(UrlPolicy::default());
        Ok(Context {
            client,
            recorder,
            metrics,
            storage: storage.to_path_buf(),
            tags: Arc::new(TagStore::new(storage)),
            http: crate::registry::http_client(url_policy.clone())?,
            url_policy,
            max_registry_response_bytes: crate::registry::DEFAULT_MAX_RESPONSE_BYTES,
            clones: Arc::new(WorkingClones::default()),
            no_cross_namespace_refs: false,
        })
    }
}

fn check_reference(forbidden: bool, field: &str, own: &str, namespace: &str) -> Result<(), Error> {
    if forbidden && own != namespace {
        return Err(Error::AccessDenied(format!(
            "{field}: cross-namespace reference to namespace '{namespace}' is not allowed (--no-cross-namespace-refs)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_namespace_references_only_when_allowed() {
        assert!(check_reference(false, "spec.sourceRef", "a", "b").is_ok());
        assert!(check_reference(true, "spec.sourceRef", "a", "a").is_ok());
        let err = check_reference(true, "spec.sourceRef", "a", "b").unwrap_err();
        assert!(err.is_stalling() && err.reason() == "AccessDenied");
        assert!(
            err.to_string()
                .starts_with("spec.sourceRef: cross-namespace reference to namespace 'b'"),
            "{err}"
        );
    }
}
