//! Registry answers read with a bound, and registry error bodies summarized without
//! copying the registry's text.

use reqwest::StatusCode;
use serde::Deserialize;

use crate::Error;

/// Bytes of an error body read at most (only its error codes are kept).
const ERROR_BODY_LIMIT: u64 = 16 * 1024;
/// Error codes kept from an error body at most.
const MAX_CODES: usize = 3;

/// Reads the body of `response` (from `url`), refusing it as soon as it exceeds `limit`
/// bytes: up front when `Content-Length` says so, else while streaming.
pub async fn read_bounded(
    mut response: reqwest::Response,
    url: &str,
    limit: u64,
) -> Result<Vec<u8>, Error> {
    let too_large = || Error::Registry {
        url: url.to_owned(),
        reason: format!(
            "response body exceeds the limit of {limit} bytes (--max-registry-response-bytes)"
        ),
    };
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| Error::Registry {
        url: url.to_owned(),
        reason: format!("reading the response: {e}"),
    })? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    code: Option<String>,
}

/// `HTTP 404 Not Found (NAME_UNKNOWN)`: the status, and the OCI error codes of the body
/// when they are well-formed (upper-case letters and `_`). The registry's free text never
/// reaches status: a URL pointing at some other service must not read it back to a tenant.
pub async fn error_summary(response: reqwest::Response, url: &str) -> String {
    let status = response.status();
    let body = read_bounded(response, url, ERROR_BODY_LIMIT)
        .await
        .unwrap_or_default();
    summary(status, &body)
}

fn summary(status: StatusCode, body: &[u8]) -> String {
    let codes: Vec<String> = serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.errors)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| e.code)
        .filter(|c| {
            !c.is_empty() && c.len() <= 64 && c.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        })
        .take(MAX_CODES)
        .collect();
    if codes.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status} ({})", codes.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_status_and_well_formed_codes() {
        let oci = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known","detail":{"name":"x"}}]}"#;
        assert_eq!(
            summary(StatusCode::NOT_FOUND, oci),
            "HTTP 404 Not Found (NAME_UNKNOWN)"
        );
        let secret = b"ami-id\ninstance-id\niam/security-credentials/role AKIA...";
        assert_eq!(summary(StatusCode::NOT_FOUND, secret), "HTTP 404 Not Found");
        let sneaky =
            br#"{"errors":[{"code":"AKIA SECRET\nx"},{"code":"DENIED"},{"code":"lower"}]}"#;
        assert_eq!(
            summary(StatusCode::FORBIDDEN, sneaky),
            "HTTP 403 Forbidden (DENIED)"
        );
    }
}
