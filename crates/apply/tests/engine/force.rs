//! An immutable field change fails without `force` and recreates the object with it.

use driftless_apply::{Action, ApplyError};
use serde_json::{Value, json};

use crate::support::{applier, get, options, owner, setup};

fn job(image: &str) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "main", "image": image}]}}}
    })
}

async fn live_uid(client: &kube::Client, ns: &str) -> String {
    get(client, "batch/v1", "Job", "jobs", Some(ns), "migrate")
        .await
        .expect("the Job exists")["metadata"]["uid"]
        .as_str()
        .expect("uid")
        .to_owned()
}

#[tokio::test]
async fn immutable_change_fails_without_force_and_recreates_with_it() {
    let (_plane, client, namespace) = setup("force").await;
    let ns = namespace.name();
    let engine = applier(&client);
    engine
        .apply(&owner(ns), vec![job("busybox:1.36")], &options(ns))
        .await
        .expect("create the Job");
    let first_uid = live_uid(&client, ns).await;

    let error = engine
        .apply(&owner(ns), vec![job("busybox:1.37")], &options(ns))
        .await
        .expect_err("an immutable change without force must fail");
    assert!(matches!(error, ApplyError::DryRunFailed { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains(&format!("Job/{ns}/migrate")), "{message}");
    assert!(message.contains("field is immutable"), "{message}");
    assert_eq!(
        live_uid(&client, ns).await,
        first_uid,
        "the Job was replaced without force"
    );

    let mut forced = options(ns);
    forced.force = true;
    let changes = engine
        .apply(&owner(ns), vec![job("busybox:1.37")], &forced)
        .await
        .expect("force recreates");
    assert_eq!(changes.changes[0].action, Action::Created);
    assert_ne!(
        live_uid(&client, ns).await,
        first_uid,
        "the Job was not recreated"
    );
    let live = get(&client, "batch/v1", "Job", "jobs", Some(ns), "migrate")
        .await
        .expect("Job");
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox:1.37"
    );
}
