//! Manifests and blobs: fetching an image manifest by tag or digest (checked against the
//! digest when one is named), downloading a blob to a file with a size bound and its digest
//! verified while streaming, and pushing blobs and manifests.

use std::collections::BTreeMap;
use std::path::Path;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use crate::body::{error_summary, read_bounded};
use crate::session::{Request, Session};
use crate::{Error, media_type};

/// A content descriptor: what a manifest says about its config and layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the content.
    pub media_type: String,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Annotations, if any.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// The descriptor of `content`.
    pub fn of(media_type: &str, content: &[u8]) -> Self {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: sha256_digest(content),
            size: content.len() as u64,
            annotations: BTreeMap::new(),
        }
    }
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, in order.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Manifest annotations (`org.opencontainers.image.*`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A manifest as fetched, with the digest of its bytes.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// `sha256:<hex>` of the manifest bytes.
    pub digest: String,
    /// The parsed manifest.
    pub manifest: ImageManifest,
}

/// `sha256:<hex>` of `content`.
pub fn sha256_digest(content: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(content)))
}

/// Whether `digest` is `sha256:` followed by 64 lowercase hex digits.
pub fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn repository(session: &Session<'_>) -> String {
    session.access().image.canonical()
}

/// Fetches the manifest of `reference` (a tag, or a `sha256:` digest that the bytes must
/// match). An image index, or a manifest without layers, is an error naming it.
pub async fn fetch_manifest(
    session: &mut Session<'_>,
    reference: &str,
) -> Result<FetchedManifest, Error> {
    let by_digest = reference.starts_with("sha256:");
    let what = if by_digest {
        format!("digest '{reference}'")
    } else {
        format!("tag '{reference}'")
    };
    let url = session.url(&format!("manifests/{reference}"))?;
    let mut request = Request::default();
    request.headers.insert(
        ACCEPT,
        HeaderValue::from_static(concat!(
            "application/vnd.oci.image.manifest.v1+json, ",
            "application/vnd.docker.distribution.manifest.v2+json, ",
            "application/vnd.oci.image.index.v1+json, ",
            "application/vnd.docker.distribution.manifest.list.v2+json"
        )),
    );
    let response = session
        .send(Method::GET, &url, &request, "spec.url")
        .await?;
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        let reason = error_summary(response, url.as_str()).await;
        return Err(Error::NotFound {
            what,
            repository: repository(session),
            reason,
        });
    }
    if status == StatusCode::FORBIDDEN {
        let reason = error_summary(response, url.as_str()).await;
        return Err(Error::Authentication {
            registry: session.access().image.registry.clone(),
            reason: format!("access denied: {reason}"),
        });
    }
    if !status.is_success() {
        let reason = error_summary(response, url.as_str()).await;
        return Err(Error::Registry {
            url: url.to_string(),
            reason,
        });
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = read_bounded(response, url.as_str(), session.access().max_response_bytes).await?;
    let digest = sha256_digest(&body);
    let subject = format!("manifest of {what} in {}", repository(session));
    if by_digest && digest != reference {
        return Err(Error::Content {
            what: subject,
            reason: format!("the registry sent content with digest {digest}"),
        });
    }
    if content_type.contains("index") || content_type.contains("manifest.list") {
        return Err(Error::Content {
            what: subject,
            reason: format!("is an image index ({content_type}), not an artifact manifest"),
        });
    }
    let manifest: ImageManifest = serde_json::from_slice(&body).map_err(|e| Error::Content {
        what: subject.clone(),
        reason: format!("not an image manifest: {e}"),
    })?;
    for layer in &manifest.layers {
        if !is_sha256_digest(&layer.digest) {
            return Err(Error::Content {
                what: subject,
                reason: format!("layer digest '{}' is not a sha256 digest", layer.digest),
            });
        }
    }
    Ok(FetchedManifest { digest, manifest })
}

/// Downloads blob `descriptor` into `dest` (created), refusing it when its declared or
/// actual size exceeds `max_bytes` or its content does not match the digest; a partial file
/// is removed.
pub async fn download_blob(
    session: &mut Session<'_>,
    descriptor: &Descriptor,
    dest: &Path,
    max_bytes: u64,
) -> Result<(), Error> {
    let result = download(session, descriptor, dest, max_bytes).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(dest).await;
    }
    result
}

async fn download(
    session: &mut Session<'_>,
    descriptor: &Descriptor,
    dest: &Path,
    max_bytes: u64,
) -> Result<(), Error> {
    let what = format!("layer {}", descriptor.digest);
    let too_large = |size: u64| Error::Content {
        what: what.clone(),
        reason: format!("{size} bytes, over the limit of {max_bytes} bytes (--max-artifact-bytes)"),
    };
    if descriptor.size > max_bytes {
        return Err(too_large(descriptor.size));
    }
    if !is_sha256_digest(&descriptor.digest) {
        return Err(Error::Content {
            what,
            reason: "not a sha256 digest".to_owned(),
        });
    }
    let url = session.url(&format!("blobs/{}", descriptor.digest))?;
    let mut response = session
        .send(Method::GET, &url, &Request::default(), "spec.url")
        .await?;
    if !response.status().is_success() {
        let reason = error_summary(response, url.as_str()).await;
        return Err(Error::Registry {
            url: url.to_string(),
            reason,
        });
    }
    let bound = descriptor.size;
    if response.content_length().is_some_and(|len| len > bound) {
        return Err(too_large(response.content_length().unwrap_or(bound)));
    }
    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(Error::io("creating", dest))?;
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(|e| Error::Registry {
        url: url.to_string(),
        reason: format!("reading the blob: {e}"),
    })? {
        written += chunk.len() as u64;
        if written > bound {
            return Err(Error::Content {
                what,
                reason: format!(
                    "the registry sent more than the {bound} bytes the manifest declares"
                ),
            });
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(Error::io("writing", dest))?;
    }
    file.flush().await.map_err(Error::io("writing", dest))?;
    let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
    if actual != descriptor.digest || written != bound {
        return Err(Error::Content {
            what,
            reason: format!("the registry sent {written} bytes with digest {actual}"),
        });
    }
    Ok(())
}

/// Uploads `content` as a blob unless the repository has it already (monolithic upload:
/// `POST` for a location, then `PUT` with the digest).
pub async fn push_blob(session: &mut Session<'_>, content: &[u8]) -> Result<Descriptor, Error> {
    let digest = sha256_digest(content);
    let head = session.url(&format!("blobs/{digest}"))?;
    let exists = session
        .send(Method::HEAD, &head, &Request::default(), "blob")
        .await?;
    let descriptor = Descriptor::of("", content);
    if exists.status().is_success() {
        return Ok(descriptor);
    }
    let start = session.url("blobs/uploads/")?;
    let response = session
        .send(Method::POST, &start, &Request::default(), "blob upload")
        .await?;
    if response.status() != StatusCode::ACCEPTED {
        let reason = error_summary(response, start.as_str()).await;
        return Err(Error::Registry {
            url: start.to_string(),
            reason: format!("starting the upload: {reason}"),
        });
    }
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::Registry {
            url: start.to_string(),
            reason: "the upload answer has no Location".to_owned(),
        })?;
    let mut upload = start.join(location).map_err(|e| Error::Registry {
        url: start.to_string(),
        reason: format!("upload Location '{location}' is not a URL: {e}"),
    })?;
    upload.query_pairs_mut().append_pair("digest", &digest);
    let mut request = Request {
        body: Some(content.to_vec()),
        ..Request::default()
    };
    request.headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let response = session
        .send(Method::PUT, &upload, &request, "blob upload")
        .await?;
    if response.status() != StatusCode::CREATED {
        let reason = error_summary(response, upload.as_str()).await;
        return Err(Error::Registry {
            url: upload.to_string(),
            reason: format!("finishing the upload: {reason}"),
        });
    }
    Ok(descriptor)
}

/// Pushes `manifest` (OCI image manifest JSON) under `tag`; returns its digest.
pub async fn push_manifest(
    session: &mut Session<'_>,
    tag: &str,
    manifest: &[u8],
) -> Result<String, Error> {
    let url = session.url(&format!("manifests/{tag}"))?;
    let mut request = Request {
        body: Some(manifest.to_vec()),
        ..Request::default()
    };
    request.headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(media_type::OCI_MANIFEST),
    );
    let response = session
        .send(Method::PUT, &url, &request, "manifest")
        .await?;
    if response.status() != StatusCode::CREATED {
        let reason = error_summary(response, url.as_str()).await;
        return Err(Error::Registry {
            url: url.to_string(),
            reason: format!("pushing the manifest: {reason}"),
        });
    }
    Ok(sha256_digest(manifest))
}
