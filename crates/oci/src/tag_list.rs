//! Listing an image's tags over the OCI distribution API: `GET /v2/<name>/tags/list`,
//! following `Link` pagination, answering 401 challenges with basic credentials or a bearer
//! token from the registry's token endpoint.

use std::time::Duration;

use reqwest::header::LINK;
use reqwest::{Client, Method, StatusCode};
use serde::Deserialize;

use driftless_runtime::url_policy::UrlPolicy;

use crate::body::{error_summary, read_bounded};
use crate::challenge::next_link;
use crate::session::{Access, Request, Session};
use crate::{Error, ImageName, RegistryCredentials};

/// Tags asked for per page unless the request says otherwise.
pub const DEFAULT_PAGE_SIZE: usize = 1000;
/// Pages followed at most (a million tags), so a registry's link loop cannot hang a scan.
const MAX_PAGES: usize = 1000;

#[derive(Deserialize)]
struct TagPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// What to list and how.
#[derive(Debug)]
pub struct TagListRequest<'a> {
    /// The image.
    pub image: &'a ImageName,
    /// Plain HTTP instead of https.
    pub insecure: bool,
    /// Credentials from `spec.secretRef`.
    pub credentials: Option<&'a RegistryCredentials>,
    /// Timeout of each HTTP request.
    pub timeout: Duration,
    /// Tags asked for per page (`n`); [`DEFAULT_PAGE_SIZE`] in the controller.
    pub page_size: usize,
    /// The URL policy every request (pages, token endpoint) must pass.
    pub policy: &'a UrlPolicy,
    /// Bytes of one response body read at most (`--max-registry-response-bytes`).
    pub max_response_bytes: u64,
}

impl<'a> TagListRequest<'a> {
    /// The access part of the request.
    pub fn access(&self) -> Access<'a> {
        Access {
            image: self.image,
            insecure: self.insecure,
            credentials: self.credentials,
            timeout: self.timeout,
            policy: self.policy,
            max_response_bytes: self.max_response_bytes,
        }
    }
}

/// Lists every tag of the image, in the registry's order.
///
/// `Link` pages on another host, port or scheme are followed without credentials (as
/// containerd and Flux do); a 401 from such a page is an error, never answered with the
/// registry's credentials. Every URL passes the policy before it is requested.
pub async fn list_tags(http: &Client, request: &TagListRequest<'_>) -> Result<Vec<String>, Error> {
    let mut session = Session::new(http, request.access(), false)?;
    list_tags_in(&mut session, request.page_size).await
}

/// Lists every tag of the session's repository, `page_size` per page.
pub async fn list_tags_in(
    session: &mut Session<'_>,
    page_size: usize,
) -> Result<Vec<String>, Error> {
    let mut url = session.url(&format!("tags/list?n={}", page_size.max(1)))?;
    let image = session.access().image.clone();
    let max_response_bytes = session.access().max_response_bytes;
    let mut tags = Vec::new();
    for _ in 0..MAX_PAGES {
        let response = session
            .send(Method::GET, &url, &Request::default(), "spec.image")
            .await?;
        let status = response.status();
        if !status.is_success() {
            let summary = error_summary(response, url.as_str()).await;
            let reason = match status {
                StatusCode::NOT_FOUND => {
                    format!("repository '{}' not found: {summary}", image.repository)
                }
                StatusCode::FORBIDDEN => {
                    return Err(Error::Authentication {
                        registry: image.registry.clone(),
                        reason: format!("access denied: {summary}"),
                    });
                }
                _ => summary,
            };
            return Err(Error::Registry {
                url: url.to_string(),
                reason,
            });
        }
        let next = response
            .headers()
            .get(LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let body = read_bounded(response, url.as_str(), max_response_bytes).await?;
        let page: TagPage = serde_json::from_slice(&body).map_err(|e| Error::Registry {
            url: url.to_string(),
            reason: format!("tag list is not JSON: {e}"),
        })?;
        tags.extend(page.tags.unwrap_or_default());
        match next {
            None => return Ok(tags),
            Some(next) => {
                url = url.join(&next).map_err(|e| Error::Registry {
                    url: url.to_string(),
                    reason: format!("Link header '{next}' is not a URL: {e}"),
                })?;
            }
        }
    }
    Err(Error::Registry {
        url: url.to_string(),
        reason: format!("more than {MAX_PAGES} pages of tags"),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn a_name_resolving_into_a_denied_range_is_refused_when_connecting() {
        // `localhost` passes the static check (it is a name); the client's resolver then
        // sees 127.0.0.1 / ::1 and refuses before any connection.
        let denied = ["127.0.0.0/8".to_owned(), "::1/128".to_owned()];
        let policy = Arc::new(UrlPolicy::new(false, &[], &denied).unwrap());
        let http = crate::http_client(policy.clone(), "test").unwrap();
        let image = ImageName::parse("localhost:5999/team/app").unwrap();
        let request = TagListRequest {
            image: &image,
            insecure: true,
            credentials: None,
            timeout: Duration::from_secs(5),
            page_size: 10,
            policy: &policy,
            max_response_bytes: 1024,
        };
        let err = list_tags(&http, &request).await.unwrap_err();
        assert!(
            matches!(err, Error::UrlNotAllowed { resolved: true, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("host 'localhost' resolves to"),
            "{err}"
        );
    }
}
