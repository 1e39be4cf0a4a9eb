//! The OCI distribution API as Driftless needs it, shared by the image controller (tag
//! scanning), the source controller (OCIRepository pulls) and `driftless push artifact`:
//! image names, credentials from docker config secrets, auth challenges, an HTTP client
//! that enforces the URL policy on every host and redirect, a [`Session`] that answers
//! challenges and keeps credentials on the registry's origin, bounded bodies, paginated tag
//! lists, manifests and blobs, and Flux's artifact format.

mod artifact;
mod body;
mod challenge;
mod credentials;
mod error;
mod guard;
mod image_name;
mod manifest;
pub mod media_type;
mod session;
mod tag_list;

use std::sync::Arc;

use driftless_runtime::url_policy::UrlPolicy;

pub use artifact::{ArtifactImage, ArtifactMetadata, artifact_image};
pub use body::read_bounded;
pub use challenge::{Challenge, next_link, parse_challenge};
pub use credentials::{RegistryCredentials, from_docker_config};
pub use error::Error;
pub use image_name::ImageName;
pub use manifest::{
    Descriptor, FetchedManifest, ImageManifest, download_blob, fetch_manifest, is_sha256_digest,
    push_blob, push_manifest, sha256_digest,
};
pub use session::{Access, Request, Session};
pub use tag_list::{DEFAULT_PAGE_SIZE, TagListRequest, list_tags, list_tags_in};

/// Default of `--max-registry-response-bytes`: 8 MiB, room for a million-tag page.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

/// An HTTP client for registries (ring as the TLS provider, the platform's roots) that
/// enforces `policy` when resolving hosts and following redirects. With denied ranges,
/// proxies from the environment are not used (the proxy would resolve the host, unchecked).
/// `agent` names the component in the User-Agent.
pub fn http_client(policy: Arc<UrlPolicy>, agent: &str) -> Result<reqwest::Client, Error> {
    // Installed once per process; a second install fails harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(format!("{agent}/{}", env!("CARGO_PKG_VERSION")))
        .redirect(guard::redirect_policy(policy.clone()));
    if policy.guards_addresses() {
        builder = builder.no_proxy();
    }
    builder
        .dns_resolver(Arc::new(guard::PolicyResolver::new(policy)))
        .build()
        .map_err(|e| Error::Registry {
            url: String::new(),
            reason: format!("building the HTTP client: {e}"),
        })
}
