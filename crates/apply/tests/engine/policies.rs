//! The `kustomize.driftless.dev/ssa` annotation: IfNotPresent, Ignore, Merge.

use driftless_apply::{Action, ApplyError};
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::support::{applier, config_map, get_config_map, options, owner, setup};

#[tokio::test]
async fn if_not_present_and_ignore_leave_live_objects_alone() {
    let (_plane, client, namespace) = setup("ssa-policy").await;
    let ns = namespace.name();
    let engine = applier(&client);
    let annotated = |name: &str, value: &str, policy: &str| {
        let mut manifest = config_map(name, value);
        manifest["metadata"]["annotations"] = json!({"kustomize.driftless.dev/ssa": policy});
        manifest
    };
    let first = engine
        .apply(
            &owner(ns),
            vec![
                annotated("once", "a", "IfNotPresent"),
                annotated("ignored", "a", "Ignore"),
            ],
            &options(ns),
        )
        .await
        .expect("first apply");
    let actions: Vec<Action> = first.changes.iter().map(|change| change.action).collect();
    assert_eq!(actions, [Action::Created, Action::Skipped]);
    assert_eq!(get_config_map(&client, ns, "ignored").await, None);

    let second = engine
        .apply(
            &owner(ns),
            vec![annotated("once", "b", "IfNotPresent")],
            &options(ns),
        )
        .await
        .expect("second apply");
    assert_eq!(second.changes[0].action, Action::Skipped);
    let live = get_config_map(&client, ns, "once").await.expect("once");
    assert_eq!(live["data"]["key"], "a");
}

#[tokio::test]
async fn merge_does_not_take_fields_from_other_managers() {
    let (_plane, client, namespace) = setup("ssa-merge").await;
    let ns = namespace.name();
    let engine = applier(&client);
    // Someone else owns data.key.
    kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), ns)
        .patch(
            "shared",
            &PatchParams::apply("kubectl"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "shared"}, "data": {"key": "theirs"}})),
        )
        .await
        .expect("another manager applies");

    let mut merge = config_map("shared", "ours");
    merge["metadata"]["annotations"] = json!({"kustomize.driftless.dev/ssa": "Merge"});
    let error = engine
        .apply(&owner(ns), vec![merge], &options(ns))
        .await
        .expect_err("Merge must not take over data.key");
    let message = error.to_string();
    assert!(
        matches!(error, ApplyError::DryRunFailed { .. }),
        "{message}"
    );
    assert!(
        message.contains(&format!("ConfigMap/{ns}/shared")),
        "{message}"
    );
    assert!(message.contains("Conflict (409)"), "{message}");

    let changes = engine
        .apply(&owner(ns), vec![config_map("shared", "ours")], &options(ns))
        .await
        .expect("Override takes ownership");
    assert_eq!(changes.changes[0].action, Action::Configured);
    let live = get_config_map(&client, ns, "shared").await.expect("shared");
    assert_eq!(live["data"]["key"], "ours");
}
