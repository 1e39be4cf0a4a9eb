//! Health of each kind from JSON fixtures.

use serde_json::{Value, json};

use super::*;

fn deployment(status: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "apps", "generation": 2},
        "spec": {"replicas": 2},
        "status": status
    })
}

fn available_deployment_status() -> Value {
    json!({
        "observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
        "readyReplicas": 2, "availableReplicas": 2,
        "conditions": [
            {"type": "Available", "status": "True"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
        ]
    })
}

#[test]
fn deployment_is_current_only_when_rolled_out_and_available() {
    assert_eq!(
        status_of(&deployment(available_deployment_status())),
        HealthStatus::Current
    );

    let fresh = deployment(json!(null));
    let health = health_of(&fresh);
    assert_eq!(health.status, HealthStatus::InProgress);
    assert!(
        health.message.contains("generation 2"),
        "{}",
        health.message
    );

    let mut old_generation = available_deployment_status();
    old_generation["observedGeneration"] = json!(1);
    assert_eq!(
        status_of(&deployment(old_generation)),
        HealthStatus::InProgress
    );

    let mut rolling = available_deployment_status();
    rolling["updatedReplicas"] = json!(1);
    assert_eq!(health_of(&deployment(rolling)).message, "updated: 1/2");

    let mut unavailable = available_deployment_status();
    unavailable["availableReplicas"] = json!(1);
    assert_eq!(
        status_of(&deployment(unavailable)),
        HealthStatus::InProgress
    );

    let mut no_available_condition = available_deployment_status();
    no_available_condition["conditions"][0]["status"] = json!("False");
    assert_eq!(
        status_of(&deployment(no_available_condition)),
        HealthStatus::InProgress
    );

    let mut surplus = available_deployment_status();
    surplus["replicas"] = json!(3);
    assert_eq!(status_of(&deployment(surplus)), HealthStatus::InProgress);
}

#[test]
fn deployment_past_its_progress_deadline_failed() {
    let mut stuck = available_deployment_status();
    stuck["availableReplicas"] = json!(0);
    stuck["conditions"][1] = json!({"type": "Progressing", "status": "False",
        "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet web-1 has timed out"});
    let health = health_of(&deployment(stuck));
    assert_eq!(health.status, HealthStatus::Failed);
    assert!(health.message.contains("timed out"), "{}", health.message);
}

#[test]
fn stateful_set_waits_for_ready_current_replicas() {
    let set = |status: Value| {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "generation": 1}, "spec": {"replicas": 3}, "status": status})
    };
    let done = json!({"observedGeneration": 1, "replicas": 3, "readyReplicas": 3,
        "currentReplicas": 3, "updatedReplicas": 3, "currentRevision": "r2", "updateRevision": "r2"});
    assert_eq!(status_of(&set(done.clone())), HealthStatus::Current);
    let mut not_ready = done.clone();
    not_ready["readyReplicas"] = json!(2);
    assert_eq!(status_of(&set(not_ready)), HealthStatus::InProgress);
    let mut rolling = done;
    rolling["updateRevision"] = json!("r3");
    assert_eq!(status_of(&set(rolling)), HealthStatus::InProgress);
}

#[test]
fn daemon_set_waits_for_every_node() {
    let set = |available: i64| {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "generation": 4},
            "status": {"observedGeneration": 4, "desiredNumberScheduled": 3,
                "currentNumberScheduled": 3, "updatedNumberScheduled": 3,
                "numberAvailable": available, "numberReady": 3}})
    };
    assert_eq!(status_of(&set(3)), HealthStatus::Current);
    assert_eq!(health_of(&set(2)).message, "available: 2/3");
}

#[test]
fn replica_set_waits_for_available_replicas() {
    let set = |available: i64| {
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-1", "generation": 1}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "replicas": 2, "fullyLabeledReplicas": 2,
                "availableReplicas": available, "readyReplicas": 2}})
    };
    assert_eq!(status_of(&set(2)), HealthStatus::Current);
    assert_eq!(status_of(&set(1)), HealthStatus::InProgress);
}

#[test]
fn job_follows_complete_and_failed_conditions() {
    let job = |conditions: Value| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
            "status": {"active": 1, "conditions": conditions}})
    };
    assert_eq!(status_of(&job(json!([]))), HealthStatus::InProgress);
    assert_eq!(
        status_of(&job(json!([{"type": "Complete", "status": "True"}]))),
        HealthStatus::Current
    );
    let failed = health_of(&job(json!([{"type": "Failed", "status": "True",
        "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}])));
    assert_eq!(failed.status, HealthStatus::Failed);
    assert!(
        failed.message.contains("BackoffLimitExceeded"),
        "{}",
        failed.message
    );
}

#[test]
fn pod_phases() {
    let pod = |status: Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "status": status});
    assert_eq!(
        status_of(&pod(json!({"phase": "Succeeded"}))),
        HealthStatus::Current
    );
    assert_eq!(
        status_of(&pod(json!({"phase": "Failed"}))),
        HealthStatus::Failed
    );
    assert_eq!(
        status_of(&pod(
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})
        )),
        HealthStatus::Current
    );
    assert_eq!(
        status_of(&pod(json!({"phase": "Running"}))),
        HealthStatus::InProgress
    );
    assert_eq!(
        status_of(&pod(json!({"phase": "Pending"}))),
        HealthStatus::InProgress
    );
    assert_eq!(
        status_of(&pod(json!({"phase": "Pending", "containerStatuses": [
            {"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}))),
        HealthStatus::Failed
    );
}

#[test]
fn claims_services_namespaces_and_crds() {
    let claim = |phase: &str| {
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"}, "status": {"phase": phase}})
    };
    assert_eq!(status_of(&claim("Bound")), HealthStatus::Current);
    assert_eq!(status_of(&claim("Pending")), HealthStatus::InProgress);

    let cluster_ip = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"type": "ClusterIP"}, "status": {}});
    assert_eq!(status_of(&cluster_ip), HealthStatus::Current);
    let mut balancer = cluster_ip.clone();
    balancer["spec"]["type"] = json!("LoadBalancer");
    assert_eq!(status_of(&balancer), HealthStatus::InProgress);
    balancer["status"] = json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}});
    assert_eq!(status_of(&balancer), HealthStatus::Current);

    let namespace = |phase: &str| {
        json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "apps"}, "status": {"phase": phase}})
    };
    assert_eq!(status_of(&namespace("Active")), HealthStatus::Current);
    assert_eq!(
        status_of(&namespace("Terminating")),
        HealthStatus::InProgress
    );

    let crd = |conditions: Value| {
        json!({"apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com", "generation": 1},
        "status": {"conditions": conditions}})
    };
    assert_eq!(
        status_of(&crd(json!([{"type": "Established", "status": "True"}]))),
        HealthStatus::Current
    );
    assert_eq!(
        status_of(&crd(json!([{"type": "Established", "status": "False"}]))),
        HealthStatus::InProgress
    );
    assert_eq!(
        status_of(&crd(
            json!([{"type": "NamesAccepted", "status": "False", "message": "clash"}])
        )),
        HealthStatus::Failed
    );
}

#[test]
fn custom_resources_follow_their_conditions() {
    let resource = |generation: i64, status: Value| {
        json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "generation": generation}, "status": status})
    };
    let ready =
        json!({"observedGeneration": 3, "conditions": [{"type": "Ready", "status": "True"}]});
    assert_eq!(
        status_of(&resource(3, ready.clone())),
        HealthStatus::Current
    );
    assert_eq!(status_of(&resource(4, ready)), HealthStatus::InProgress);
    assert_eq!(
        status_of(&resource(
            1,
            json!({"conditions": [{"type": "Ready", "status": "False"}]})
        )),
        HealthStatus::InProgress
    );
    assert_eq!(
        status_of(&resource(
            1,
            json!({"conditions": [
            {"type": "Ready", "status": "False"}, {"type": "Stalled", "status": "True", "reason": "BuildFailed"}]})
        )),
        HealthStatus::Failed
    );
    assert_eq!(status_of(&resource(1, json!(null))), HealthStatus::Current);
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    assert_eq!(status_of(&config_map), HealthStatus::Current);
}

#[test]
fn deleted_or_kindless_objects() {
    let deleting = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "deletionTimestamp": "2026-01-01T00:00:00Z"}});
    assert_eq!(status_of(&deleting), HealthStatus::InProgress);
    assert_eq!(status_of(&json!({"metadata": {}})), HealthStatus::Unknown);
}
