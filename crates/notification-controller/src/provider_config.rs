//! A Provider's spec and Secret resolved into what a delivery needs. Pure.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use driftless_api::duration::parse_duration;
use driftless_api::notification::{ProviderSpec, ProviderType, StartTlsPolicy};

use crate::Error;

/// Timeout of one delivery attempt when `spec.timeout` is empty (Flux's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Where and how an SMTP provider sends.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailConfig {
    /// Server host.
    pub host: String,
    /// Server port (587 by default).
    pub port: u16,
    /// Sender address.
    pub from: String,
    /// Recipient addresses.
    pub to: Vec<String>,
    /// STARTTLS policy.
    pub start_tls: StartTlsPolicy,
    /// `username` and `password` from the Secret.
    pub credentials: Option<(String, String)>,
}

/// A usable provider. Its `Debug` form hides the address (webhook URLs are secrets) and
/// every credential.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    /// The provider type.
    pub type_: ProviderType,
    /// Webhook URL (not used by `smtp`).
    pub address: String,
    /// `generic-hmac` key.
    pub token: Option<String>,
    /// Slack channel.
    pub channel: Option<String>,
    /// Slack user name.
    pub username: Option<String>,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// `smtp` settings.
    pub email: Option<EmailConfig>,
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("type", &self.type_)
            .field("address", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn secret_string(data: &BTreeMap<String, Vec<u8>>, key: &str) -> Option<String> {
    data.get(key)
        .map(|v| String::from_utf8_lossy(v).trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl ProviderConfig {
    /// Resolves `spec` of Provider `id` (`<namespace>/<name>`) with the data of its Secret
    /// (empty when it has none). Errors name the field or Secret key; never its value.
    pub fn resolve(
        id: &str,
        spec: &ProviderSpec,
        secret: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Self, Error> {
        let invalid =
            |field: &str, why: &str| Error::InvalidSpec(format!("Provider {id}: {field}: {why}"));
        let timeout = match &spec.timeout {
            Some(t) => parse_duration(t).map_err(|e| invalid("spec.timeout", &e.to_string()))?,
            None => DEFAULT_TIMEOUT,
        };
        let address = secret_string(secret, "address")
            .or_else(|| spec.address.clone().filter(|a| !a.is_empty()))
            .ok_or_else(|| invalid("spec.address", "empty, and no secretRef key `address`"))?;
        let url = reqwest::Url::parse(&address)
            .map_err(|e| invalid("spec.address", &format!("not a URL ({e})")))?;
        let token = secret_string(secret, "token");
        let mut email = None;
        match spec.type_ {
            ProviderType::Slack | ProviderType::Generic => {
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(invalid(
                        "spec.address",
                        "must be an http:// or https:// URL",
                    ));
                }
            }
            ProviderType::GenericHmac => {
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(invalid(
                        "spec.address",
                        "must be an http:// or https:// URL",
                    ));
                }
                if token.is_none() {
                    return Err(Error::Secret(format!(
                        "Provider {id}: generic-hmac needs key `token` in the Secret of spec.secretRef"
                    )));
                }
            }
            ProviderType::Smtp => {
                if url.scheme() != "smtp" {
                    return Err(invalid("spec.address", "must be smtp://host[:port]"));
                }
                let host = url
                    .host_str()
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| invalid("spec.address", "has no host"))?;
                let from = spec
                    .from
                    .clone()
                    .ok_or_else(|| invalid("spec.from", "required for smtp"))?;
                if spec.to.is_empty() {
                    return Err(invalid("spec.to", "required for smtp"));
                }
                let credentials = match (
                    secret_string(secret, "username"),
                    secret_string(secret, "password"),
                ) {
                    (Some(u), Some(p)) => Some((u, p)),
                    (None, None) => None,
                    _ => {
                        return Err(Error::Secret(format!(
                            "Provider {id}: the Secret of spec.secretRef needs both `username` and `password`"
                        )));
                    }
                };
                email = Some(EmailConfig {
                    host: host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                    port: url.port().unwrap_or(587),
                    from,
                    to: spec.to.clone(),
                    start_tls: spec.start_tls.unwrap_or_default(),
                    credentials,
                });
            }
        }
        Ok(ProviderConfig {
            type_: spec.type_,
            address,
            token,
            channel: spec.channel.clone(),
            username: spec.username.clone(),
            timeout,
            email,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(type_: ProviderType, address: Option<&str>) -> ProviderSpec {
        ProviderSpec {
            type_,
            address: address.map(str::to_owned),
            channel: None,
            username: None,
            secret_ref: None,
            timeout: None,
            from: None,
            to: vec![],
            start_tls: None,
            suspend: false,
        }
    }

    fn secret(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn secret_address_wins_and_is_never_shown() {
        let c = ProviderConfig::resolve(
            "ns/p",
            &spec(ProviderType::Slack, Some("https://spec.example/")),
            &secret(&[("address", "https://hooks.example/T0/secret-part\n")]),
        )
        .unwrap();
        assert_eq!(c.address, "https://hooks.example/T0/secret-part");
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert!(!format!("{c:?}").contains("secret-part"));
    }

    #[test]
    fn hmac_needs_a_token() {
        let s = spec(ProviderType::GenericHmac, Some("http://127.0.0.1:1/"));
        let err = ProviderConfig::resolve("ns/p", &s, &secret(&[])).unwrap_err();
        assert!(err.to_string().contains("`token`"), "{err}");
        let ok = ProviderConfig::resolve("ns/p", &s, &secret(&[("token", "k")])).unwrap();
        assert_eq!(ok.token.as_deref(), Some("k"));
    }

    #[test]
    fn smtp_settings() {
        let mut s = spec(ProviderType::Smtp, Some("smtp://mail.example:2525"));
        let err = ProviderConfig::resolve("ns/p", &s, &secret(&[])).unwrap_err();
        assert!(err.to_string().contains("spec.from"), "{err}");
        s.from = Some("driftless@example.com".into());
        s.to = vec!["ops@example.com".into()];
        let c = ProviderConfig::resolve(
            "ns/p",
            &s,
            &secret(&[("username", "u"), ("password", "pw")]),
        )
        .unwrap();
        let e = c.email.unwrap();
        assert_eq!((e.host.as_str(), e.port), ("mail.example", 2525));
        assert_eq!(e.start_tls, StartTlsPolicy::Required);
        assert_eq!(e.credentials, Some(("u".into(), "pw".into())));
        let err = ProviderConfig::resolve("ns/p", &s, &secret(&[("username", "u")])).unwrap_err();
        assert!(err.to_string().contains("`password`"), "{err}");
        s.address = Some("https://mail.example".into());
        assert!(ProviderConfig::resolve("ns/p", &s, &secret(&[])).is_err());
    }

    #[test]
    fn bad_address_and_timeout_name_the_field() {
        let err = ProviderConfig::resolve("ns/p", &spec(ProviderType::Generic, None), &secret(&[]))
            .unwrap_err();
        assert!(
            err.to_string().contains("Provider ns/p: spec.address"),
            "{err}"
        );
        let mut s = spec(ProviderType::Generic, Some("ftp://x/"));
        assert!(ProviderConfig::resolve("ns/p", &s, &secret(&[])).is_err());
        s.address = Some("http://x/".into());
        s.timeout = Some("soon".into());
        let err = ProviderConfig::resolve("ns/p", &s, &secret(&[])).unwrap_err();
        assert!(err.to_string().contains("spec.timeout"), "{err}");
    }
}
