//! `spec.secretRef` → git credentials. Secret values never reach logs, events or status.

use driftless_source::{BasicAuth, GitAuth};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use crate::Error;

/// Reads the secret `name` in `namespace` and turns its keys into [`GitAuth`]
/// (`username`/`password`, `bearerToken`, `ca.crt`/`caFile`, `identity`, `known_hosts`).
pub async fn load(client: &Client, namespace: &str, name: &str) -> Result<GitAuth, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api.get_opt(name).await.map_err(|source| Error::Kube {
        action: format!("reading Secret {namespace}/{name}"),
        source,
    })?;
    let secret = secret.ok_or_else(|| {
        Error::Credentials(format!(
            "secret '{namespace}/{name}' named by spec.secretRef not found"
        ))
    })?;
    from_secret(&secret, name)
}

/// Pure part of [`load`].
pub fn from_secret(secret: &Secret, name: &str) -> Result<GitAuth, Error> {
    let data = secret.data.clone().unwrap_or_default();
    let get = |key: &str| data.get(key).map(|v| v.0.clone());
    let text = |key: &str| -> Result<Option<String>, Error> {
        get(key)
            .map(|v| {
                String::from_utf8(v).map_err(|_| {
                    Error::Credentials(format!("secret '{name}': key '{key}' is not UTF-8"))
                })
            })
            .transpose()
    };
    let basic = match (text("username")?, text("password")?) {
        (Some(username), Some(password)) => Some(BasicAuth { username, password }),
        (None, None) => None,
        _ => {
            return Err(Error::Credentials(format!(
                "secret '{name}': basic auth needs both 'username' and 'password'"
            )));
        }
    };
    let auth = GitAuth {
        basic,
        bearer_token: text("bearerToken")?,
        ca_bundle: get("ca.crt").or_else(|| get("caFile")),
        ssh_identity: get("identity"),
        known_hosts: get("known_hosts"),
    };
    if auth == GitAuth::default() {
        return Err(Error::Credentials(format!(
            "secret '{name}' has none of the keys username/password, bearerToken, ca.crt, identity"
        )));
    }
    Ok(auth)
}

/// Reads the Secret `name` named by `spec.verify.secretRef` and parses its trusted keys.
pub async fn load_trusted_keys(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<driftless_source::TrustedKeys, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api.get_opt(name).await.map_err(|source| Error::Kube {
        action: format!("reading Secret {namespace}/{name}"),
        source,
    })?;
    let secret = secret.ok_or_else(|| {
        Error::Verification(format!(
            "secret '{namespace}/{name}' named by spec.verify.secretRef not found"
        ))
    })?;
    let entries: Vec<(String, Vec<u8>)> = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    driftless_source::TrustedKeys::from_entries(&entries).map_err(|why| {
        Error::Verification(format!(
            "secret '{namespace}/{name}' (spec.verify.secretRef): {why}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn reads_basic_auth_and_ca() {
        let auth = from_secret(
            &secret(&[
                ("username", "git"),
                ("password", "s3cret"),
                ("ca.crt", "PEM"),
            ]),
            "creds",
        )
        .unwrap();
        assert_eq!(auth.basic.as_ref().unwrap().username, "git");
        assert_eq!(auth.ca_bundle.as_deref(), Some(&b"PEM"[..]));
        assert!(
            !format!("{auth:?}").contains("s3cret"),
            "Debug must redact the password"
        );
    }

    #[test]
    fn half_basic_auth_and_empty_secrets_are_errors_naming_the_secret() {
        let err = from_secret(&secret(&[("username", "git")]), "creds").unwrap_err();
        assert!(
            err.to_string().contains("'creds'") && err.to_string().contains("password"),
            "{err}"
        );
        let err = from_secret(&secret(&[("other", "x")]), "creds").unwrap_err();
        assert!(err.to_string().contains("'creds'"), "{err}");
    }
}
