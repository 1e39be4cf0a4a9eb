//! One invalid object fails the dry-run of the whole set: nothing is applied.

use driftless_apply::ApplyError;
use serde_json::json;

use crate::support::{applier, config_map, get_config_map, options, owner, setup};

#[tokio::test]
async fn an_invalid_object_fails_the_dry_run_and_nothing_is_applied() {
    let (_plane, client, namespace) = setup("dry-run").await;
    let ns = namespace.name();
    let no_containers = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "broken"},
        "spec": {"selector": {"matchLabels": {"app": "broken"}},
                 "template": {"metadata": {"labels": {"app": "broken"}}, "spec": {"containers": []}}}
    });
    let unknown_kind =
        json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}});
    let set = vec![
        config_map("first", "a"),
        no_containers,
        unknown_kind,
        config_map("last", "b"),
    ];

    let error = applier(&client)
        .apply(&owner(ns), set, &options(ns))
        .await
        .expect_err("the dry-run must fail");
    let ApplyError::DryRunFailed { failures } = &error else {
        panic!("expected a dry-run failure, got {error}");
    };
    let objects: Vec<&str> = failures
        .0
        .iter()
        .map(|failure| failure.object.as_str())
        .collect();
    assert_eq!(
        objects,
        ["Gadget/g".to_owned(), format!("Deployment/{ns}/broken")]
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("Deployment/{ns}/broken")),
        "{message}"
    );
    assert!(message.contains("Invalid (422)"), "{message}");
    assert!(
        message.contains("spec.template.spec.containers"),
        "{message}"
    );
    assert!(
        message.contains("no API resource serves kind Gadget in example.com/v1"),
        "{message}"
    );
    assert_eq!(
        get_config_map(&client, ns, "first").await,
        None,
        "first was applied"
    );
    assert_eq!(
        get_config_map(&client, ns, "last").await,
        None,
        "last was applied"
    );
}

#[tokio::test]
async fn an_unknown_ssa_policy_names_the_object() {
    let (_plane, client, namespace) = setup("dry-run-policy").await;
    let ns = namespace.name();
    let mut manifest = config_map("odd", "a");
    manifest["metadata"]["annotations"] = json!({"kustomize.driftless.dev/ssa": "Replace"});
    let error = applier(&client)
        .apply(
            &owner(ns),
            vec![config_map("fine", "a"), manifest],
            &options(ns),
        )
        .await
        .expect_err("an unknown policy is refused");
    assert!(
        matches!(error, ApplyError::InvalidManifest { index: 1, .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("ConfigMap/odd"), "{message}");
    assert!(message.contains("\"Replace\""), "{message}");
    assert_eq!(get_config_map(&client, ns, "fine").await, None);
}
