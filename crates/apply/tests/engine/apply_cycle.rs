//! Created, then unchanged, then configured.

use driftless_apply::{Action, Owner};

use crate::support::{
    applier, config_map, deployment, get, get_config_map, options, owner, service, setup,
};

#[tokio::test]
async fn apply_reports_created_then_unchanged_then_configured() {
    let (_plane, client, namespace) = setup("apply-cycle").await;
    let ns = namespace.name();
    let engine = applier(&client);
    let set = || {
        vec![
            config_map("settings", "one"),
            deployment("web", "nginx:1.27"),
            service("web"),
        ]
    };

    let first = engine
        .apply(&owner(ns), set(), &options(ns))
        .await
        .expect("first apply");
    let summary: Vec<String> = first
        .changes
        .iter()
        .map(|change| format!("{} {}", change.object, change.action))
        .collect();
    assert_eq!(
        summary,
        [
            format!("ConfigMap/{ns}/settings created"),
            format!("Deployment/{ns}/web created"),
            format!("Service/{ns}/web created"),
        ]
    );
    let ids: Vec<String> = first
        .inventory()
        .into_iter()
        .map(|entry| entry.id)
        .collect();
    assert_eq!(
        ids,
        [
            format!("{ns}_settings__ConfigMap"),
            format!("{ns}_web__Service"),
            format!("{ns}_web_apps_Deployment"),
        ]
    );
    let live = get(
        &client,
        "apps/v1",
        "Deployment",
        "deployments",
        Some(ns),
        "web",
    )
    .await
    .expect("Deployment created");
    assert_eq!(Owner::from_labels(&live), Some(owner(ns)));
    let managers: Vec<&str> = live["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .filter_map(|entry| entry["manager"].as_str())
        .collect();
    assert!(managers.contains(&"driftless"), "managers: {managers:?}");
    let version_before = live["metadata"]["resourceVersion"].clone();

    let second = engine
        .apply(&owner(ns), set(), &options(ns))
        .await
        .expect("second apply");
    assert!(
        second
            .changes
            .iter()
            .all(|change| change.action == Action::Unchanged),
        "{:?}",
        second.changes
    );
    let live = get(
        &client,
        "apps/v1",
        "Deployment",
        "deployments",
        Some(ns),
        "web",
    )
    .await
    .expect("Deployment still there");
    assert_eq!(
        live["metadata"]["resourceVersion"], version_before,
        "an unchanged apply wrote"
    );

    let changed = vec![
        config_map("settings", "two"),
        deployment("web", "nginx:1.27"),
        service("web"),
    ];
    let third = engine
        .apply(&owner(ns), changed, &options(ns))
        .await
        .expect("third apply");
    let actions: Vec<Action> = third.changes.iter().map(|change| change.action).collect();
    assert_eq!(
        actions,
        [Action::Configured, Action::Unchanged, Action::Unchanged]
    );
    let settings = get_config_map(&client, ns, "settings")
        .await
        .expect("ConfigMap");
    assert_eq!(settings["data"]["key"], "two");
}
