//! Deployment status written by hand, as envtest-based suites do: with no
//! kube-controller-manager and no kubelet, nothing else ever writes it.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use crate::error::{Error, Result};

/// Marks Deployment `namespace/name` rolled out and available: observed
/// generation = generation, all `spec.replicas` (default 1) updated, ready and
/// available, conditions `Available` and `Progressing` true.
pub async fn mark_deployment_available(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Deployment> {
    let api = Api::<Deployment>::namespaced(client.clone(), namespace);
    let object = format!("deployment {namespace}/{name}");
    let deployment = api
        .get(name)
        .await
        .map_err(Error::kube(format!("get {object}")))?;
    let replicas = deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.replicas)
        .unwrap_or(1);
    let status = json!({
        "status": {
            "observedGeneration": deployment.metadata.generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "MinimumReplicasAvailable",
                    "message": "Deployment has minimum availability.",
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable",
                    "message": format!("ReplicaSet \"{name}\" has successfully progressed."),
                },
            ],
        }
    });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .map_err(Error::kube(format!("write the status of {object}")))
}
