//! Listing an image's tags over the OCI distribution API: `GET /v2/<name>/tags/list`,
//! following `Link` pagination, answering 401 challenges with basic credentials or a bearer
//! token from the registry's token endpoint.

use std::time::Duration;

use base64::Engine;
use reqwest::header::{AUTHORIZATION, LINK, WWW_AUTHENTICATE};
use reqwest::{Client, StatusCode};
use serde::Deserialize;

use super::challenge::{Challenge, next_link, parse_challenge};
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
}

/// Lists every tag of the image, in the registry's order.
pub async fn list_tags(http: &Client, request: &TagListRequest<'_>) -> Result<Vec<String>, Error> {
    let base = request.image.api_base(request.insecure);
    let mut url = format!(
        "{base}/v2/{}/tags/list?n={}",
        request.image.repository,
        request.page_size.max(1)
    );
    let mut authorization: Option<String> = None;
    let mut tags = Vec::new();
    for _ in 0..MAX_PAGES {
        let mut response = get(http, &url, authorization.as_deref(), request.timeout).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            authorization = Some(authorize(http, request, &url, &response).await?);
            response = get(http, &url, authorization.as_deref(), request.timeout).await?;
            if response.status() == StatusCode::UNAUTHORIZED {
                return Err(Error::Authentication {
                    registry: request.image.registry.clone(),
                    reason: "the registry refused the credentials".to_owned(),
                });
            }
        }
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let reason = match status {
                StatusCode::NOT_FOUND => format!(
                    "repository '{}' not found: {}",
                    request.image.repository,
                    truncate(&body)
                ),
                StatusCode::FORBIDDEN => {
                    return Err(Error::Authentication {
                        registry: request.image.registry.clone(),
                        reason: format!("access denied: {}", truncate(&body)),
                    });
                }
                _ => format!("HTTP {status}: {}", truncate(&body)),
            };
            return Err(Error::Registry { url, reason });
        }
        let next = response
            .headers()
            .get(LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let body = response
            .bytes()
            .await
            .map_err(|e| request_error(&url, &e))?;
        let page: TagPage = serde_json::from_slice(&body).map_err(|e| Error::Registry {
            url: url.clone(),
            reason: format!("tag list is not JSON: {e}"),
        })?;
        tags.extend(page.tags.unwrap_or_default());
        match next {
            None => return Ok(tags),
            Some(next) if next.starts_with("http://") || next.starts_with("https://") => url = next,
            Some(next) => url = format!("{base}/{}", next.trim_start_matches('/')),
        }
    }
    Err(Error::Registry {
        url,
        reason: format!("more than {MAX_PAGES} pages of tags"),
    })
}

async fn get(
    http: &Client,
    url: &str,
    authorization: Option<&str>,
    timeout: Duration,
) -> Result<reqwest::Response, Error> {
    let mut builder = http.get(url).timeout(timeout);
    if let Some(value) = authorization {
        builder = builder.header(AUTHORIZATION, value);
    }
    builder.send().await.map_err(|e| request_error(url, &e))
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
        reason: format!("401 with an unsupported WWW-Authenticate challenge '{header}'"),
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
            let body = answer
                .bytes()
                .await
                .map_err(|e| request_error(&realm, &e))?;
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

fn truncate(body: &str) -> &str {
    let mut end = body.len().min(256);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].trim()
}
