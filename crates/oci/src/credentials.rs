//! Registry credentials from a `kubernetes.io/dockerconfigjson` Secret.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use serde::Deserialize;

use crate::Error;

/// A username and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryCredentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    username: Option<String>,
    password: Option<String>,
    auth: Option<String>,
}

/// The credentials for `registry` in a `.dockerconfigjson` document; `secret` (`ns/name`)
/// names the secret in errors. `None` when the document has no entry for the registry.
pub fn from_docker_config(
    json: &[u8],
    registry: &str,
    secret: &str,
) -> Result<Option<RegistryCredentials>, Error> {
    let fail = |reason: String| Error::Credentials {
        secret: secret.to_owned(),
        reason,
    };
    let config: DockerConfig = serde_json::from_slice(json).map_err(|e| {
        fail(format!(
            "key '.dockerconfigjson' is not a docker config: {e}"
        ))
    })?;
    let entry = config.auths.iter().find(|(key, _)| {
        host_of(key) == registry || (registry == "docker.io" && is_docker_hub(key))
    });
    let Some((key, auth)) = entry else {
        return Ok(None);
    };
    if let (Some(username), Some(password)) = (&auth.username, &auth.password) {
        return Ok(Some(RegistryCredentials {
            username: username.clone(),
            password: password.clone(),
        }));
    }
    let encoded = auth.auth.as_deref().ok_or_else(|| {
        fail(format!(
            "entry '{key}' has neither username/password nor auth"
        ))
    })?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| fail(format!("entry '{key}': auth is not base64: {e}")))?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| fail(format!("entry '{key}': auth is not UTF-8")))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| fail(format!("entry '{key}': auth is not 'user:password'")))?;
    Ok(Some(RegistryCredentials {
        username: username.to_owned(),
        password: password.to_owned(),
    }))
}

/// `https://host:port/v1/` → `host:port`.
fn host_of(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

fn is_docker_hub(key: &str) -> bool {
    matches!(
        host_of(key),
        "index.docker.io" | "registry-1.docker.io" | "docker.io"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_entry_for_the_registry() {
        let json = br#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "aHViOnMzY3JldA=="},
            "127.0.0.1:5000": {"username": "u", "password": "p"},
            "ghcr.io": {"auth": "Z2g6dG9rOndpdGg6Y29sb25z"}
        }}"#;
        let hub = from_docker_config(json, "docker.io", "ns/creds")
            .unwrap()
            .unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("hub", "s3cret")
        );
        let local = from_docker_config(json, "127.0.0.1:5000", "ns/creds")
            .unwrap()
            .unwrap();
        assert_eq!(local.username, "u");
        let gh = from_docker_config(json, "ghcr.io", "ns/creds")
            .unwrap()
            .unwrap();
        assert_eq!(gh.password, "tok:with:colons");
        assert_eq!(
            from_docker_config(json, "quay.io", "ns/creds").unwrap(),
            None
        );
        assert!(!format!("{hub:?}").contains("s3cret"));
    }

    #[test]
    fn malformed_documents_name_the_secret() {
        for (json, needle) in [
            (&br#"not json"#[..], "not a docker config"),
            (br#"{"auths": {"r.io": {}}}"#, "neither"),
            (br#"{"auths": {"r.io": {"auth": "***"}}}"#, "not base64"),
            (
                br#"{"auths": {"r.io": {"auth": "bm9jb2xvbg=="}}}"#,
                "not 'user:password'",
            ),
        ] {
            let err = from_docker_config(json, "r.io", "ns/creds")
                .unwrap_err()
                .to_string();
            assert!(err.contains("'ns/creds'") && err.contains(needle), "{err}");
        }
    }
}
