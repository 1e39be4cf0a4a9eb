//! The URL policy inside the registry HTTP client: a resolver that refuses, at connect
//! time, any host resolving into `--denied-cidrs` (so a DNS answer cannot change between
//! the check and the connection), and a redirect policy that checks every hop.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use driftless_runtime::RuntimeError;
use driftless_runtime::url_policy::{Host, Scheme, Target, UrlPolicy};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Redirects followed at most per request.
const MAX_REDIRECTS: usize = 10;

/// Resolves with the system resolver and refuses names with an address in a denied range.
pub struct PolicyResolver {
    policy: Arc<UrlPolicy>,
}

impl PolicyResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<UrlPolicy>) -> Self {
        PolicyResolver { policy }
    }
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            policy.check_resolved("registry host", &host, &host, &addrs)?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok::<Addrs, Box<dyn std::error::Error + Send + Sync>>(addrs)
        })
    }
}

/// Follows at most [`MAX_REDIRECTS`] redirects, never from https to http, and only to
/// targets the policy allows. reqwest itself drops `Authorization` when a redirect leaves
/// the host, port or scheme.
pub fn redirect_policy(policy: Arc<UrlPolicy>) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let downgrade = attempt.url().scheme() == "http"
            && attempt
                .previous()
                .last()
                .is_some_and(|p| p.scheme() == "https");
        if downgrade {
            let to = attempt.url().to_string();
            return attempt.error(format!("redirect from https to plain http ({to}) refused"));
        }
        let checked = target_of(attempt.url()).and_then(|target| {
            policy.check_registry_target("redirect", attempt.url().as_str(), &target, true)
        });
        match checked {
            Ok(()) => attempt.follow(),
            Err(refusal) => attempt.error(refusal),
        }
    })
}

/// Scheme, host and port of a URL parsed by reqwest (the parser that connects).
pub fn target_of(url: &reqwest::Url) -> Result<Target, RuntimeError> {
    let refuse = |rule: &str| RuntimeError::UrlNotAllowed {
        field: "registry URL".to_owned(),
        url: driftless_runtime::url_policy::redact_credentials(url.as_str()),
        rule: rule.to_owned(),
        resolved: false,
    };
    let scheme = match url.scheme() {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        _ => return Err(refuse("only https and http reach registries")),
    };
    let host = url.host_str().ok_or_else(|| refuse("no host"))?;
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => Host::Ip(v6.parse().map_err(|_| refuse("bad IPv6 host"))?),
        None => match host.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(host.to_ascii_lowercase()),
        },
    };
    Ok(Target {
        scheme,
        host: Some(host),
        port: url.port_or_known_default().unwrap_or(scheme.default_port()),
    })
}

/// The policy refusal somewhere in an error's chain of causes (the resolver's refusal
/// reaches the caller wrapped in reqwest's and hyper's errors).
pub fn refusal_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a RuntimeError> {
    let mut current: Option<&'a (dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(refusal @ RuntimeError::UrlNotAllowed { .. }) = e.downcast_ref::<RuntimeError>()
        {
            return Some(refusal);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_reqwest_urls() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        let t = target_of(&url("https://GHCR.io/v2/")).unwrap();
        assert_eq!(t.host, Some(Host::Name("ghcr.io".into())));
        assert_eq!(t.port, 443);
        let t = target_of(&url("http://[::ffff:127.0.0.2]:5000/v2/")).unwrap();
        assert_eq!(t.host, Some(Host::Ip("::ffff:127.0.0.2".parse().unwrap())));
        // reqwest's parser reads numeric hosts as addresses; so does the policy.
        let t = target_of(&url("http://127.2/v2/")).unwrap();
        assert_eq!(t.host, Some(Host::Ip("127.0.0.2".parse().unwrap())));
        assert!(target_of(&url("ftp://h/x")).is_err());
        let policy = UrlPolicy::new(false, &[], &["127.0.0.2/32".into()]).unwrap();
        assert!(
            policy
                .check_registry_target("r", "u", &target_of(&url("http://127.2/")).unwrap(), true)
                .is_err()
        );
    }
}
