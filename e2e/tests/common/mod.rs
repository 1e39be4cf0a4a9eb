//! Helpers shared by the GitOps end-to-end tests.
#![allow(dead_code)]

use std::time::Duration;

use driftless_api::condition;
use driftless_api::{GitRepository, Kustomization};
use driftless_e2e::{Error, poll_until};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

pub mod node_run;

/// Generous deadline for anything the controllers do (they usually take well under a second).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Pulling, starting and probing pods on the node cluster: generous for a busy 2-core machine.
pub const ROLLOUT_DEADLINE: Duration = Duration::from_secs(180);

/// [`driftless_e2e::wait_rollout`] within [`ROLLOUT_DEADLINE`]: a Ready pod of the rolled
/// out Deployment; panics with the namespace's events on the deadline.
pub async fn rollout(
    client: &Client,
    namespace: &str,
    name: &str,
) -> k8s_openapi::api::core::v1::Pod {
    driftless_e2e::wait_rollout(client, namespace, name, ROLLOUT_DEADLINE)
        .await
        .unwrap_or_else(|error| panic!("{error}"))
}

/// Creates or updates `object` (YAML) with server-side apply as the test.
pub async fn apply_yaml<K>(api: &Api<K>, yaml: &str) -> K
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let value: serde_json::Value = serde_norway::from_str(yaml).expect("test YAML parses");
    let name = value["metadata"]["name"]
        .as_str()
        .expect("metadata.name")
        .to_owned();
    api.patch(
        &name,
        &PatchParams::apply("e2e-test").force(),
        &Patch::Apply(&value),
    )
    .await
    .unwrap_or_else(|e| panic!("applying {name}: {e}"))
}

/// The Ready condition of a list of conditions.
pub fn ready_of(conditions: &[Condition]) -> Option<Condition> {
    condition::find(conditions, condition::READY).cloned()
}

/// Polls any object until `check` holds on it; on the deadline, panics with its status.
pub async fn wait_for<K>(api: &Api<K>, name: &str, what: &str, check: impl Fn(&K) -> bool) -> K
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + serde::Serialize,
    K: std::fmt::Debug,
{
    let kind = K::kind(&());
    let polled = poll_until(what, DEADLINE, || async {
        let object = api
            .get(name)
            .await
            .map_err(Error::kube(format!("get {kind} {name}")))?;
        Ok(check(&object).then_some(object))
    })
    .await;
    match polled {
        Ok(object) => object,
        Err(e) => {
            let last = api
                .get(name)
                .await
                .ok()
                .and_then(|o| serde_json::to_value(&o).ok())
                .map(|o| o["status"].clone());
            panic!("{e}\nlast status of {kind} {name}: {last:#?}")
        }
    }
}

/// [`wait_for`] a GitRepository.
pub async fn wait_repo(
    api: &Api<GitRepository>,
    name: &str,
    what: &str,
    check: impl Fn(&GitRepository) -> bool,
) -> GitRepository {
    wait_for(api, name, what, check).await
}

/// [`wait_for`] a Kustomization.
pub async fn wait_ks(
    api: &Api<Kustomization>,
    name: &str,
    what: &str,
    check: impl Fn(&Kustomization) -> bool,
) -> Kustomization {
    wait_for(api, name, what, check).await
}

/// The revision of a GitRepository's artifact.
pub fn artifact_revision(repo: &GitRepository) -> Option<String> {
    repo.status
        .as_ref()?
        .artifact
        .as_ref()
        .map(|a| a.revision.clone())
}

/// Ready=True with the given applied revision.
pub fn applied(ks: &Kustomization, revision: &str) -> bool {
    let Some(status) = ks.status.as_ref() else {
        return false;
    };
    condition::is_ready(&status.conditions)
        && status.last_applied_revision.as_deref() == Some(revision)
}

/// Ready=False with a message containing `needle`.
pub fn failing_with(conditions: Option<&[Condition]>, needle: &str) -> bool {
    conditions
        .and_then(ready_of)
        .is_some_and(|r| r.status == "False" && r.message.contains(needle))
}

/// Applies every CRD of `crds/` and waits until they are Established.
pub async fn install_crds(client: &Client) {
    let crds = driftless_e2e::load_crds(&driftless_e2e::crds_dir()).expect("crds/ loads");
    let api: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    for crd in &crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(
            &name,
            &PatchParams::apply("e2e-test").force(),
            &Patch::Apply(crd),
        )
        .await
        .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
    }
    for crd in &crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        driftless_e2e::wait_established(client, &name, DEADLINE)
            .await
            .expect("CRD established");
    }
}
