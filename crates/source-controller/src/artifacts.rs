//! `GET /artifacts/<namespace>/<name>/<digest-hex>.tar.gz`: artifact tarballs for controllers
//! running in other processes.
//!
//! A tarball is served only when the GitRepository `<namespace>/<name>` names that digest in
//! its `status.artifact` right now (as the controller's own watch sees it: no API call per
//! request); anything else is 404, so knowing a digest is not enough to read another
//! tenant's source. The file is streamed from disk, never held in memory whole.

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use driftless_api::{GitRepository, OCIRepository};
use driftless_source::{Digest, SourceCache};
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::io::AsyncReadExt;

/// Size of the chunks a tarball is streamed in.
const CHUNK_BYTES: usize = 64 * 1024;

/// The GitRepositories the controller watches, read from its reflector stores: which
/// artifact each one currently publishes. Cheap to clone; clones share the stores.
#[derive(Clone, Default)]
pub struct PublishedArtifacts {
    stores: Arc<RwLock<Vec<Store<GitRepository>>>>,
    oci_stores: Arc<RwLock<Vec<Store<OCIRepository>>>>,
}

impl std::fmt::Debug for PublishedArtifacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishedArtifacts").finish_non_exhaustive()
    }
}

impl PublishedArtifacts {
    /// Adds the reflector store of one watch (one per watched namespace scope).
    pub fn register(&self, store: Store<GitRepository>) {
        self.stores
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(store);
    }

    /// Adds the reflector store of one OCIRepository watch.
    pub fn register_oci(&self, store: Store<OCIRepository>) {
        self.oci_stores
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(store);
    }

    /// Whether OCIRepository `namespace/name` currently publishes `digest`.
    pub fn publishes_oci(&self, namespace: &str, name: &str, digest: &Digest) -> bool {
        let wanted = digest.to_string();
        let key = ObjectRef::<OCIRepository>::new(name).within(namespace);
        let stores = self
            .oci_stores
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        stores.iter().any(|store| {
            store.get(&key).is_some_and(|repo| {
                repo.status
                    .as_ref()
                    .and_then(|s| s.artifact.as_ref())
                    .and_then(|a| a.digest.as_deref())
                    == Some(wanted.as_str())
            })
        })
    }

    /// GitRepository `namespace/name` as the watch last saw it.
    pub fn git_repository(&self, namespace: &str, name: &str) -> Option<Arc<GitRepository>> {
        let key = ObjectRef::<GitRepository>::new(name).within(namespace);
        let stores = self
            .stores
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        stores.iter().find_map(|store| store.get(&key))
    }

    /// The GitRepositories of `namespace` whose `spec.include` names `name`.
    pub fn includers_of(&self, namespace: &str, name: &str) -> Vec<ObjectRef<GitRepository>> {
        let stores = self
            .stores
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        stores
            .iter()
            .flat_map(|store| store.state())
            .filter(|repo| {
                repo.metadata.namespace.as_deref() == Some(namespace)
                    && repo.spec.include.iter().any(|i| i.repository.name == name)
            })
            .map(|repo| ObjectRef::from_obj(repo.as_ref()))
            .collect()
    }

    /// Whether GitRepository `namespace/name` currently publishes `digest`.
    pub fn publishes(&self, namespace: &str, name: &str, digest: &Digest) -> bool {
        let wanted = digest.to_string();
        let key = ObjectRef::<GitRepository>::new(name).within(namespace);
        let stores = self
            .stores
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        stores.iter().any(|store| {
            store.get(&key).is_some_and(|repo| {
                repo.status
                    .as_ref()
                    .and_then(|s| s.artifact.as_ref())
                    .and_then(|a| a.digest.as_deref())
                    == Some(wanted.as_str())
            })
        })
    }
}

#[derive(Clone)]
struct Served {
    cache: Arc<SourceCache>,
    published: PublishedArtifacts,
}

/// The artifact routes, backed by `cache`, serving what `published` says each object owns.
pub fn routes(cache: Arc<SourceCache>, published: PublishedArtifacts) -> Router {
    Router::new()
        .route("/artifacts/{namespace}/{name}/{file}", get(serve))
        .route(
            "/artifacts/ocirepository/{namespace}/{name}/{file}",
            get(serve_oci),
        )
        .with_state(Served { cache, published })
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "artifact not found").into_response()
}

async fn serve(
    State(served): State<Served>,
    Path((namespace, name, file)): Path<(String, String, String)>,
) -> Response {
    serve_for(served, false, namespace, name, file).await
}

async fn serve_oci(
    State(served): State<Served>,
    Path((namespace, name, file)): Path<(String, String, String)>,
) -> Response {
    serve_for(served, true, namespace, name, file).await
}

async fn serve_for(
    served: Served,
    oci: bool,
    namespace: String,
    name: String,
    file: String,
) -> Response {
    let Some(hex) = file.strip_suffix(".tar.gz") else {
        return (StatusCode::NOT_FOUND, "expected <digest>.tar.gz").into_response();
    };
    let Some(digest) = Digest::parse(&format!("sha256:{hex}")) else {
        return (StatusCode::BAD_REQUEST, "malformed digest").into_response();
    };
    // The same answer whether the object does not exist, is not ours to see, or publishes
    // another digest: nothing to learn by probing.
    let published = if oci {
        served.published.publishes_oci(&namespace, &name, &digest)
    } else {
        served.published.publishes(&namespace, &name, &digest)
    };
    if !published {
        return not_found();
    }
    let path = match served.cache.tarball(&digest).await {
        Ok(path) => path,
        Err(driftless_source::Error::ArtifactNotFound(_)) => return not_found(),
        Err(err) => {
            tracing::warn!(%digest, error = %err, "building artifact tarball");
            return (StatusCode::INTERNAL_SERVER_ERROR, "artifact unavailable").into_response();
        }
    };
    // Opened before answering: an eviction that unlinks the file later does not cut the body.
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(_) => return not_found(),
    };
    let length = match file.metadata().await {
        Ok(meta) => meta.len(),
        Err(_) => return not_found(),
    };
    (
        [
            (header::CONTENT_TYPE, "application/gzip".to_owned()),
            (header::CONTENT_LENGTH, length.to_string()),
        ],
        Body::from_stream(chunks(file)),
    )
        .into_response()
}

/// The file as a stream of chunks of at most [`CHUNK_BYTES`].
fn chunks(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send {
    futures::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0; CHUNK_BYTES];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((buf, file)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn chunks_stream_the_whole_file_in_bounded_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar.gz");
        let content: Vec<u8> = (0..(CHUNK_BYTES * 2 + 17)).map(|i| i as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let file = tokio::fs::File::open(&path).await.unwrap();
        let pieces: Vec<Vec<u8>> = chunks(file).map(|c| c.unwrap()).collect().await;
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|p| p.len() <= CHUNK_BYTES));
        assert_eq!(pieces.concat(), content);
    }

    #[test]
    fn nothing_is_published_without_a_store() {
        let published = PublishedArtifacts::default();
        let digest = Digest::parse(&"a".repeat(64)).unwrap();
        assert!(!published.publishes("ns", "repo", &digest));
    }

    #[test]
    fn only_the_owner_of_the_digest_publishes_it() {
        use driftless_api::meta::Artifact;
        use kube::runtime::watcher::Event;
        let (reader, mut writer) = kube::runtime::reflector::store::<GitRepository>();
        let digest = Digest::parse(&"a".repeat(64)).unwrap();
        let mut repo: GitRepository = serde_json::from_value(serde_json::json!({
            "apiVersion": "source.driftless.dev/v1",
            "kind": "GitRepository",
            "metadata": {"name": "apps", "namespace": "team-a"},
            "spec": {"url": "https://git.example/a", "interval": "1m"}
        }))
        .unwrap();
        repo.status = Some(driftless_api::source::GitRepositoryStatus {
            artifact: Some(Artifact {
                digest: Some(digest.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        });
        writer.apply_watcher_event(&Event::Apply(repo));
        let published = PublishedArtifacts::default();
        published.register(reader);
        assert!(published.publishes("team-a", "apps", &digest));
        assert!(!published.publishes("team-b", "apps", &digest));
        assert!(!published.publishes("team-a", "other", &digest));
        let other = Digest::parse(&"b".repeat(64)).unwrap();
        assert!(!published.publishes("team-a", "apps", &other));
    }
}
