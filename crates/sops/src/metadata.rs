//! The `sops` section of an encrypted file: who can open the data key, which values are
//! encrypted, the MAC and when it was made.

use regex::Regex;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// At most this many keys (recipients of any type) per file.
const MAX_KEYS: usize = 64;
/// Longest accepted encrypted data key (an armored age file of a 32-byte key is ~400 bytes).
const MAX_ENC_BYTES: usize = 16 * 1024;

/// An age recipient and the data key encrypted to it.
#[derive(Debug, Clone)]
pub(crate) struct AgeStanza {
    pub recipient: String,
    pub enc: String,
}

/// Which values of the tree are encrypted (sops' one crypt rule per file).
#[derive(Debug, Clone)]
pub(crate) enum CryptRule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
}

impl CryptRule {
    /// Whether the leaf at `path` (map keys from the root) is encrypted.
    pub(crate) fn encrypts(&self, path: &[&str]) -> bool {
        match self {
            CryptRule::UnencryptedSuffix(s) => !path.iter().any(|p| p.ends_with(s.as_str())),
            CryptRule::EncryptedSuffix(s) => path.iter().any(|p| p.ends_with(s.as_str())),
            CryptRule::UnencryptedRegex(r) => !path.iter().any(|p| r.is_match(p)),
            CryptRule::EncryptedRegex(r) => path.iter().any(|p| r.is_match(p)),
        }
    }
}

/// The parsed `sops` section.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub age: Vec<AgeStanza>,
    /// Descriptions of the keys of other types (`PGP key <fingerprint>`, `AWS KMS key <arn>`).
    pub other_keys: Vec<String>,
    /// `lastmodified` in Go's RFC 3339 form: the MAC's additional data.
    pub last_modified: String,
    pub mac: String,
    pub rule: CryptRule,
    pub mac_only_encrypted: bool,
}

fn text<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Go's `time.Parse(RFC3339)` then `Format(RFC3339)`: fractional seconds dropped, a zero
/// offset written `Z`.
fn normalize_rfc3339(s: &str) -> Result<String> {
    let bad = || Error::Malformed(format!("sops.lastmodified '{s}' is not an RFC 3339 time"));
    if s.len() < 20 || s.len() > 40 || !s.is_ascii() {
        return Err(bad());
    }
    let (date_time, rest) = s.split_at(19);
    let bytes = date_time.as_bytes();
    let digits_ok = bytes.iter().enumerate().all(|(i, b)| match i {
        4 | 7 => *b == b'-',
        10 => *b == b'T' || *b == b't',
        13 | 16 => *b == b':',
        _ => b.is_ascii_digit(),
    });
    if !digits_ok {
        return Err(bad());
    }
    let rest = match rest.strip_prefix('.') {
        Some(frac) => frac.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => rest,
    };
    let zone = match rest {
        "Z" | "z" | "+00:00" | "-00:00" => "Z".to_owned(),
        z if z.len() == 6
            && (z.starts_with('+') || z.starts_with('-'))
            && z.as_bytes()[3] == b':' =>
        {
            z.to_owned()
        }
        _ => return Err(bad()),
    };
    Ok(format!("{}{zone}", date_time.replace('t', "T")))
}

fn regex(pattern: &str, field: &str) -> Result<Regex> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| Error::Malformed(format!("sops.{field}: {e}")))
}

fn describe_others(map: &Map<String, Value>, out: &mut Vec<String>) {
    for (field, kind, id) in [
        ("pgp", "PGP key", "fp"),
        ("kms", "AWS KMS key", "arn"),
        ("gcp_kms", "GCP KMS key", "resource_id"),
        ("azure_kv", "Azure Key Vault key", "vault_url"),
        ("hc_vault", "HashiCorp Vault key", "vault_address"),
        ("hckms", "HuaweiCloud KMS key", "key_id"),
    ] {
        for key in map
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = key.get(id).and_then(Value::as_str).unwrap_or("?");
            out.push(format!("{kind} {name}"));
        }
    }
}

fn age_stanzas(map: &Map<String, Value>, out: &mut Vec<AgeStanza>) -> Result<()> {
    for key in map
        .get("age")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let recipient = key.get("recipient").and_then(Value::as_str);
        let enc = key.get("enc").and_then(Value::as_str);
        match (recipient, enc) {
            (Some(recipient), Some(enc)) if enc.len() <= MAX_ENC_BYTES => out.push(AgeStanza {
                recipient: recipient.to_owned(),
                enc: enc.to_owned(),
            }),
            _ => {
                return Err(Error::Malformed(
                    "sops.age entry without recipient and enc (or enc too long)".into(),
                ));
            }
        }
    }
    Ok(())
}

impl Metadata {
    /// Parses the `sops` mapping.
    pub(crate) fn parse(value: &Value) -> Result<Metadata> {
        let map = value
            .as_object()
            .ok_or_else(|| Error::Malformed("'sops' is not a mapping".into()))?;
        let mac = text(map, "mac")
            .ok_or_else(|| Error::Malformed("sops.mac is missing".into()))?
            .to_owned();
        let last_modified = normalize_rfc3339(
            text(map, "lastmodified")
                .ok_or_else(|| Error::Malformed("sops.lastmodified is missing".into()))?,
        )?;
        let mut age = Vec::new();
        let mut other_keys = Vec::new();
        age_stanzas(map, &mut age)?;
        describe_others(map, &mut other_keys);
        if let Some(groups) = map.get("key_groups").and_then(Value::as_array) {
            if groups.len() > 1 {
                return Err(Error::Unsupported(format!(
                    "{} key groups (Shamir secret sharing)",
                    groups.len()
                )));
            }
            for group in groups.iter().filter_map(Value::as_object) {
                age_stanzas(group, &mut age)?;
                describe_others(group, &mut other_keys);
            }
        }
        if age.len() + other_keys.len() > MAX_KEYS {
            return Err(Error::Limit(format!(
                "more than {MAX_KEYS} keys in sops metadata"
            )));
        }
        for field in ["unencrypted_comment_regex", "encrypted_comment_regex"] {
            if text(map, field).is_some() {
                return Err(Error::Unsupported(format!("sops.{field}")));
            }
        }
        let mut rules = Vec::new();
        if let Some(s) = text(map, "unencrypted_suffix") {
            rules.push(CryptRule::UnencryptedSuffix(s.to_owned()));
        }
        if let Some(s) = text(map, "encrypted_suffix") {
            rules.push(CryptRule::EncryptedSuffix(s.to_owned()));
        }
        if let Some(s) = text(map, "unencrypted_regex") {
            rules.push(CryptRule::UnencryptedRegex(regex(s, "unencrypted_regex")?));
        }
        if let Some(s) = text(map, "encrypted_regex") {
            rules.push(CryptRule::EncryptedRegex(regex(s, "encrypted_regex")?));
        }
        if rules.len() > 1 {
            return Err(Error::Malformed(
                "more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex".into(),
            ));
        }
        let rule = rules
            .pop()
            .unwrap_or_else(|| CryptRule::UnencryptedSuffix("_unencrypted".into()));
        let mac_only_encrypted = match map.get("mac_only_encrypted") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.as_str(), "true" | "True" | "TRUE" | "1"),
            _ => false,
        };
        Ok(Metadata {
            age,
            other_keys,
            last_modified,
            mac,
            rule,
            mac_only_encrypted,
        })
    }
}

/// Rebuilds the nested `sops` mapping from flattened `sops_…` keys (dotenv):
/// `age__list_0__map_recipient` → `age[0].recipient`.
pub(crate) fn unflatten(entries: Vec<(String, String)>) -> Result<Value> {
    let mut root = Value::Object(Map::new());
    for (key, value) in entries {
        let mut node = &mut root;
        let mut rest = key.as_str();
        // The first token is a map key up to the first separator.
        loop {
            let next_sep = [rest.find("__map_"), rest.find("__list_")]
                .into_iter()
                .flatten()
                .min();
            let (token, tail) = match next_sep {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let is_list = |t: &str| t.starts_with("__list_");
            // Decide the container of `token` by the separator that follows it.
            let child_is_list = is_list(tail);
            let container = node
                .as_object_mut()
                .ok_or_else(|| Error::Malformed(format!("flattened sops key '{key}'")))?;
            if tail.is_empty() {
                container.insert(token.to_owned(), Value::String(value));
                break;
            }
            let entry = container.entry(token.to_owned()).or_insert_with(|| {
                if child_is_list {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                }
            });
            if child_is_list {
                let after = &tail["__list_".len()..];
                let end = after.find("__").unwrap_or(after.len());
                let index: usize = after[..end]
                    .parse()
                    .map_err(|_| Error::Malformed(format!("flattened sops key '{key}'")))?;
                let list = entry
                    .as_array_mut()
                    .ok_or_else(|| Error::Malformed(format!("flattened sops key '{key}'")))?;
                if index > MAX_KEYS {
                    return Err(Error::Limit(format!("flattened sops key '{key}'")));
                }
                while list.len() <= index {
                    list.push(Value::Object(Map::new()));
                }
                node = &mut list[index];
                rest = after[end..].strip_prefix("__map_").unwrap_or(&after[end..]);
                if rest.is_empty() {
                    return Err(Error::Malformed(format!("flattened sops key '{key}'")));
                }
            } else {
                node = entry;
                rest = &tail["__map_".len()..];
            }
        }
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_normalized_like_go() {
        assert_eq!(
            normalize_rfc3339("2026-11-27T10:00:00Z").unwrap(),
            "2026-11-27T10:00:00Z"
        );
        assert_eq!(
            normalize_rfc3339("2026-11-27T10:00:00.123456+00:00").unwrap(),
            "2026-11-27T10:00:00Z"
        );
        assert_eq!(
            normalize_rfc3339("2026-11-27T10:00:00+02:00").unwrap(),
            "2026-11-27T10:00:00+02:00"
        );
        assert!(normalize_rfc3339("yesterday").is_err());
    }

    #[test]
    fn dotenv_metadata_unflattens() {
        let v = unflatten(vec![
            ("age__list_0__map_recipient".into(), "age1x".into()),
            ("age__list_0__map_enc".into(), "E".into()),
            ("mac".into(), "M".into()),
        ])
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"age": [{"recipient": "age1x", "enc": "E"}], "mac": "M"})
        );
    }

    #[test]
    fn crypt_rules_match_sops() {
        let r = CryptRule::EncryptedRegex(Regex::new("^(data|stringData)$").unwrap());
        assert!(r.encrypts(&["data", "password"]));
        assert!(!r.encrypts(&["metadata", "name"]));
        let s = CryptRule::UnencryptedSuffix("_unencrypted".into());
        assert!(!s.encrypts(&["a_unencrypted", "b"]));
        assert!(s.encrypts(&["a", "b"]));
    }
}
