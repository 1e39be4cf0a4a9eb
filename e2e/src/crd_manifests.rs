//! CustomResourceDefinitions read from YAML files, and waiting for them to
//! be served.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{Api, Client};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::poll::poll_until;

/// Every CustomResourceDefinition in the `*.yaml`/`*.yml` files of `dir`
/// (multi-document files included; other kinds are skipped), in file order.
pub fn load_crds(dir: &Path) -> Result<Vec<CustomResourceDefinition>> {
    let entries = std::fs::read_dir(dir).map_err(Error::io("read directory", dir))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(Error::io("read directory", dir))?.path();
        if matches!(
            path.extension().and_then(|ext| ext.to_str()),
            Some("yaml" | "yml")
        ) {
            files.push(path);
        }
    }
    files.sort();
    let mut crds = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(Error::io("read", &file))?;
        for (index, document) in serde_norway::Deserializer::from_str(&text).enumerate() {
            let name = format!("{} (document {index})", file.display());
            let value =
                serde_json::Value::deserialize(document).map_err(|error| Error::Document {
                    document: name.clone(),
                    detail: error.to_string(),
                })?;
            if value.get("kind").and_then(|kind| kind.as_str()) != Some("CustomResourceDefinition")
            {
                continue;
            }
            let crd = serde_json::from_value(value).map_err(|error| Error::Document {
                document: name,
                detail: error.to_string(),
            })?;
            crds.push(crd);
        }
    }
    Ok(crds)
}

/// Polls CRD `name` until its `Established` condition is `True`.
pub async fn wait_established(
    client: &Client,
    name: &str,
    timeout: Duration,
) -> Result<CustomResourceDefinition> {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    poll_until(&format!("CRD {name} Established"), timeout, || {
        let api = api.clone();
        async move {
            let crd = api
                .get(name)
                .await
                .map_err(Error::kube(format!("get CRD {name}")))?;
            let established = crd
                .status
                .as_ref()
                .and_then(|status| status.conditions.as_ref())
                .is_some_and(|conditions| {
                    conditions.iter().any(|condition| {
                        condition.type_ == "Established" && condition.status == "True"
                    })
                });
            Ok(established.then_some(crd))
        }
    })
    .await
}
