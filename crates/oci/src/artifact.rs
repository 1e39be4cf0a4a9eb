//! Building a Flux artifact for pushing: the config blob and the image manifest carrying
//! the layer and the `org.opencontainers.image.*` annotations, as `flux push artifact`
//! writes them.

use std::collections::BTreeMap;
use std::io::Read;

use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::manifest::{Descriptor, ImageManifest};
use crate::{Error, media_type};

/// What `--source`, `--revision` and the build time say about the artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactMetadata {
    /// `org.opencontainers.image.source`, e.g. a git URL.
    pub source: String,
    /// `org.opencontainers.image.revision`, e.g. `main@sha1:<commit>`.
    pub revision: String,
    /// `org.opencontainers.image.created`, RFC 3339.
    pub created: String,
}

/// The blobs and manifest of one artifact, ready to push.
#[derive(Debug, Clone)]
pub struct ArtifactImage {
    /// The config blob (Flux's config media type, an image config naming the layer).
    pub config: Vec<u8>,
    /// The manifest bytes.
    pub manifest: Vec<u8>,
}

/// The config and manifest of an artifact whose single layer is `layer` (a tar.gz).
pub fn artifact_image(layer: &[u8], metadata: &ArtifactMetadata) -> Result<ArtifactImage, Error> {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(layer)
        .read_to_end(&mut tar)
        .map_err(|e| Error::Content {
            what: "layer".to_owned(),
            reason: format!("not gzip: {e}"),
        })?;
    let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&tar)));
    let config = serde_json::to_vec(&json!({
        "architecture": "",
        "created": metadata.created,
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "config": {}
    }))
    .map_err(|e| Error::Content {
        what: "config".to_owned(),
        reason: e.to_string(),
    })?;
    let annotations = BTreeMap::from([
        (
            media_type::CREATED_ANNOTATION.to_owned(),
            metadata.created.clone(),
        ),
        (
            media_type::REVISION_ANNOTATION.to_owned(),
            metadata.revision.clone(),
        ),
        (
            media_type::SOURCE_ANNOTATION.to_owned(),
            metadata.source.clone(),
        ),
    ]);
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_owned()),
        config: Descriptor::of(media_type::FLUX_CONFIG, &config),
        layers: vec![Descriptor::of(media_type::FLUX_CONTENT, layer)],
        annotations,
    };
    let manifest = serde_json::to_vec(&manifest).map_err(|e| Error::Content {
        what: "manifest".to_owned(),
        reason: e.to_string(),
    })?;
    Ok(ArtifactImage { config, manifest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_carries_flux_media_types_and_annotations() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &[0u8; 1024]).unwrap();
        let layer = gz.finish().unwrap();
        let meta = ArtifactMetadata {
            source: "https://git.example/app".into(),
            revision: "main@sha1:0123".into(),
            created: "2026-01-01T00:00:00Z".into(),
        };
        let image = artifact_image(&layer, &meta).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&image.manifest).unwrap();
        assert_eq!(manifest["mediaType"], media_type::OCI_MANIFEST);
        assert_eq!(manifest["config"]["mediaType"], media_type::FLUX_CONFIG);
        assert_eq!(manifest["layers"][0]["mediaType"], media_type::FLUX_CONTENT);
        assert_eq!(
            manifest["layers"][0]["digest"],
            crate::manifest::sha256_digest(&layer)
        );
        let a = &manifest["annotations"];
        assert_eq!(
            a["org.opencontainers.image.source"],
            "https://git.example/app"
        );
        assert_eq!(a["org.opencontainers.image.revision"], "main@sha1:0123");
        assert_eq!(
            a["org.opencontainers.image.created"],
            "2026-01-01T00:00:00Z"
        );
        // Same input, same bytes.
        assert_eq!(
            artifact_image(&layer, &meta).unwrap().manifest,
            image.manifest
        );
    }
}
