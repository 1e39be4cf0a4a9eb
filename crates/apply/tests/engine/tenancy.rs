//! An impersonated tenant cannot write outside its namespace, and nothing of its set is
//! applied when one object is refused.

use driftless_apply::ApplyError;
use driftless_e2e::TestNamespace;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use serde_json::json;

use crate::support::{applier, config_map, get_config_map, options, owner, setup};

#[tokio::test]
async fn tenant_refused_in_another_namespace_applies_nothing() {
    let (plane, admin, namespace) = setup("tenant").await;
    let ns = namespace.name();
    let other = TestNamespace::create(plane, "tenant-other")
        .await
        .expect("other namespace");
    Api::<ServiceAccount>::namespaced(admin.clone(), ns)
        .create(
            &PostParams::default(),
            &ServiceAccount {
                metadata: ObjectMeta {
                    name: Some("deployer".into()),
                    ..ObjectMeta::default()
                },
                ..ServiceAccount::default()
            },
        )
        .await
        .expect("create ServiceAccount");
    // The aggregated ClusterRole `admin` is empty without a controller manager: grant
    // ConfigMaps in the tenant namespace with a Role of its own.
    Api::<Role>::namespaced(admin.clone(), ns)
        .create(
            &PostParams::default(),
            &Role {
                metadata: ObjectMeta {
                    name: Some("deployer".into()),
                    ..ObjectMeta::default()
                },
                rules: Some(vec![PolicyRule {
                    api_groups: Some(vec![String::new()]),
                    resources: Some(vec!["configmaps".into()]),
                    verbs: vec!["*".into()],
                    ..PolicyRule::default()
                }]),
            },
        )
        .await
        .expect("create Role");
    Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .create(
            &PostParams::default(),
            &RoleBinding {
                metadata: ObjectMeta {
                    name: Some("deployer-admin".into()),
                    ..ObjectMeta::default()
                },
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".into(),
                    kind: "Role".into(),
                    name: "deployer".into(),
                },
                subjects: Some(vec![Subject {
                    kind: "ServiceAccount".into(),
                    name: "deployer".into(),
                    namespace: Some(ns.to_owned()),
                    ..Subject::default()
                }]),
            },
        )
        .await
        .expect("bind the Role in the tenant namespace");
    let tenant = plane
        .client_as(&format!("system:serviceaccount:{ns}:deployer"))
        .expect("impersonating client");

    let mut elsewhere = config_map("intruder", "x");
    elsewhere["metadata"]["namespace"] = json!(other.name());
    let set = vec![config_map("own", "a"), elsewhere];
    let error = applier(&tenant)
        .apply(&owner(ns), set, &options(ns))
        .await
        .expect_err("the tenant must be refused");
    let ApplyError::DryRunFailed { failures } = &error else {
        panic!("expected a dry-run failure, got {error}");
    };
    assert_eq!(failures.0.len(), 1, "{error}");
    assert_eq!(
        failures.0[0].object,
        format!("ConfigMap/{}/intruder", other.name())
    );
    assert!(failures.0[0].reason.contains("Forbidden (403)"), "{error}");
    assert_eq!(
        get_config_map(&admin, ns, "own").await,
        None,
        "part of the set was applied"
    );
    assert_eq!(get_config_map(&admin, other.name(), "intruder").await, None);

    // Within its namespace the same tenant may apply.
    let own = applier(&tenant)
        .apply(&owner(ns), vec![config_map("own", "a")], &options(ns))
        .await
        .expect("the tenant applies in its own namespace");
    assert_eq!(own.changes.len(), 1);
    assert!(get_config_map(&admin, ns, "own").await.is_some());
}
