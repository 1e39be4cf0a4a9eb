//! `spec.secretRef` of an ImageRepository → registry credentials. Secret values never reach
//! logs, events or status.

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use crate::Error;
use crate::registry::{RegistryCredentials, from_docker_config};

/// Reads `namespace/name` (a `kubernetes.io/dockerconfigjson` Secret) and returns its entry
/// for `registry`. A secret without an entry for the registry is an error: the user meant
/// these credentials for this image.
pub async fn load(
    client: &Client,
    namespace: &str,
    name: &str,
    registry: &str,
) -> Result<RegistryCredentials, Error> {
    let secret_name = format!("{namespace}/{name}");
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api
        .get_opt(name)
        .await
        .map_err(|source| Error::Kube {
            action: format!("reading Secret {secret_name}"),
            source,
        })?
        .ok_or_else(|| Error::Credentials {
            secret: secret_name.clone(),
            reason: "not found (named by spec.secretRef)".into(),
        })?;
    let data = secret.data.unwrap_or_default();
    let json = data
        .get(".dockerconfigjson")
        .ok_or_else(|| Error::Credentials {
            secret: secret_name.clone(),
            reason: "has no key '.dockerconfigjson' (expected type kubernetes.io/dockerconfigjson)"
                .into(),
        })?;
    from_docker_config(&json.0, registry, &secret_name)?.ok_or_else(|| Error::Credentials {
        secret: secret_name,
        reason: format!("has no entry for registry '{registry}'"),
    })
}
