//! The keys a Kustomization may decrypt with: age identities from the `.agekey` entries of
//! its decryption Secret. Other key types (PGP `.asc`, cloud KMS and Vault credentials) are
//! refused by name.

use std::str::FromStr;

use crate::error::{Error, Result};

/// At most this many identities are read from one Secret.
const MAX_IDENTITIES: usize = 256;

/// age identities able to open SOPS data keys.
#[derive(Default)]
pub struct Keyring {
    identities: Vec<age::x25519::Identity>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret keys: only their recipients.
        f.debug_struct("Keyring")
            .field("recipients", &self.recipients())
            .finish()
    }
}

/// What kind of key a Secret entry holds, by Flux's entry names.
fn unsupported_kind(entry: &str) -> Option<&'static str> {
    if entry.ends_with(".asc") {
        return Some("PGP");
    }
    match entry {
        "sops.aws-kms" => Some("AWS KMS"),
        "sops.gcp-kms" => Some("GCP KMS"),
        "sops.azure-kv" => Some("Azure Key Vault"),
        "sops.vault-token" => Some("HashiCorp Vault"),
        _ => None,
    }
}

impl Keyring {
    /// Reads the `.agekey` entries of a Secret's data (each may hold several identities, one
    /// per line, `#` comments allowed). Entries with other key types are refused; other
    /// entries are ignored, as Flux does.
    pub fn from_secret_data<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Keyring> {
        let mut identities = Vec::new();
        for (entry, value) in entries {
            if let Some(kind) = unsupported_kind(entry) {
                return Err(Error::UnsupportedKeyType {
                    entry: entry.to_owned(),
                    kind,
                });
            }
            if !entry.ends_with(".agekey") {
                continue;
            }
            let text = std::str::from_utf8(value).map_err(|_| Error::InvalidAgeKey {
                entry: entry.to_owned(),
                message: "not UTF-8".into(),
            })?;
            let before = identities.len();
            for (number, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let identity =
                    age::x25519::Identity::from_str(line).map_err(|_| Error::InvalidAgeKey {
                        entry: entry.to_owned(),
                        message: format!(
                            "line {} is not an age identity (AGE-SECRET-KEY-1…)",
                            number + 1
                        ),
                    })?;
                identities.push(identity);
                if identities.len() > MAX_IDENTITIES {
                    return Err(Error::Limit(format!(
                        "more than {MAX_IDENTITIES} age identities in the decryption Secret"
                    )));
                }
            }
            if identities.len() == before {
                return Err(Error::InvalidAgeKey {
                    entry: entry.to_owned(),
                    message: "holds no age identity".into(),
                });
            }
        }
        Ok(Keyring { identities })
    }

    /// The public keys (`age1…`) of the identities held.
    pub fn recipients(&self) -> Vec<String> {
        self.identities
            .iter()
            .map(|i| i.to_public().to_string())
            .collect()
    }

    /// Whether no identity is held.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    /// The identity whose public key is `recipient`.
    pub(crate) fn identity_for(&self, recipient: &str) -> Option<&age::x25519::Identity> {
        self.identities
            .iter()
            .find(|i| i.to_public().to_string() == recipient.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn reads_age_keys_and_refuses_other_key_types_by_name() {
        let identity = age::x25519::Identity::generate();
        let secret = identity.to_string();
        let text = format!(
            "# created: now\n# public key: x\n{}\n",
            secret.expose_secret()
        );
        let ring = Keyring::from_secret_data([
            ("identity.agekey", text.as_bytes()),
            ("README", b"ignored".as_slice()),
        ])
        .unwrap();
        assert_eq!(ring.recipients(), vec![identity.to_public().to_string()]);
        assert!(!format!("{ring:?}").contains("AGE-SECRET-KEY"));

        let err = Keyring::from_secret_data([("team.asc", b"-----BEGIN PGP".as_slice())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("'team.asc'") && err.contains("PGP"), "{err}");
        let err = Keyring::from_secret_data([("sops.aws-kms", b"x".as_slice())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("AWS KMS"), "{err}");
        let err = Keyring::from_secret_data([("bad.agekey", b"AGE-SECRET-KEY-1NOPE".as_slice())])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.agekey") && err.contains("line 1"),
            "{err}"
        );
    }
}
