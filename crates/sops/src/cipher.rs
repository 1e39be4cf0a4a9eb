//! One SOPS value: `ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<type>]`, AES-256-GCM
//! with a 32-byte nonce and the value's path (`a:b:c:`) as additional data.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::error::{Error, Result};

/// AES-256-GCM with sops' 32-byte nonce.
type SopsGcm = aes_gcm::AesGcm<Aes256, U32>;

/// A parsed `ENC[…]` value.
struct Encrypted<'a> {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    kind: &'a str,
}

fn field<'a>(part: Option<&'a str>, name: &str) -> Option<&'a str> {
    part?.strip_prefix(name)?.strip_prefix(':')
}

fn parse(value: &str) -> Option<Encrypted<'_>> {
    let inner = value.strip_prefix("ENC[AES256_GCM,")?.strip_suffix(']')?;
    let mut parts = inner.split(',');
    let data = STANDARD.decode(field(parts.next(), "data")?).ok()?;
    let iv = STANDARD.decode(field(parts.next(), "iv")?).ok()?;
    let tag = STANDARD.decode(field(parts.next(), "tag")?).ok()?;
    let kind = field(parts.next(), "type")?;
    if parts.next().is_some() || iv.len() != 32 || tag.len() != 16 {
        return None;
    }
    Some(Encrypted {
        data,
        iv,
        tag,
        kind,
    })
}

/// Opens an `ENC[…]` value with the data key; `path` is the value's additional data
/// (`a:b:c:`). The empty string stays empty, as sops writes it. The error names the path only.
pub(crate) fn decrypt(ciphertext: &str, key: &[u8; 32], path: &str) -> Result<Plain> {
    if ciphertext.is_empty() {
        return Ok(Plain::Str(String::new()));
    }
    let failed = || Error::Value {
        path: path.trim_end_matches(':').to_owned(),
    };
    let parsed = parse(ciphertext).ok_or_else(|| {
        Error::Malformed(format!(
            "value at '{}' is not a SOPS encrypted value",
            path.trim_end_matches(':')
        ))
    })?;
    let cipher = SopsGcm::new(key.into());
    let mut sealed = parsed.data;
    sealed.extend_from_slice(&parsed.tag);
    let nonce = aes_gcm::Nonce::<U32>::from_slice(&parsed.iv);
    let plain = cipher
        .decrypt(
            nonce,
            Payload {
                msg: &sealed,
                aad: path.as_bytes(),
            },
        )
        .map_err(|_| failed())?;
    let text = || String::from_utf8(plain.clone()).map_err(|_| failed());
    Ok(match parsed.kind {
        "str" | "time" => Plain::Str(text()?),
        "bytes" => Plain::Str(String::from_utf8_lossy(&plain).into_owned()),
        "int" => Plain::Int(text()?.trim().parse().map_err(|_| failed())?),
        "float" => Plain::Float(text()?.trim().parse().map_err(|_| failed())?),
        "bool" => Plain::Bool(parse_bool(&text()?).ok_or_else(failed)?),
        "comment" => Plain::Str(text()?),
        other => {
            return Err(Error::Malformed(format!(
                "value at '{}' has unknown type '{other}'",
                path.trim_end_matches(':')
            )));
        }
    })
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A decrypted value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plain {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Plain {
    /// The value as JSON.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Plain::Str(s) => Value::String(s),
            Plain::Int(i) => Value::from(i),
            Plain::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
            Plain::Bool(b) => Value::Bool(b),
        }
    }
}

/// The bytes sops hashes into the MAC for a leaf (its `ToBytes`): strings as they are,
/// numbers in Go's shortest decimal form, booleans as `True`/`False`.
pub(crate) fn mac_bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Bool(b) => Some(if *b {
            b"True".to_vec()
        } else {
            b"False".to_vec()
        }),
        Value::Number(n) => Some(if let Some(i) = n.as_i64() {
            i.to_string().into_bytes()
        } else if let Some(u) = n.as_u64() {
            u.to_string().into_bytes()
        } else {
            // Rust's `Display` for f64 is the shortest round-trip form without an
            // exponent, which is Go's `FormatFloat(f, 'f', -1, 64)`.
            format!("{}", n.as_f64().unwrap_or_default()).into_bytes()
        }),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_values_are_refused_without_echoing_them() {
        let key = [7u8; 32];
        let err = decrypt("ENC[AES256_GCM,data:!!,iv:x,tag:y,type:str]", &key, "a:b:")
            .unwrap_err()
            .to_string();
        assert!(err.contains("'a:b'") && !err.contains("!!"), "{err}");
        assert_eq!(decrypt("", &key, "a:").unwrap(), Plain::Str(String::new()));
    }

    #[test]
    fn mac_bytes_follow_go_formatting() {
        assert_eq!(mac_bytes(&Value::from(3)).unwrap(), b"3");
        assert_eq!(mac_bytes(&serde_json::json!(1.0)).unwrap(), b"1");
        assert_eq!(mac_bytes(&serde_json::json!(0.5)).unwrap(), b"0.5");
        assert_eq!(mac_bytes(&Value::Bool(false)).unwrap(), b"False");
        assert!(mac_bytes(&Value::Null).is_none());
    }
}
