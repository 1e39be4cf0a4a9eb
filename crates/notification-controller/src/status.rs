//! The Ready condition every notification kind reports, and reading Secrets.

use std::collections::BTreeMap;

use driftless_api::condition::{self, Status, reason};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::{Api, Client};

use crate::Error;

/// Sets Ready from `outcome` (`Ok(message)` or the error) on `conditions`.
pub fn set_ready(
    conditions: &mut Vec<Condition>,
    outcome: Result<&str, &Error>,
    generation: Option<i64>,
) {
    let now = Timestamp::now();
    match outcome {
        Ok(message) => condition::set_condition(
            conditions,
            condition::READY,
            Status::True,
            reason::SUCCEEDED,
            message,
            generation,
            now,
        ),
        Err(err) => condition::set_condition(
            conditions,
            condition::READY,
            Status::False,
            err.reason(),
            &err.to_string(),
            generation,
            now,
        ),
    }
}

/// The data of Secret `<namespace>/<name>`, named by `field` (e.g. `Provider ns/p
/// spec.secretRef`) in errors.
pub async fn secret_data(
    client: &Client,
    namespace: &str,
    name: &str,
    field: &str,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api.get_opt(name).await.map_err(|source| Error::Kube {
        action: format!("{field}: reading Secret {namespace}/{name}"),
        source,
    })?;
    let secret = secret
        .ok_or_else(|| Error::Secret(format!("{field}: Secret {namespace}/{name} not found")))?;
    Ok(secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}
