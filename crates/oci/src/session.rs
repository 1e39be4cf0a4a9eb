//! One conversation with one repository of a registry: every URL passes the URL policy
//! before it is requested, a 401 is answered once with basic credentials or a bearer token
//! from the registry's token endpoint, and credentials only ever go to the registry's own
//! origin (scheme, host and port): a `Link` page, redirect or upload location elsewhere
//! gets none, and a 401 from there is an error.

use std::time::Duration;

use base64::Engine;
use reqwest::header::{AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Client, Method, StatusCode};
use serde::Deserialize;

use driftless_runtime::url_policy::UrlPolicy;

use crate::body::read_bounded;
use crate::challenge::{Challenge, parse_challenge};
use crate::guard::{refusal_in, target_of};
use crate::{Error, ImageName, RegistryCredentials};

/// Where and how to reach one repository.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// The repository.
    pub image: &'a ImageName,
    /// Plain HTTP instead of https.
    pub insecure: bool,
    /// Credentials (from a docker config secret), if any.
    pub credentials: Option<&'a RegistryCredentials>,
    /// Timeout of each HTTP request.
    pub timeout: Duration,
    /// The URL policy every request (pages, token endpoint, uploads) must pass.
    pub policy: &'a UrlPolicy,
    /// Bytes of one JSON answer (tag page, manifest, token) read at most.
    pub max_response_bytes: u64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
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

/// A request to send through a [`Session`].
#[derive(Debug, Default)]
pub struct Request {
    /// Extra headers.
    pub headers: HeaderMap,
    /// Body (sent again if the first attempt is answered with a challenge).
    pub body: Option<Vec<u8>>,
}

/// A conversation with one repository, keeping the authorization it earned.
pub struct Session<'a> {
    http: &'a Client,
    access: Access<'a>,
    /// `pull` or `pull,push`: the scope asked of a token endpoint that names none.
    actions: &'static str,
    home: Origin,
    authorization: Option<String>,
}

impl<'a> Session<'a> {
    /// A session for pulling (`push: false`) or pushing.
    pub fn new(http: &'a Client, access: Access<'a>, push: bool) -> Result<Self, Error> {
        let base = parse_url(&access.image.api_base(access.insecure))?;
        Ok(Session {
            http,
            access,
            actions: if push { "pull,push" } else { "pull" },
            home: origin(&base),
            authorization: None,
        })
    }

    /// The access this session was opened with.
    pub fn access(&self) -> &Access<'a> {
        &self.access
    }

    /// `<api base>/v2/<repository>/<rest>`.
    pub fn url(&self, rest: &str) -> Result<reqwest::Url, Error> {
        parse_url(&format!(
            "{}/v2/{}/{rest}",
            self.access.image.api_base(self.access.insecure),
            self.access.image.repository
        ))
    }

    /// Sends `request` to `url` (checked by the policy first), answering one 401 challenge
    /// when `url` is on the registry's origin. `field` names the URL in refusals.
    pub async fn send(
        &mut self,
        method: Method,
        url: &reqwest::Url,
        request: &Request,
        field: &str,
    ) -> Result<reqwest::Response, Error> {
        self.check(url, field)?;
        let same_origin = origin(url) == self.home;
        let credentials = self.authorization.clone().filter(|_| same_origin);
        let response = self
            .attempt(method.clone(), url, request, credentials.as_deref())
            .await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        if !same_origin {
            return Err(Error::Authentication {
                registry: self.access.image.registry.clone(),
                reason: format!(
                    "{} asks for credentials; they are only sent to {}",
                    host_port(url),
                    self.access.image.registry
                ),
            });
        }
        let authorization = self.authorize(url.as_str(), &response).await?;
        self.authorization = Some(authorization.clone());
        let response = self
            .attempt(method, url, request, Some(&authorization))
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(Error::Authentication {
                registry: self.access.image.registry.clone(),
                reason: "the registry refused the credentials".to_owned(),
            });
        }
        Ok(response)
    }

    /// Whether `url` is on the registry's own origin.
    pub fn same_origin(&self, url: &reqwest::Url) -> bool {
        origin(url) == self.home
    }

    async fn attempt(
        &self,
        method: Method,
        url: &reqwest::Url,
        request: &Request,
        authorization: Option<&str>,
    ) -> Result<reqwest::Response, Error> {
        let mut builder = self
            .http
            .request(method, url.clone())
            .timeout(self.access.timeout)
            .headers(request.headers.clone());
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        builder
            .send()
            .await
            .map_err(|e| request_error(url.as_str(), &e))
    }

    /// The URL passes the policy: https (http only when insecure), allowed host, no denied
    /// address literal. Names are checked again by the client's resolver when connecting.
    fn check(&self, url: &reqwest::Url, field: &str) -> Result<(), Error> {
        let target = target_of(url)?;
        self.access.policy.check_registry_target(
            field,
            url.as_str(),
            &target,
            self.access.insecure,
        )?;
        Ok(())
    }

    /// The `Authorization` value answering the challenge of a 401 `response`.
    async fn authorize(&self, url: &str, response: &reqwest::Response) -> Result<String, Error> {
        let registry = &self.access.image.registry;
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
                let credentials = self
                    .access
                    .credentials
                    .ok_or_else(|| Error::Authentication {
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
                let scope = scope.unwrap_or_else(|| {
                    format!(
                        "repository:{}:{}",
                        self.access.image.repository, self.actions
                    )
                });
                let mut query = vec![("scope", scope)];
                if let Some(service) = service {
                    query.push(("service", service));
                }
                let token_url = reqwest::Url::parse_with_params(&realm, &query).map_err(|e| {
                    Error::Registry {
                        url: realm.clone(),
                        reason: format!("token realm is not a URL: {e}"),
                    }
                })?;
                // The realm comes from the registry: it passes the same policy (and, for an
                // https registry, must be https: the credentials go there).
                self.check(&token_url, "token realm")?;
                let mut builder = self.http.get(token_url).timeout(self.access.timeout);
                if let Some(credentials) = self.access.credentials {
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
                let body = read_bounded(answer, &realm, self.access.max_response_bytes).await?;
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
}

/// Parses a URL built from the registry's name.
pub(crate) fn parse_url(url: &str) -> Result<reqwest::Url, Error> {
    reqwest::Url::parse(url).map_err(|e| Error::InvalidImage {
        field: "registry URL".to_owned(),
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

fn basic(credentials: &RegistryCredentials) -> String {
    let pair = format!("{}:{}", credentials.username, credentials.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// The error for a failed request to `url`: the policy's refusal when the resolver refused
/// the host, else the transport's message with its causes.
pub(crate) fn request_error(url: &str, error: &reqwest::Error) -> Error {
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
