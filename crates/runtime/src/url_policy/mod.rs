//! One URL policy for every controller that connects where a tenant's spec says: git
//! remotes (GitRepository, ImageUpdateAutomation) and OCI registries (ImageRepository).
//!
//! - **Schemes.** git: `https`, `http`, `ssh` (also scp-like `user@host:path`), `git`;
//!   `file://` and local paths only with `--allow-file-urls`. Registries: `https`, plain
//!   `http` only for `spec.insecure: true`.
//! - **Hosts.** With `--allowed-hosts` (globs, see [`HostGlob`]) only matching hosts.
//! - **Addresses.** With `--denied-cidrs`, a host is resolved before anything connects and
//!   refused when *any* of its addresses is in a denied range; IP literals are checked as
//!   written. Refusals are [`RuntimeError::UrlNotAllowed`] (condition reason
//!   [`URL_NOT_ALLOWED`]), naming the field and the rule, and no connection is attempted.
//!
//! DNS rebinding (a name answering a harmless address to the check and a denied one to the
//! connection): each client closes the gap as far as it can; see docs/operations.md.
//! [`UrlPolicy::resolve`] returns the checked addresses so a client can connect to exactly
//! those, and [`UrlPolicy::denied_range`] lets a client's own resolver refuse at connect time.

mod cidr;
mod host_glob;
mod redact;
mod target;

use std::net::{IpAddr, SocketAddr};

pub use cidr::Cidr;
pub use host_glob::HostGlob;
pub use redact::redact_credentials;
pub use target::{Host, Scheme, Target, parse_git_url, parse_host};

use crate::RuntimeError;

/// Condition reason of a refused URL.
pub const URL_NOT_ALLOWED: &str = "URLNotAllowed";

/// The URL policy of one process, from `--allow-file-urls`, `--allowed-hosts` and
/// `--denied-cidrs`. The default allows the network schemes to any host and refuses `file`.
#[derive(Clone, Debug, Default)]
pub struct UrlPolicy {
    allow_file_urls: bool,
    allowed_hosts: Vec<HostGlob>,
    denied_cidrs: Vec<Cidr>,
}

impl UrlPolicy {
    /// A policy from the flags' values; a malformed pattern or range is an error naming it.
    pub fn new(
        allow_file_urls: bool,
        allowed_hosts: &[String],
        denied_cidrs: &[String],
    ) -> Result<Self, RuntimeError> {
        let flag_error =
            |flag: &'static str, value: &str, reason: String| RuntimeError::UrlPolicyFlag {
                flag,
                value: value.to_owned(),
                reason,
            };
        let allowed_hosts = allowed_hosts
            .iter()
            .map(|h| HostGlob::parse(h).map_err(|e| flag_error("--allowed-hosts", h, e)))
            .collect::<Result<_, _>>()?;
        let denied_cidrs = denied_cidrs
            .iter()
            .map(|c| c.parse().map_err(|e| flag_error("--denied-cidrs", c, e)))
            .collect::<Result<_, _>>()?;
        Ok(UrlPolicy {
            allow_file_urls,
            allowed_hosts,
            denied_cidrs,
        })
    }

    /// Whether `file://` URLs and local paths are accepted.
    pub fn allows_file_urls(&self) -> bool {
        self.allow_file_urls
    }

    /// Whether hosts must be resolved and their addresses checked (`--denied-cidrs` set).
    pub fn guards_addresses(&self) -> bool {
        !self.denied_cidrs.is_empty()
    }

    /// The git protocols allowed, `:`-separated as `GIT_ALLOW_PROTOCOL` wants them.
    pub fn git_protocols(&self) -> String {
        let mut protocols = vec!["https", "http", "ssh", "git"];
        if self.allow_file_urls {
            protocols.push("file");
        }
        protocols.join(":")
    }

    /// The denied range holding `addr`, if any.
    pub fn denied_range(&self, addr: IpAddr) -> Option<Cidr> {
        self.denied_cidrs.iter().copied().find(|c| c.contains(addr))
    }

    /// Checks a git URL without touching the network: scheme, `file` opt-in, host pattern,
    /// IP literal against the denied ranges. `field` names the spec field in the refusal.
    pub fn check_git_url(&self, field: &str, url: &str) -> Result<Target, RuntimeError> {
        let refuse = |rule: String| refusal(field, url, rule, false);
        let target = parse_git_url(url).map_err(|e| {
            if e.starts_with("scheme '") {
                refuse(format!(
                    "{e} (git URLs may use https, http, ssh and git; file only with --allow-file-urls)"
                ))
            } else {
                refuse(e)
            }
        })?;
        if target.scheme == Scheme::File && !self.allow_file_urls {
            return Err(refuse(
                "file:// URLs are disabled (start driftless run with --allow-file-urls to allow them)"
                    .to_owned(),
            ));
        }
        if let Some(host) = &target.host {
            self.check_host(host).map_err(refuse)?;
        }
        Ok(target)
    }

    /// Checks a registry endpoint (the image's registry, a redirect or a `Link` target)
    /// without touching the network: `http` only when `insecure`, host pattern, IP literal.
    pub fn check_registry_target(
        &self,
        field: &str,
        url: &str,
        target: &Target,
        insecure: bool,
    ) -> Result<(), RuntimeError> {
        let refuse = |rule: String| refusal(field, url, rule, false);
        match target.scheme {
            Scheme::Https => {}
            Scheme::Http if insecure => {}
            Scheme::Http => {
                return Err(refuse(
                    "plain http is only used for registries with spec.insecure: true".to_owned(),
                ));
            }
            other => {
                return Err(refuse(format!(
                    "scheme '{other}' is not allowed for registries (https; http with spec.insecure)"
                )));
            }
        }
        match &target.host {
            Some(host) => self.check_host(host).map_err(refuse),
            None => Err(refuse("no host".to_owned())),
        }
    }

    fn check_host(&self, host: &Host) -> Result<(), String> {
        let text = host.to_string();
        if !self.allowed_hosts.is_empty() && !self.allowed_hosts.iter().any(|g| g.matches(&text)) {
            return Err(format!(
                "host '{text}' matches no pattern of --allowed-hosts"
            ));
        }
        if let Host::Ip(ip) = host
            && let Some(range) = self.denied_range(*ip)
        {
            return Err(format!(
                "address {ip} is in the denied range {range} (--denied-cidrs)"
            ));
        }
        Ok(())
    }

    /// Resolves the target's host and checks every address against the denied ranges, before
    /// any connection. Returns the addresses checked (empty for `file`, and for names when no
    /// range is denied: then the client may resolve by itself).
    pub async fn resolve(
        &self,
        field: &str,
        url: &str,
        target: &Target,
    ) -> Result<Vec<SocketAddr>, RuntimeError> {
        let name = match &target.host {
            None => return Ok(Vec::new()),
            Some(Host::Ip(ip)) => return Ok(vec![SocketAddr::new(*ip, target.port)]),
            Some(Host::Name(_)) if !self.guards_addresses() => return Ok(Vec::new()),
            Some(Host::Name(name)) => name,
        };
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), target.port))
            .await
            .map_err(|source| RuntimeError::Resolve {
                field: field.to_owned(),
                host: name.clone(),
                source,
            })?
            .collect();
        self.check_resolved(field, url, name, &addrs)?;
        Ok(addrs)
    }

    /// Refuses when any of the addresses `name` resolved to is in a denied range.
    pub fn check_resolved(
        &self,
        field: &str,
        url: &str,
        name: &str,
        addrs: &[SocketAddr],
    ) -> Result<(), RuntimeError> {
        for addr in addrs {
            if let Some(range) = self.denied_range(addr.ip()) {
                return Err(refusal(
                    field,
                    url,
                    format!(
                        "host '{name}' resolves to {}, which is in the denied range {range} (--denied-cidrs)",
                        addr.ip()
                    ),
                    true,
                ));
            }
        }
        Ok(())
    }
}

fn refusal(field: &str, url: &str, rule: String, resolved: bool) -> RuntimeError {
    RuntimeError::UrlNotAllowed {
        field: field.to_owned(),
        url: redact_credentials(url),
        rule,
        resolved,
    }
}

#[cfg(test)]
mod tests;
