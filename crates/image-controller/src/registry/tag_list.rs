//! Listing an image's tags over the OCI distribution API: `GET /v2/<name>/tags/list`,
//! following `Link` pagination, answering 401 challenges with basic credentials or a bearer
//! token from the registry's token endpoint.

use std::time::Duration;

use base64::Engine;
use reqwest::header::{AUTHORIZATION, LINK, WWW_AUTHENTICATE};
use reqwest::{Client, StatusCode};
use serde::Deserialize;

use driftless_runtime::url_policy::UrlPolicy;

use super::body::{error_summary, read_bounded};
use super::challenge::{Challenge, next_link, parse_challenge};
use super::guard::{refusal_in, target_of};
use super::{ImageName, RegistryCredentials};
use crate::Error;

/// Tags asked for per page unless the request says otherwise.
pub const DEFAULT_PAGE_SIZE: usize = 1000;
/// Pages followed at most (a million tags), so a registry's link loop cannot hang a scan.
const MAX_PAGES: usize = 1000;

#[derive(Deserialize)]
struct TagPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
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

/// Scheme, host and port: credentials are only ever sent to the registry's own origin.
type Origin = (String, Option<String>, Option<u16>);

fn origin(url: &reqwest::Url) -> Origin {
    (
        url.scheme().to_owned(),
        url.host_str().map(str::to_ascii_lowercase),
        url.port_or_known_default(),
    )
}

/// Lists every tag of the image, in the registry's order.
///
/// `Link` pages on another host, port or scheme are followed without credentials (as
/// containerd and Flux do); a 401 from such a page is an error, never answered with the
/// registry's credentials. Every URL passes the policy before it is requested.
pub async fn list_tags(http: &Client, request: &TagListRequest<'_>) -> Result<Vec<String>, Error> {
    let base = request.image.api_base(request.insecure);
    let first = format!(
        "{base}/v2/{}/tags/list?n={}",
        request.image.repository,
        request.page_size.max(1)
    );
    let mut url = parse_url(&first)?;
    let home = origin(&url);
    let mut authorization: Option<String> = None;
    let mut tags = Vec::new();
    for _ in 0..MAX_PAGES {
        check(request, &url, "spec.image")?;
        let same_origin = origin(&url) == home;
        let credentials = authorization.as_deref().filter(|_| same_origin);
        let mut response = get(http, request, &url, credentials).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            if !same_origin {
                return Err(Error::Authentication {
                    registry: request.image.registry.clone(),
                    reason: format!(
                        "a tag page on another host ({}) asks for credentials; they are only sent to {}",
                        host_port(&url),
                        request.image.registry
                    ),
                });
            }
            authorization = Some(authorize(http, request, url.as_str(), &response).await?);
            response = get(http, request, &url, authorization.as_deref()).await?;
            if response.status() == StatusCode::UNAUTHORIZED {
                return Err(Error::Authentication {
                    registry: request.image.registry.clone(),
                    reason: "the registry refused the credentials".to_owned(),
                });
            }
        }
        let status = response.status();
        if !status.is_success() {
            let summary = error_summary(response, url.as_str()).await;
            let reason = match status {
                StatusCode::NOT_FOUND => format!(
                    "repository '{}' not found: {summary}",
                    request.image.repository,
                ),
                StatusCode::FORBIDDEN => {
                    return Err(Error::Authentication {
                        registry: request.image.registry.clone(),
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
        let body = read_bounded(response, url.as_str(), request.max_response_bytes).await?;
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

fn parse_url(url: &str) -> Result<reqwest::Url, Error> {
    reqwest::Url::parse(url).map_err(|e| Error::InvalidImage {
        image: url.to_owned(),
        reason: format!("not a URL: {e}"),
    })
}

fn host_port(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => String::new(),
    }
}

/// The URL passes the policy: https (http only when insecure), allowed host, no denied
/// address literal. Names are checked again by the client's resolver when connecting.
fn check(request: &TagListRequest<'_>, url: &reqwest::Url, field: &str) -> Result<(), Error> {
    let target = target_of(url)?;
    request
        .policy
        .check_registry_target(field, url.as_str(), &target, request.insecure)?;
    Ok(())
}

async fn get(
    http: &Client,
    request: &TagListRequest<'_>,
    url: &reqwest::Url,
    authorization: Option<&str>,
) -> Result<reqwest::Response, Error> {
    let mut builder = http.get(url.clone()).timeout(request.timeout);
    if let Some(value) = authorization {
        builder = builder.header(AUTHORIZATION, value);
    }
    builder
        .send()
        .await
        .map_err(|e| request_error(url.as_str(), &e))
}

/// The `Authorization` value answering the challenge of a 401 `response`.
async fn authorize(
    http: &Client,
    request: &TagListRequest<'_>,
    url: &str,
    response: &reqwest::Response,
) -> Result<String, Error> {
    let registry = &request.image.registry;
    let header = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let challenge = parse_challenge(header).ok_or_else(|| Error::Registry {
        url: url.to_owned(),
        reason: "401 with an unsupported WWW-Authenticate challenge".to_owned(),
    })?;
    match challenge {
        Challenge::Basic => {
            let credentials = request.credentials.ok_or_else(|| Error::Authentication {
                registry: registry.clone(),
                reason: "the registry asks for credentials; set spec.secretRef".to_owned(),
            })?;
            Ok(basic(credentials))
        }
        Challenge::Bearer {
            realm,
            service,
            scope,
        } => {
            let scope =
                scope.unwrap_or_else(|| format!("repository:{}:pull", request.image.repository));
            let mut query = vec![("scope", scope)];
            if let Some(service) = service {
                query.push(("service", service));
            }
            let token_url =
                reqwest::Url::parse_with_params(&realm, &query).map_err(|e| Error::Registry {
                    url: realm.clone(),
                    reason: format!("token realm is not a URL: {e}"),
                })?;
            // The realm comes from the registry: it passes the same policy (and, for an
            // https registry, must be https: the credentials go there).
            check(request, &token_url, "token realm")?;
            let mut builder = http.get(token_url).timeout(request.timeout);
            if let Some(credentials) = request.credentials {
                builder = builder.header(AUTHORIZATION, basic(credentials));
            }
            let answer = builder
                .send()
                .await
                .map_err(|e| request_error(&realm, &e))?;
            let status = answer.status();
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(Error::Authentication {
                    registry: registry.clone(),
                    reason: format!("token endpoint {realm} answered {status}"),
                });
            }
            if !status.is_success() {
                return Err(Error::Registry {
                    url: realm,
                    reason: format!("token endpoint answered {status}"),
                });
            }
            let body = read_bounded(answer, &realm, request.max_response_bytes).await?;
            let token: TokenAnswer =
                serde_json::from_slice(&body).map_err(|e| Error::Registry {
                    url: realm.clone(),
                    reason: format!("token answer is not JSON: {e}"),
                })?;
            let token = token
                .token
                .or(token.access_token)
                .ok_or_else(|| Error::Registry {
                    url: realm.clone(),
                    reason: "token answer has neither 'token' nor 'access_token'".to_owned(),
                })?;
            Ok(format!("Bearer {token}"))
        }
    }
}

fn basic(credentials: &RegistryCredentials) -> String {
    let pair = format!("{}:{}", credentials.username, credentials.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn request_error(url: &str, error: &reqwest::Error) -> Error {
    if let Some(refusal) = refusal_in(error) {
        return Error::from_url_refusal(refusal);
    }
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::Registry {
        url: url.to_owned(),
        reason,
    }
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
        let http = super::super::http_client(policy.clone()).unwrap();
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
        assert_eq!(err.reason(), "URLNotAllowed");
        assert!(
            err.to_string().contains("host 'localhost' resolves to"),
            "{err}"
        );
    }
}
