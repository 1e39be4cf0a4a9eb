//! RBAC is enforced for real: a ServiceAccount without rights is refused,
//! and a RoleBinding grants exactly what its Role says.

use std::time::Duration;

use driftless_e2e::{ControlPlane, Error, TestNamespace, poll_until};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::Api;
use kube::api::{ListParams, ObjectMeta, PostParams};

fn forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> bool {
    matches!(result, Err(kube::Error::Api(status)) if status.code == 403)
}

#[tokio::test]
async fn service_account_without_rights_is_refused_until_bound() {
    let plane = ControlPlane::shared().await.expect("control plane up");
    let admin = plane.client().expect("admin client");
    let namespace = TestNamespace::create(plane, "rbac")
        .await
        .expect("test namespace");
    let ns = namespace.name();

    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("reader".into()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    Api::<ServiceAccount>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &account)
        .await
        .expect("create ServiceAccount");

    let as_reader = plane
        .client_as(&format!("system:serviceaccount:{ns}:reader"))
        .expect("impersonating client");
    let config_maps = Api::<ConfigMap>::namespaced(as_reader.clone(), ns);
    assert!(
        forbidden(config_maps.list(&ListParams::default()).await),
        "an unbound ServiceAccount listed ConfigMaps"
    );

    let role = Role {
        metadata: ObjectMeta {
            name: Some("configmap-reader".into()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["configmaps".into()]),
            verbs: vec!["get".into(), "list".into()],
            ..PolicyRule::default()
        }]),
    };
    Api::<Role>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &role)
        .await
        .expect("create Role");
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("reader-reads-configmaps".into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "configmap-reader".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "reader".into(),
            namespace: Some(ns.to_owned()),
            ..Subject::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin, ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("create RoleBinding");

    // The authorizer reads RBAC objects from its informer cache: poll.
    poll_until(
        "the bound ServiceAccount may list ConfigMaps",
        Duration::from_secs(30),
        || {
            let config_maps = config_maps.clone();
            async move {
                match config_maps.list(&ListParams::default()).await {
                    Ok(_) => Ok(Some(())),
                    Err(kube::Error::Api(status)) if status.code == 403 => Ok(None),
                    Err(source) => Err(Error::Kube {
                        action: String::from("list ConfigMaps as reader"),
                        source,
                    }),
                }
            }
        },
    )
    .await
    .expect("RoleBinding takes effect");

    let secrets = Api::<Secret>::namespaced(as_reader, ns);
    assert!(
        forbidden(secrets.list(&ListParams::default()).await),
        "the Role grants ConfigMaps only, yet Secrets were listed"
    );
}
