//! A Deployment is InProgress until it is rolled out, then Current.

use std::time::Duration;

use driftless_apply::{ApplyError, HealthStatus, ObjectRef};
use driftless_e2e::mark_deployment_available;

use crate::support::{applier, deployment, options, owner, setup};

#[tokio::test]
async fn deployment_becomes_current_once_available() {
    let (_plane, client, namespace) = setup("health").await;
    let ns = namespace.name();
    let engine = applier(&client);
    let applied = engine
        .apply(
            &owner(ns),
            vec![deployment("web", "nginx:1.27")],
            &options(ns),
        )
        .await
        .expect("apply");
    let objects: Vec<ObjectRef> = applied
        .changes
        .into_iter()
        .map(|change| change.object)
        .collect();
    assert_eq!(
        engine.health(&objects[0]).await.status,
        HealthStatus::InProgress
    );

    let error = engine
        .wait_healthy(&objects, Duration::from_millis(600))
        .await
        .expect_err("nothing rolls the Deployment out");
    let ApplyError::Unhealthy {
        failures, elapsed, ..
    } = &error
    else {
        panic!("expected an Unhealthy error, got {error}");
    };
    assert!(*elapsed >= Duration::from_millis(600), "{elapsed:?}");
    assert_eq!(failures.0.len(), 1);
    assert_eq!(failures.0[0].object, format!("Deployment/{ns}/web"));
    assert!(failures.0[0].reason.starts_with("InProgress"), "{error}");

    mark_deployment_available(&client, ns, "web")
        .await
        .expect("mark available");
    engine
        .wait_healthy(&objects, Duration::from_secs(10))
        .await
        .expect("Current once available");
    assert_eq!(
        engine.health(&objects[0]).await.status,
        HealthStatus::Current
    );

    let mut missing = objects[0].clone();
    missing.name = "absent".into();
    assert_eq!(engine.health(&missing).await.status, HealthStatus::NotFound);
}

#[tokio::test]
async fn a_failed_object_ends_the_wait_early() {
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::api::{Patch, PatchParams};
    use serde_json::json;

    let (_plane, client, namespace) = setup("health-failed").await;
    let ns = namespace.name();
    let engine = applier(&client);
    let applied = engine
        .apply(
            &owner(ns),
            vec![deployment("stuck", "nginx:1.27")],
            &options(ns),
        )
        .await
        .expect("apply");
    let objects: Vec<ObjectRef> = applied
        .changes
        .into_iter()
        .map(|change| change.object)
        .collect();
    let generation = kube::Api::<Deployment>::namespaced(client.clone(), ns)
        .get("stuck")
        .await
        .expect("get")
        .metadata
        .generation;
    kube::Api::<Deployment>::namespaced(client.clone(), ns)
        .patch_status(
            "stuck",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "observedGeneration": generation, "replicas": 1, "updatedReplicas": 1,
                "conditions": [{"type": "Progressing", "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": "ReplicaSet \"stuck-1\" has timed out progressing."}]}})),
        )
        .await
        .expect("write a failed status");

    let timeout = Duration::from_secs(30);
    let error = engine
        .wait_healthy(&objects, timeout)
        .await
        .expect_err("a Deployment past its deadline is not healthy");
    let ApplyError::Unhealthy {
        failures, elapsed, ..
    } = &error
    else {
        panic!("expected an Unhealthy error, got {error}");
    };
    assert!(
        *elapsed < Duration::from_secs(5),
        "did not fail fast: {elapsed:?}"
    );
    assert_eq!(failures.0[0].object, format!("Deployment/{ns}/stuck"));
    assert!(
        failures.0[0]
            .reason
            .starts_with("Failed: progress deadline exceeded"),
        "{error}"
    );
}
