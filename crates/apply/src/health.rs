//! Health of one object by kstatus rules, as a pure function of its JSON.

use std::fmt;

use serde_json::Value;

/// kstatus's summary of an object's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthStatus {
    /// Reconciled and healthy.
    Current,
    /// Still being reconciled (rolling out, waiting for the controller, ...).
    InProgress,
    /// Reconciliation failed and will not recover by waiting.
    Failed,
    /// The object does not exist.
    NotFound,
    /// The object could not be read.
    Unknown,
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Current => "Current",
            Self::InProgress => "InProgress",
            Self::Failed => "Failed",
            Self::NotFound => "NotFound",
            Self::Unknown => "Unknown",
        })
    }
}

/// A status and the reason for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The status.
    pub status: HealthStatus,
    /// Why, for humans.
    pub message: String,
}

impl Health {
    fn new(status: HealthStatus, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn current(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::Current, message)
    }

    fn in_progress(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::InProgress, message)
    }

    fn failed(message: impl Into<String>) -> Self {
        Self::new(HealthStatus::Failed, message)
    }
}

/// Health rules for kinds kstatus cannot judge (e.g. CEL expressions per group and kind).
pub trait CustomHealth: Send + Sync {
    /// The object's health, or `None` when these rules do not cover its kind (kstatus
    /// decides then).
    fn judge(&self, object: &Value) -> Option<Health>;
}

/// The kstatus status of an object.
pub fn status_of(object: &Value) -> HealthStatus {
    health_of(object).status
}

/// The kstatus status of an object and why.
///
/// Built-in kinds follow their controllers' status fields; any other object is judged by
/// `status.observedGeneration` and its `Stalled`/`Reconciling`/`Ready` conditions, and an
/// object without status is Current. As in kstatus, `Ready=False` alone means InProgress
/// (controllers set it while working); `Stalled=True` means Failed.
pub fn health_of(object: &Value) -> Health {
    let Some(kind) = object.get("kind").and_then(Value::as_str) else {
        return Health::new(HealthStatus::Unknown, "the object has no kind");
    };
    if object.pointer("/metadata/deletionTimestamp").is_some() {
        return Health::in_progress("being deleted");
    }
    let group = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|api_version| api_version.rsplit_once('/'))
        .map_or("", |(group, _)| group);
    if let Some(waiting) = generation_not_observed(object) {
        return waiting;
    }
    let status = object.get("status").unwrap_or(&Value::Null);
    match (group, kind) {
        ("apps", "Deployment") => deployment(object, status),
        ("apps", "StatefulSet") => stateful_set(object, status),
        ("apps", "DaemonSet") => daemon_set(object, status),
        ("apps", "ReplicaSet") => replica_set(object, status),
        ("batch", "Job") => job(status),
        ("", "Pod") => pod(status),
        ("", "PersistentVolumeClaim") => persistent_volume_claim(status),
        ("", "Service") => service(object, status),
        ("", "Namespace") => namespace(status),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(status),
        _ => generic(status),
    }
}

/// InProgress when the controller has not yet seen the latest spec. Built-in workloads
/// must report `observedGeneration`; other objects only when they have one.
fn generation_not_observed(object: &Value) -> Option<Health> {
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)?;
    let observed = object
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let workload = matches!(
        kind,
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
    ) && object.get("apiVersion").and_then(Value::as_str) == Some("apps/v1");
    match observed {
        Some(observed) if observed < generation => Some(Health::in_progress(format!(
            "generation {generation} not observed yet (observed {observed})"
        ))),
        None if workload => Some(Health::in_progress(format!(
            "generation {generation} not observed yet"
        ))),
        _ => None,
    }
}

fn int(value: &Value, pointer: &str) -> i64 {
    value.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn condition<'a>(status: &'a Value, kind: &str) -> Option<&'a Value> {
    status
        .get("conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|condition| condition.get("type").and_then(Value::as_str) == Some(kind))
}

fn condition_is(status: &Value, kind: &str, value: &str) -> bool {
    condition(status, kind)
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some(value)
}

fn condition_text<'a>(condition: &'a Value, field: &str) -> &'a str {
    condition
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn deployment(object: &Value, status: &Value) -> Health {
    let wanted = object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let mut progressing = false;
    if let Some(condition) = condition(status, "Progressing") {
        if condition_text(condition, "reason") == "ProgressDeadlineExceeded" {
            return Health::failed(format!(
                "progress deadline exceeded: {}",
                condition_text(condition, "message")
            ));
        }
        progressing = condition_text(condition, "status") == "True"
            && condition_text(condition, "reason") == "NewReplicaSetAvailable";
    }
    let replicas = int(status, "/replicas");
    let updated = int(status, "/updatedReplicas");
    let available = int(status, "/availableReplicas");
    let ready = int(status, "/readyReplicas");
    if replicas > wanted {
        return Health::in_progress(format!("pending termination: {replicas}/{wanted} replicas"));
    }
    if updated < wanted {
        return Health::in_progress(format!("updated: {updated}/{wanted}"));
    }
    if available < wanted {
        return Health::in_progress(format!("available: {available}/{wanted}"));
    }
    if ready < wanted {
        return Health::in_progress(format!("ready: {ready}/{wanted}"));
    }
    if !progressing {
        return Health::in_progress("the new ReplicaSet is not available yet");
    }
    if !condition_is(status, "Available", "True") {
        return Health::in_progress("the Deployment is not Available");
    }
    Health::current(format!("available, {wanted} replica(s)"))
}

fn rolling_update(object: &Value) -> bool {
    object
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        .is_none_or(|strategy| strategy == "RollingUpdate")
}

fn stateful_set(object: &Value, status: &Value) -> Health {
    if !rolling_update(object) {
        return Health::current("update strategy is not RollingUpdate");
    }
    let wanted = object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let partition = int(object, "/spec/updateStrategy/rollingUpdate/partition");
    let replicas = int(status, "/replicas");
    let ready = int(status, "/readyReplicas");
    let current = int(status, "/currentReplicas");
    let updated = int(status, "/updatedReplicas");
    if replicas > wanted {
        return Health::in_progress(format!("pending termination: {replicas}/{wanted} replicas"));
    }
    if ready < wanted {
        return Health::in_progress(format!("ready: {ready}/{wanted}"));
    }
    if partition > 0 {
        let expected = (wanted - partition).max(0);
        if updated < expected {
            return Health::in_progress(format!(
                "partitioned roll out: {updated}/{expected} updated"
            ));
        }
        return Health::current(format!("partitioned roll out complete: {updated} updated"));
    }
    if current < wanted {
        return Health::in_progress(format!("current: {current}/{wanted}"));
    }
    let current_revision = status.get("currentRevision");
    if current_revision != status.get("updateRevision") {
        return Health::in_progress("waiting for the update revision to become current");
    }
    Health::current(format!("all {wanted} replica(s) ready and current"))
}

fn daemon_set(object: &Value, status: &Value) -> Health {
    if !rolling_update(object) {
        return Health::current("update strategy is not RollingUpdate");
    }
    let desired = int(status, "/desiredNumberScheduled");
    for (field, label) in [
        ("/currentNumberScheduled", "scheduled"),
        ("/updatedNumberScheduled", "updated"),
        ("/numberAvailable", "available"),
        ("/numberReady", "ready"),
    ] {
        let count = int(status, field);
        if count < desired {
            return Health::in_progress(format!("{label}: {count}/{desired}"));
        }
    }
    Health::current(format!("all {desired} pod(s) scheduled, updated and ready"))
}

fn replica_set(object: &Value, status: &Value) -> Health {
    if condition_is(status, "ReplicaFailure", "True") {
        return Health::in_progress("replica failure");
    }
    let wanted = object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    for (field, label) in [
        ("/fullyLabeledReplicas", "labelled"),
        ("/availableReplicas", "available"),
        ("/readyReplicas", "ready"),
    ] {
        let count = int(status, field);
        if count < wanted {
            return Health::in_progress(format!("{label}: {count}/{wanted}"));
        }
    }
    let replicas = int(status, "/replicas");
    if replicas > wanted {
        return Health::in_progress(format!("pending termination: {replicas}/{wanted} replicas"));
    }
    Health::current(format!("{wanted} replica(s) ready"))
}

fn job(status: &Value) -> Health {
    if let Some(failed) =
        condition(status, "Failed").filter(|c| condition_text(c, "status") == "True")
    {
        return Health::failed(format!(
            "job failed: {} {}",
            condition_text(failed, "reason"),
            condition_text(failed, "message")
        ));
    }
    if condition_is(status, "Complete", "True") {
        return Health::current("job completed");
    }
    Health::in_progress(format!(
        "job not complete: active {}, succeeded {}, failed {}",
        int(status, "/active"),
        int(status, "/succeeded"),
        int(status, "/failed")
    ))
}

fn pod(status: &Value) -> Health {
    match status
        .get("phase")
        .and_then(Value::as_str)
        .unwrap_or_default()
    {
        "Succeeded" => Health::current("pod completed"),
        "Failed" => Health::failed("pod failed"),
        "Running" if condition_is(status, "Ready", "True") => {
            Health::current("pod running and ready")
        }
        "Running" => Health::in_progress("pod running, not ready"),
        phase => {
            if let Some(waiting) = status
                .get("containerStatuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|container| container.pointer("/state/waiting/reason"))
                .filter_map(Value::as_str)
                .find(|reason| *reason == "CrashLoopBackOff" || reason.contains("ImagePull"))
            {
                return Health::failed(format!("container waiting: {waiting}"));
            }
            if let Some(unschedulable) = condition(status, "PodScheduled")
                .filter(|c| condition_text(c, "reason") == "Unschedulable")
            {
                return Health::failed(format!(
                    "pod unschedulable: {}",
                    condition_text(unschedulable, "message")
                ));
            }
            Health::in_progress(format!("pod phase {phase:?}"))
        }
    }
}

fn persistent_volume_claim(status: &Value) -> Health {
    match status.get("phase").and_then(Value::as_str) {
        Some("Bound") => Health::current("bound"),
        phase => Health::in_progress(format!("not bound (phase {})", phase.unwrap_or("none"))),
    }
}

fn service(object: &Value, status: &Value) -> Health {
    if object.pointer("/spec/type").and_then(Value::as_str) != Some("LoadBalancer") {
        return Health::current("service ready");
    }
    let has_ingress = status
        .pointer("/loadBalancer/ingress")
        .and_then(Value::as_array)
        .is_some_and(|ingress| !ingress.is_empty());
    if has_ingress {
        Health::current("load balancer ready")
    } else {
        Health::in_progress("waiting for a load balancer address")
    }
}

fn namespace(status: &Value) -> Health {
    match status.get("phase").and_then(Value::as_str) {
        Some("Active") => Health::current("namespace active"),
        Some("Terminating") => Health::in_progress("namespace terminating"),
        phase => Health::in_progress(format!("namespace phase {}", phase.unwrap_or("none"))),
    }
}

fn crd(status: &Value) -> Health {
    if condition_is(status, "Established", "True") {
        return Health::current("established");
    }
    if let Some(names) =
        condition(status, "NamesAccepted").filter(|c| condition_text(c, "status") == "False")
    {
        return Health::failed(format!(
            "names not accepted: {}",
            condition_text(names, "message")
        ));
    }
    Health::in_progress("not established yet")
}

fn generic(status: &Value) -> Health {
    if let Some(stalled) =
        condition(status, "Stalled").filter(|c| condition_text(c, "status") == "True")
    {
        return Health::failed(format!(
            "stalled: {} {}",
            condition_text(stalled, "reason"),
            condition_text(stalled, "message")
        ));
    }
    if let Some(reconciling) =
        condition(status, "Reconciling").filter(|c| condition_text(c, "status") == "True")
    {
        return Health::in_progress(format!(
            "reconciling: {} {}",
            condition_text(reconciling, "reason"),
            condition_text(reconciling, "message")
        ));
    }
    match condition(status, "Ready") {
        Some(ready) if condition_text(ready, "status") == "True" => Health::current("Ready"),
        Some(ready) => Health::in_progress(format!(
            "not Ready: {} {}",
            condition_text(ready, "reason"),
            condition_text(ready, "message")
        )),
        None => Health::current("no Ready condition to wait for"),
    }
}

#[cfg(test)]
mod tests;
