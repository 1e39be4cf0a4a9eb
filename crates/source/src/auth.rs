//! Credentials for a git remote, kept out of logs, errors and `Debug` output.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// How to authenticate to a git remote (built by the reconciler from `spec.secretRef`).
///
/// `Debug` prints which kinds of material are present, never their values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GitAuth {
    /// HTTP basic auth: `username` and `password` of the secret.
    pub basic: Option<BasicAuth>,
    /// HTTP bearer token: `bearerToken` of the secret.
    pub bearer_token: Option<String>,
    /// PEM bundle of CA certificates to trust for HTTPS: `ca.crt` (or `caFile`) of the secret.
    pub ca_bundle: Option<Vec<u8>>,
    /// SSH private key: `identity` of the secret.
    pub ssh_identity: Option<Vec<u8>>,
    /// SSH known hosts: `known_hosts` of the secret.
    pub known_hosts: Option<Vec<u8>>,
}

/// A username and password for HTTP basic auth.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password (redacted in `Debug`).
    pub password: String,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

fn presence<T>(value: &Option<T>) -> &'static str {
    if value.is_some() {
        "<redacted>"
    } else {
        "<none>"
    }
}

impl fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitAuth")
            .field("basic", &self.basic)
            .field("bearer_token", &presence(&self.bearer_token))
            .field(
                "ca_bundle",
                &self
                    .ca_bundle
                    .as_ref()
                    .map(|b| format!("{} bytes", b.len())),
            )
            .field("ssh_identity", &presence(&self.ssh_identity))
            .field("known_hosts", &presence(&self.known_hosts))
            .finish()
    }
}

impl GitAuth {
    /// A one-way fingerprint of all material, used to keep single-flight groups apart
    /// so a request never shares a fetch made with someone else's credentials.
    pub(crate) fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |tag: &[u8], value: Option<&[u8]>| {
            h.update(tag);
            match value {
                Some(v) => {
                    h.update((v.len() as u64).to_be_bytes());
                    h.update(v);
                }
                None => h.update(b"-"),
            }
        };
        field(b"u", self.basic.as_ref().map(|b| b.username.as_bytes()));
        field(b"p", self.basic.as_ref().map(|b| b.password.as_bytes()));
        field(b"t", self.bearer_token.as_deref().map(str::as_bytes));
        field(b"c", self.ca_bundle.as_deref());
        field(b"i", self.ssh_identity.as_deref());
        field(b"k", self.known_hosts.as_deref());
        hex::encode(&h.finalize()[..16])
    }

    /// The `Authorization` header value for HTTP, if any: bearer wins over basic
    /// (basic is answered through the credential helper when the server asks).
    pub(crate) fn bearer_header(&self) -> Option<String> {
        self.bearer_token.as_ref().map(|t| format!("Bearer {t}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> GitAuth {
        GitAuth {
            basic: Some(BasicAuth {
                username: "alice".into(),
                password: "s3cr3t-pw".into(),
            }),
            bearer_token: Some("tok-abc123".into()),
            ca_bundle: Some(b"-----BEGIN CERTIFICATE-----".to_vec()),
            ssh_identity: Some(b"PRIVATE-KEY-BYTES".to_vec()),
            known_hosts: Some(b"host ssh-ed25519 AAAA".to_vec()),
        }
    }

    #[test]
    fn debug_redacts_every_secret() {
        let shown = format!("{:?} {:#?}", full(), full());
        for secret in [
            "s3cr3t-pw",
            "tok-abc123",
            "PRIVATE-KEY-BYTES",
            "ssh-ed25519",
        ] {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
        assert!(shown.contains("alice"));
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn fingerprint_separates_credentials_and_hides_them() {
        let a = full();
        let mut b = full();
        b.basic.as_mut().unwrap().password = "other".into();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), full().fingerprint());
        assert_ne!(GitAuth::default().fingerprint(), a.fingerprint());
        assert!(!a.fingerprint().contains("s3cr3t"));
    }

    #[test]
    fn bearer_header_uses_token() {
        assert_eq!(full().bearer_header().unwrap(), "Bearer tok-abc123");
        assert!(GitAuth::default().bearer_header().is_none());
    }
}
