//! An OCI registry on loopback (Debian's `docker-registry`, the CNCF
//! distribution registry) and a client that pushes tiny images over the
//! plain registry HTTP API.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::error::{Error, Result};
use crate::process::{ManagedProcess, free_port};

/// Media type of the manifests pushed by [`Registry::push_image`].
const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// A registry with filesystem storage in a temporary directory, listening on
/// a free loopback port; stopped and removed on drop.
#[derive(Debug)]
pub struct Registry {
    // Fields drop in order: the process stops before its directory goes.
    _process: ManagedProcess,
    port: u16,
    http: reqwest::Client,
    dir: TempDir,
}

/// What the registry answers on `/v2/<name>/tags/list`.
#[derive(Debug, Deserialize)]
struct TagList {
    tags: Option<Vec<String>>,
}

impl Registry {
    /// Starts `docker-registry serve` with its own configuration file and
    /// waits until it accepts connections.
    pub fn start() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("driftless-registry-")
            .tempdir()
            .map_err(Error::io(
                "create a temporary directory in",
                std::env::temp_dir(),
            ))?;
        let port = free_port()?;
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, registry_config(dir.path(), port))
            .map_err(Error::io("write", &config_path))?;
        let mut command = Command::new("docker-registry");
        command.arg("serve").arg(&config_path);
        let mut process =
            ManagedProcess::spawn("docker-registry", command, &dir.path().join("registry.log"))?;
        process.wait_for_port(port)?;
        // reqwest is built without a default TLS provider; plain HTTP needs
        // none, but the builder wants one installed. Already installed is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .build()
            .map_err(|error| Error::Registry {
                url: format!("http://127.0.0.1:{port}"),
                detail: format!("build the HTTP client: {error}"),
            })?;
        Ok(Self {
            _process: process,
            port,
            http,
            dir,
        })
    }

    /// `127.0.0.1:<port>`, the host part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The directory holding configuration, storage and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Pushes a tiny image (one layer holding a file `tag` with the tag's
    /// name, an OCI config, a manifest) as `repository:tag`; returns the
    /// manifest digest (`sha256:<hex>`). Each tag gets its own digest.
    pub async fn push_image(&self, repository: &str, tag: &str) -> Result<String> {
        let layer = single_file_tar("tag", tag.as_bytes())?;
        let layer_digest = self.push_blob(repository, &layer).await?;
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }))
        .map_err(|error| self.document_error(repository, tag, &error))?;
        let config_digest = self.push_blob(repository, &config).await?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest,
                "size": layer.len(),
            }],
        }))
        .map_err(|error| self.document_error(repository, tag, &error))?;
        let url = self.url(&format!("/v2/{repository}/manifests/{tag}"));
        let response = self
            .http
            .put(&url)
            .header(reqwest::header::CONTENT_TYPE, MANIFEST_MEDIA_TYPE)
            .body(manifest.clone())
            .send()
            .await
            .map_err(|error| request_error(&url, &error))?;
        expect_status(&url, response, StatusCode::CREATED).await?;
        Ok(sha256_digest(&manifest))
    }

    /// Pushes an artifact whose single layer is `layer` (any bytes, e.g. a hand-made
    /// tar.gz) with the given media types and manifest annotations, written with this
    /// harness's own client (not Driftless's); returns the manifest digest.
    pub async fn push_artifact(
        &self,
        repository: &str,
        tag: &str,
        layer: &[u8],
        layer_media_type: &str,
        config_media_type: &str,
        annotations: &serde_json::Value,
    ) -> Result<String> {
        let layer_digest = self.push_blob(repository, layer).await?;
        let config = b"{}".to_vec();
        let config_digest = self.push_blob(repository, &config).await?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": config_media_type, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": layer_media_type, "digest": layer_digest, "size": layer.len()}],
            "annotations": annotations,
        }))
        .map_err(|error| self.document_error(repository, tag, &error))?;
        let url = self.url(&format!("/v2/{repository}/manifests/{tag}"));
        let response = self
            .http
            .put(&url)
            .header(reqwest::header::CONTENT_TYPE, MANIFEST_MEDIA_TYPE)
            .body(manifest.clone())
            .send()
            .await
            .map_err(|error| request_error(&url, &error))?;
        expect_status(&url, response, StatusCode::CREATED).await?;
        Ok(sha256_digest(&manifest))
    }

    /// The manifest of `repository:reference` as JSON.
    pub async fn manifest(&self, repository: &str, reference: &str) -> Result<serde_json::Value> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let response = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, MANIFEST_MEDIA_TYPE)
            .send()
            .await
            .map_err(|error| request_error(&url, &error))?;
        let response = expect_status(&url, response, StatusCode::OK).await?;
        let body = response
            .bytes()
            .await
            .map_err(|error| request_error(&url, &error))?;
        serde_json::from_slice(&body).map_err(|error| Error::Registry {
            url,
            detail: format!("manifest: {error}"),
        })
    }

    /// The blob `digest` of `repository`.
    pub async fn blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|error| request_error(&url, &error))?;
        let response = expect_status(&url, response, StatusCode::OK).await?;
        Ok(response
            .bytes()
            .await
            .map_err(|error| request_error(&url, &error))?
            .to_vec())
    }

    /// The tags of `repository`, as listed by `/v2/<repository>/tags/list`.
    pub async fn tags(&self, repository: &str) -> Result<Vec<String>> {
        let url = self.url(&format!("/v2/{repository}/tags/list"));
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|error| request_error(&url, &error))?;
        let response = expect_status(&url, response, StatusCode::OK).await?;
        let body = response
            .bytes()
            .await
            .map_err(|error| request_error(&url, &error))?;
        let list: TagList = serde_json::from_slice(&body).map_err(|error| Error::Registry {
            url: url.clone(),
            detail: format!("tag list: {error}"),
        })?;
        Ok(list.tags.unwrap_or_default())
    }

    /// The digest the registry reports for `repository:tag` (HEAD on the manifest).
    pub async fn manifest_digest(&self, repository: &str, tag: &str) -> Result<String> {
        let url = self.url(&format!("/v2/{repository}/manifests/{tag}"));
        let response = self
            .http
            .head(&url)
            .header(reqwest::header::ACCEPT, MANIFEST_MEDIA_TYPE)
            .send()
            .await
            .map_err(|error| request_error(&url, &error))?;
        let response = expect_status(&url, response, StatusCode::OK).await?;
        response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| Error::Registry {
                url,
                detail: String::from("no Docker-Content-Digest header"),
            })
    }

    /// Uploads `content` as a blob of `repository` (monolithic upload: POST
    /// then PUT with the digest), unless the registry has it already.
    async fn push_blob(&self, repository: &str, content: &[u8]) -> Result<String> {
        let digest = sha256_digest(content);
        let blob_url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let existing = self
            .http
            .head(&blob_url)
            .send()
            .await
            .map_err(|error| request_error(&blob_url, &error))?;
        if existing.status() == StatusCode::OK {
            return Ok(digest);
        }
        let start_url = self.url(&format!("/v2/{repository}/blobs/uploads/"));
        let started = self
            .http
            .post(&start_url)
            .send()
            .await
            .map_err(|error| request_error(&start_url, &error))?;
        let started = expect_status(&start_url, started, StatusCode::ACCEPTED).await?;
        let location = started
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| Error::Registry {
                url: start_url.clone(),
                detail: String::from("no Location header"),
            })?;
        let upload_url = if location.starts_with("http") {
            location.to_owned()
        } else {
            self.url(location)
        };
        let separator = if upload_url.contains('?') { '&' } else { '?' };
        let put_url = format!("{upload_url}{separator}digest={digest}");
        let response = self
            .http
            .put(&put_url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(content.to_vec())
            .send()
            .await
            .map_err(|error| request_error(&put_url, &error))?;
        expect_status(&put_url, response, StatusCode::CREATED).await?;
        Ok(digest)
    }

    fn document_error(&self, repository: &str, tag: &str, error: &serde_json::Error) -> Error {
        Error::Document {
            document: format!("image {}/{repository}:{tag}", self.host()),
            detail: error.to_string(),
        }
    }
}

fn registry_config(dir: &Path, port: u16) -> String {
    format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
        dir.join("storage").display()
    )
}

fn sha256_digest(content: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(content)))
}

/// An uncompressed tar with one regular file, reproducible (mtime 0).
fn single_file_tar(name: &str, content: &[u8]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    let tar_error = |error: std::io::Error| Error::Document {
        document: format!("layer tar for {name}"),
        detail: error.to_string(),
    };
    builder
        .append_data(&mut header, name, content)
        .map_err(tar_error)?;
    builder.into_inner().map_err(tar_error)
}

fn request_error(url: &str, error: &reqwest::Error) -> Error {
    Error::Registry {
        url: url.to_owned(),
        detail: error.to_string(),
    }
}

async fn expect_status(
    url: &str,
    response: reqwest::Response,
    expected: StatusCode,
) -> Result<reqwest::Response> {
    if response.status() == expected {
        return Ok(response);
    }
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    Err(Error::Registry {
        url: url.to_owned(),
        detail: format!("expected {expected}, got {status}: {body}"),
    })
}
