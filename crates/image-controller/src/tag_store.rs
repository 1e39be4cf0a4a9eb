//! The scanned tags of every ImageRepository, in memory and in one JSON file per repository
//! under `<storage>/image-tags/<namespace>/<name>.json`, so that after a restart policies
//! are answered from disk without waiting for a rescan.
//!
//! Why files and not a ConfigMap: a busy image has tens of thousands of tags (a ConfigMap
//! stops at 1 MiB), every scan would be another API write and watch event, and the storage
//! directory is already the controller's persistent volume (the source cache lives there).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// One repository's scan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScannedTags {
    /// Canonical image name the tags belong to.
    pub image: String,
    /// `sha256:<hex>` of the sorted tags.
    pub revision: String,
    /// The tags, after the exclusion list, sorted.
    pub tags: Vec<String>,
}

impl ScannedTags {
    /// Sorts `tags` and computes the revision.
    pub fn new(image: String, mut tags: Vec<String>) -> Self {
        tags.sort();
        tags.dedup();
        let mut hasher = Sha256::new();
        for tag in &tags {
            hasher.update(tag.as_bytes());
            hasher.update(b"\n");
        }
        let revision = format!("sha256:{}", hex::encode(hasher.finalize()));
        ScannedTags {
            image,
            revision,
            tags,
        }
    }
}

/// Scanned tags by ImageRepository (`namespace`, `name`).
#[derive(Debug)]
pub struct TagStore {
    dir: PathBuf,
    memory: RwLock<HashMap<(String, String), Arc<ScannedTags>>>,
}

impl TagStore {
    /// A store persisting under `<storage>/image-tags`.
    pub fn new(storage: &Path) -> Self {
        TagStore {
            dir: storage.join("image-tags"),
            memory: RwLock::new(HashMap::new()),
        }
    }

    fn file(&self, namespace: &str, name: &str) -> PathBuf {
        self.dir.join(namespace).join(format!("{name}.json"))
    }

    /// Records a scan (memory, then file via a temporary file and rename).
    pub async fn put(
        &self,
        namespace: &str,
        name: &str,
        scan: ScannedTags,
    ) -> Result<Arc<ScannedTags>, Error> {
        let file = self.file(namespace, name);
        let parent = file.parent().unwrap_or(&self.dir).to_path_buf();
        tokio::fs::create_dir_all(&parent)
            .await
            .map_err(Error::io("creating", &parent))?;
        let json = serde_json::to_vec(&scan).map_err(|e| Error::Io {
            action: "serializing",
            path: file.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        let temporary = file.with_extension("json.tmp");
        tokio::fs::write(&temporary, json)
            .await
            .map_err(Error::io("writing", &temporary))?;
        tokio::fs::rename(&temporary, &file)
            .await
            .map_err(Error::io("renaming into", &file))?;
        let scan = Arc::new(scan);
        self.memory_write()
            .insert((namespace.to_owned(), name.to_owned()), scan.clone());
        Ok(scan)
    }

    /// The last scan of the repository, from memory or from its file; `None` when never scanned.
    pub async fn get(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<ScannedTags>>, Error> {
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(scan) = self.memory_read().get(&key) {
            return Ok(Some(scan.clone()));
        }
        let file = self.file(namespace, name);
        let bytes = match tokio::fs::read(&file).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("reading", &file)(e)),
        };
        let Ok(scan) = serde_json::from_slice::<ScannedTags>(&bytes) else {
            // A torn or foreign file is as good as none: the next scan rewrites it.
            tracing::warn!(file = %file.display(), "ignoring unreadable tag file");
            return Ok(None);
        };
        let scan = Arc::new(scan);
        self.memory_write().insert(key, scan.clone());
        Ok(Some(scan))
    }

    /// Forgets a deleted repository.
    pub async fn remove(&self, namespace: &str, name: &str) {
        self.memory_write()
            .remove(&(namespace.to_owned(), name.to_owned()));
        let _ = tokio::fs::remove_file(self.file(namespace, name)).await;
    }

    fn memory_read(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<(String, String), Arc<ScannedTags>>> {
        self.memory
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn memory_write(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<(String, String), Arc<ScannedTags>>> {
        self.memory
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_new_store_reads_what_an_old_one_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let scan = ScannedTags::new(
            "r/app".into(),
            vec!["2.0.0".into(), "1.0.0".into(), "1.0.0".into()],
        );
        assert_eq!(scan.tags, ["1.0.0", "2.0.0"]);
        let same = ScannedTags::new("r/app".into(), vec!["1.0.0".into(), "2.0.0".into()]);
        assert_eq!(
            scan.revision, same.revision,
            "revision independent of scan order"
        );
        TagStore::new(dir.path())
            .put("ns", "app", scan.clone())
            .await
            .unwrap();
        let restarted = TagStore::new(dir.path());
        assert_eq!(
            restarted.get("ns", "app").await.unwrap().as_deref(),
            Some(&scan)
        );
        assert_eq!(restarted.get("ns", "other").await.unwrap(), None);
        restarted.remove("ns", "app").await;
        assert_eq!(
            TagStore::new(dir.path()).get("ns", "app").await.unwrap(),
            None
        );
    }
}
