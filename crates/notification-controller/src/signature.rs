//! HMAC-SHA256 signatures (generic-hmac providers, GitHub receivers) and receiver paths.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

/// The lowercase hex HMAC-SHA256 of `body` keyed by `key`.
pub fn sign_sha256(key: &[u8], body: &[u8]) -> String {
    let mut m = mac(key);
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

/// Whether `header` is `sha256=<hex>` with the HMAC-SHA256 of `body` keyed by `key`
/// (compared in constant time).
pub fn verify_sha256(key: &[u8], body: &[u8], header: &str) -> bool {
    let Some(given) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(given) else {
        return false;
    };
    let mut m = mac(key);
    m.update(body);
    m.verify_slice(&given).is_ok()
}

/// The path a Receiver is served at: `/hook/<hex sha256(token + name + namespace)>`.
pub fn webhook_path(token: &str, name: &str, namespace: &str) -> String {
    let mut h = Sha256::new();
    h.update(token.as_bytes());
    h.update(name.as_bytes());
    h.update(namespace.as_bytes());
    format!("/hook/{}", hex::encode(h.finalize()))
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign_sha256(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verification_needs_the_right_key_body_and_prefix() {
        let sig = sign_sha256(b"token", b"{\"ref\":\"main\"}");
        let header = format!("sha256={sig}");
        assert!(verify_sha256(b"token", b"{\"ref\":\"main\"}", &header));
        assert!(!verify_sha256(b"other", b"{\"ref\":\"main\"}", &header));
        assert!(!verify_sha256(b"token", b"{\"ref\":\"dev\"}", &header));
        assert!(!verify_sha256(b"token", b"{\"ref\":\"main\"}", &sig));
        assert!(!verify_sha256(b"token", b"{\"ref\":\"main\"}", "sha256=zz"));
    }

    #[test]
    fn webhook_path_depends_on_token_name_and_namespace() {
        let p = webhook_path("t", "r", "ns");
        assert!(p.starts_with("/hook/"));
        assert_eq!(p.len(), "/hook/".len() + 64);
        assert_eq!(p, webhook_path("t", "r", "ns"));
        assert_ne!(p, webhook_path("u", "r", "ns"));
        assert_ne!(p, webhook_path("t", "r2", "ns"));
        assert_ne!(p, webhook_path("t", "r", "ns2"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
