//! The OCI distribution API, as far as scanning needs it: image names, credentials from
//! docker config secrets, auth challenges, paginated tag lists, exclusion lists.

use std::sync::Arc;

use driftless_runtime::url_policy::UrlPolicy;
use regex::Regex;

pub use driftless_oci::{
    Challenge, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_PAGE_SIZE, ImageName, RegistryCredentials,
    TagListRequest, from_docker_config, next_link, parse_challenge, read_bounded,
};

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

/// An HTTP client for registries that enforces `policy` (see [`driftless_oci::http_client`]).
pub fn http_client(policy: Arc<UrlPolicy>) -> Result<reqwest::Client, Error> {
    Ok(driftless_oci::http_client(
        policy,
        "driftless-image-controller",
    )?)
}

/// Lists every tag of the image (see [`driftless_oci::list_tags`]).
pub async fn list_tags(
    http: &reqwest::Client,
    request: &TagListRequest<'_>,
) -> Result<Vec<String>, Error> {
    Ok(driftless_oci::list_tags(http, request).await?)
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
