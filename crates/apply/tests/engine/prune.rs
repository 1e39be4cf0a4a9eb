//! Prune deletes what left the set, except objects with prune disabled or taken over.

use driftless_apply::{PruneAction, diff};
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::support::{applier, config_map, get_config_map, options, owner, setup};

#[tokio::test]
async fn prune_deletes_stale_objects_and_keeps_protected_ones() {
    let (_plane, client, namespace) = setup("prune").await;
    let ns = namespace.name();
    let engine = applier(&client);
    let mut protected = config_map("protected", "p");
    protected["metadata"]["annotations"] = json!({"kustomize.driftless.dev/prune": "disabled"});
    let old = engine
        .apply(
            &owner(ns),
            vec![
                config_map("keep", "k"),
                config_map("stale", "s"),
                protected,
                config_map("taken", "t"),
            ],
            &options(ns),
        )
        .await
        .expect("first apply");
    // Another Kustomization takes `taken` over.
    kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), ns)
        .patch(
            "taken",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"kustomize.driftless.dev/name": "other"}}}),
            ),
        )
        .await
        .expect("relabel");
    let new = engine
        .apply(&owner(ns), vec![config_map("keep", "k")], &options(ns))
        .await
        .expect("second apply");

    let mut stale = diff(&old.inventory(), &new.inventory());
    // An entry whose object is already gone is not an error.
    stale.push(driftless_api::kustomize::ResourceRef::new(
        ns,
        "never-existed",
        "",
        "ConfigMap",
        "v1",
    ));
    let pruned = engine.prune(&owner(ns), &stale).await.expect("prune");
    let outcome: Vec<(String, PruneAction)> = pruned
        .into_iter()
        .map(|entry| (entry.object.name, entry.action))
        .collect();
    assert_eq!(
        outcome,
        [
            ("protected".to_owned(), PruneAction::KeptPruneDisabled),
            ("stale".to_owned(), PruneAction::Deleted),
            ("taken".to_owned(), PruneAction::KeptOwnedElsewhere),
            ("never-existed".to_owned(), PruneAction::AlreadyAbsent),
        ]
    );
    assert_eq!(
        get_config_map(&client, ns, "stale").await,
        None,
        "stale survived"
    );
    assert!(
        get_config_map(&client, ns, "protected").await.is_some(),
        "protected was deleted"
    );
    assert!(
        get_config_map(&client, ns, "taken").await.is_some(),
        "taken was deleted"
    );
    assert!(
        get_config_map(&client, ns, "keep").await.is_some(),
        "keep was deleted"
    );
}
