//! Media types and annotations of Flux's OCI artifacts (`flux push artifact`), so artifacts
//! pushed by Flux or by `driftless push artifact` work with both.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker image manifest, schema 2 (accepted when pulling).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The config blob of a Flux artifact.
pub const FLUX_CONFIG: &str = "application/vnd.cncf.flux.config.v1+json";
/// The content layer of a Flux artifact: a gzip-compressed tar of the pushed directory.
pub const FLUX_CONTENT: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";

/// Annotation: where the artifact's files come from (a git URL).
pub const SOURCE_ANNOTATION: &str = "org.opencontainers.image.source";
/// Annotation: the source revision (`<branch>@sha1:<commit>`).
pub const REVISION_ANNOTATION: &str = "org.opencontainers.image.revision";
/// Annotation: when the artifact was built (RFC 3339).
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";
