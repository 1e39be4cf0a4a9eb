//! `spec.kubeConfig`: a client for another cluster, from a self-contained kubeconfig in a
//! Secret. Exec and auth-provider plugins and file paths are refused (the kubeconfig must not
//! make the controller run programs or read its own files), and `serviceAccountName` is
//! impersonated on the remote side.

use std::time::Duration;

use driftless_api::Kustomization;
use k8s_openapi::api::core::v1::Secret;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, ResourceExt};

use driftless_runtime::RequestLimit;

use crate::Error;
use crate::clients::ClientCache;
use crate::identity::Identity;

/// Largest kubeconfig accepted.
const MAX_KUBECONFIG_BYTES: usize = 256 * 1024;
/// How long to wait for a TCP/TLS connection to the remote API server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for a response.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A client for the remote cluster and the server it talks to (for messages).
pub struct Remote {
    /// The client (impersonating `serviceAccountName` when set).
    pub client: Client,
    /// The API server URL.
    pub server: String,
}

/// Everything in a kubeconfig that would make the controller run a program, read a file of
/// its own or send traffic through a proxy.
pub fn refused_fields(config: &Kubeconfig) -> Vec<String> {
    let mut refused = Vec::new();
    for named in &config.clusters {
        let Some(cluster) = &named.cluster else {
            continue;
        };
        let at = |field: &str| format!("clusters[{}].cluster.{field}", named.name);
        if cluster.certificate_authority.is_some() {
            refused.push(at("certificate-authority (a file path)"));
        }
        if cluster.proxy_url.is_some() {
            refused.push(at("proxy-url"));
        }
    }
    for named in &config.auth_infos {
        let Some(user) = &named.auth_info else {
            continue;
        };
        let at = |field: &str| format!("users[{}].user.{field}", named.name);
        if user.exec.is_some() {
            refused.push(at("exec (a credential plugin command)"));
        }
        if user.auth_provider.is_some() {
            refused.push(at("auth-provider"));
        }
        if user.token_file.is_some() {
            refused.push(at("tokenFile (a file path)"));
        }
        if user.client_certificate.is_some() {
            refused.push(at("client-certificate (a file path)"));
        }
        if user.client_key.is_some() {
            refused.push(at("client-key (a file path)"));
        }
    }
    refused
}

/// The kubeconfig bytes of the Secret: `key`, else `value`, else `value.yaml` (Flux's order).
fn kubeconfig_bytes(secret: &Secret, key: Option<&str>, what: &str) -> Result<Vec<u8>, Error> {
    let data = secret.data.clone().unwrap_or_default();
    let keys: Vec<&str> = match key {
        Some(k) if !k.is_empty() => vec![k],
        _ => vec!["value", "value.yaml"],
    };
    keys.iter()
        .find_map(|k| data.get(*k))
        .map(|v| v.0.clone())
        .ok_or_else(|| {
            Error::KubeConfig(format!(
                "{what} has no key {}",
                keys.iter()
                    .map(|k| format!("'{k}'"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ))
        })
}

/// Parses and checks a kubeconfig, and builds a client for its current context, acting as
/// `identity` there.
pub async fn client_from_kubeconfig(
    bytes: &[u8],
    identity: &Identity,
    limit: &RequestLimit,
    what: &str,
) -> Result<Remote, Error> {
    if bytes.len() > MAX_KUBECONFIG_BYTES {
        return Err(Error::KubeConfig(format!(
            "{what}: kubeconfig of {} bytes exceeds {MAX_KUBECONFIG_BYTES} bytes",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::KubeConfig(format!("{what}: kubeconfig is not UTF-8")))?;
    let kubeconfig = Kubeconfig::from_yaml(text)
        .map_err(|e| Error::KubeConfig(format!("{what}: invalid kubeconfig: {e}")))?;
    let refused = refused_fields(&kubeconfig);
    if !refused.is_empty() {
        return Err(Error::KubeConfig(format!(
            "{what}: kubeconfig refused, it must be self-contained (no exec or auth-provider plugins, no file paths, no proxy): {}",
            refused.join(", ")
        )));
    }
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| Error::KubeConfig(format!("{what}: unusable kubeconfig: {e}")))?;
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    if let Identity::ServiceAccount { namespace, name } = identity {
        // The same rule as on the local cluster: the account's name only, no groups.
        config.auth_info.impersonate = Some(format!("system:serviceaccount:{namespace}:{name}"));
        config.auth_info.impersonate_groups = None;
    }
    let server = config.cluster_url.to_string();
    let client = limit.client(config).map_err(|source| Error::Kube {
        action: format!("building a client for remote cluster {server}"),
        source,
    })?;
    Ok(Remote { client, server })
}

/// The remote cluster's client when `spec.kubeConfig` is set (the Secret read by the
/// controller in the Kustomization's namespace, as Flux does), checked to answer.
pub async fn remote_client(
    ks: &Kustomization,
    clients: &ClientCache,
    identity: &Identity,
) -> Result<Option<Remote>, Error> {
    let Some(reference) = &ks.spec.kube_config else {
        return Ok(None);
    };
    let namespace = ks.namespace().unwrap_or_default();
    let name = &reference.secret_ref.name;
    let what = format!("kubeConfig Secret '{namespace}/{name}'");
    let api: Api<Secret> = Api::namespaced(clients.controller().clone(), &namespace);
    let secret = api
        .get_opt(name)
        .await
        .map_err(|source| Error::Kube {
            action: format!("reading {what}"),
            source,
        })?
        .ok_or_else(|| Error::KubeConfig(format!("{what} not found")))?;
    let bytes = kubeconfig_bytes(&secret, reference.secret_ref.key.as_deref(), &what)?;
    let remote = client_from_kubeconfig(&bytes, identity, clients.limit(), &what).await?;
    // One cheap request first: an unreachable remote fails here, naming the server, before
    // anything is built, applied or pruned.
    remote.client.apiserver_version().await.map_err(|e| {
        Error::RemoteUnreachable(format!(
            "remote cluster {} is unreachable: {}",
            remote.server,
            driftless_apply::server_reason(&e)
        ))
    })?;
    Ok(Some(remote))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "apiVersion: v1
kind: Config
clusters:
- name: remote
  cluster:
    server: https://127.0.0.1:6443
    insecure-skip-tls-verify: true
contexts:
- name: remote
  context: {cluster: remote, user: admin}
current-context: remote
users:
- name: admin
  user:
";

    #[tokio::test]
    async fn self_contained_kubeconfigs_build_a_client() {
        let text = format!("{BASE}    token: abc\n");
        let remote = client_from_kubeconfig(
            text.as_bytes(),
            &Identity::ServiceAccount {
                namespace: "apps".into(),
                name: "deployer".into(),
            },
            &RequestLimit::new(1),
            "Secret x",
        )
        .await
        .unwrap();
        assert_eq!(remote.server, "https://127.0.0.1:6443/");
    }

    #[tokio::test]
    async fn exec_plugins_and_file_paths_are_refused() {
        for (user, needle) in [
            (
                "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: ['-c', 'id']\n",
                "exec",
            ),
            (
                "    auth-provider:\n      name: gcp\n      config: {cmd-path: /bin/sh}\n",
                "auth-provider",
            ),
            ("    tokenFile: /var/run/secrets/token\n", "tokenFile"),
            ("    client-key: /etc/key.pem\n", "client-key"),
        ] {
            let text = format!("{BASE}{user}");
            let err = client_from_kubeconfig(
                text.as_bytes(),
                &Identity::Controller,
                &RequestLimit::new(1),
                "Secret x",
            )
            .await
            .err()
            .expect("refused")
            .to_string();
            assert!(err.contains(needle) && err.contains("Secret x"), "{err}");
        }
        let huge = vec![b'#'; MAX_KUBECONFIG_BYTES + 1];
        let err = client_from_kubeconfig(
            &huge,
            &Identity::Controller,
            &RequestLimit::new(1),
            "Secret x",
        )
        .await
        .err()
        .expect("refused")
        .to_string();
        assert!(err.contains("exceeds"), "{err}");
    }
}
