//! The OCI distribution API, as far as scanning needs it: image names, credentials from
//! docker config secrets, auth challenges, paginated tag lists, exclusion lists.

mod body;
mod challenge;
mod credentials;
mod guard;
mod image_name;
mod tag_list;

use std::sync::Arc;

use driftless_runtime::url_policy::UrlPolicy;
use regex::Regex;

pub use body::read_bounded;
pub use challenge::{Challenge, next_link, parse_challenge};
pub use credentials::{RegistryCredentials, from_docker_config};
pub use image_name::ImageName;
pub use tag_list::{DEFAULT_PAGE_SIZE, TagListRequest, list_tags};

use crate::Error;

/// Compiled `spec.exclusionList`.
#[derive(Clone, Debug)]
pub struct ExclusionList(Vec<Regex>);

impl ExclusionList {
    /// Compiles the expressions; errors name the index in `spec.exclusionList`.
    pub fn new(patterns: &[String]) -> Result<Self, Error> {
        patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Regex::new(p).map_err(|e| Error::InvalidRegex {
                    field: format!("spec.exclusionList[{i}]"),
                    pattern: p.clone(),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()
            .map(ExclusionList)
    }

    /// Whether `tag` matches none of the expressions.
    pub fn keeps(&self, tag: &str) -> bool {
        !self.0.iter().any(|r| r.is_match(tag))
    }
}

/// Default of `--max-registry-response-bytes`: 8 MiB, room for a million-tag page.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

/// An HTTP client for registries (ring as the TLS provider, the platform's roots) that
/// enforces `policy` when resolving hosts and following redirects. With denied ranges,
/// proxies from the environment are not used (the proxy would resolve the host, unchecked).
pub fn http_client(policy: Arc<UrlPolicy>) -> Result<reqwest::Client, Error> {
    // Installed once per process; a second install fails harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!(
            "driftless-image-controller/",
            env!("CARGO_PKG_VERSION")
        ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusion_list_filters_and_names_bad_entries() {
        let list = ExclusionList::new(&[r"^.*\.sig$".into(), "^dev-".into()]).unwrap();
        let tags = ["1.0.0", "sha256-abc.sig", "dev-1", "2.0.0"];
        let kept: Vec<_> = tags.into_iter().filter(|t| list.keeps(t)).collect();
        assert_eq!(kept, ["1.0.0", "2.0.0"]);
        let err = ExclusionList::new(&["ok".into(), "(".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("spec.exclusionList[1]"), "{err}");
    }
}
