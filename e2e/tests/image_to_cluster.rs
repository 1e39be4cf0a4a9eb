//! From a new registry tag to the cluster with the real `driftless` binary: the loopback
//! registry gets tags, an ImagePolicy `^1` picks one, the ImageUpdateAutomation commits it to
//! git, the GitRepository fetches it and the Kustomization applies it; a newer tag flows
//! through the same way without any manual step.

mod common;

use common::*;
use driftless_api::{
    GitRepository, ImagePolicy, ImageRepository, ImageUpdateAutomation, Kustomization,
};
use driftless_e2e::{ControlPlane, Driftless, GitServer, Registry, TestNamespace, poll_until};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;

#[tokio::test(flavor = "multi_thread")]
async fn a_new_tag_reaches_the_cluster_through_git() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "image-flow").await.unwrap();
    let n = ns.name();
    let registry = Registry::start().unwrap();
    for tag in ["1.0.0", "1.1.0", "2.0.0-rc.1"] {
        registry.push_image("team/web", tag).await.unwrap();
    }
    let image = format!("{}/team/web", registry.host());
    let server = GitServer::start().unwrap();
    server.create_repo("fleet").unwrap();
    let url = server.git_url("fleet");
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: {image}:1.0.0 # {{\"$imagepolicy\": \"{n}:web\"}}\n"
    );
    server
        .push_files(
            &url,
            "main",
            &[("deploy/web.yaml", &deployment)],
            "web at 1.0.0",
        )
        .unwrap();

    let _driftless = Driftless::start(plane, &[n], &["--insecure-apply-as-controller"])
        .await
        .unwrap();
    apply_yaml(&Api::<GitRepository>::namespaced(client.clone(), n), &format!(
        "apiVersion: source.driftless.dev/v1\nkind: GitRepository\nmetadata: {{name: fleet}}\nspec: {{url: '{url}', interval: 2s, ref: {{branch: main}}}}\n"
    )).await;
    apply_yaml(&Api::<Kustomization>::namespaced(client.clone(), n),
        "apiVersion: kustomize.driftless.dev/v1\nkind: Kustomization\nmetadata: {name: web}\nspec: {interval: 10m, prune: true, path: ./deploy, sourceRef: {kind: GitRepository, name: fleet}}\n",
    ).await;
    apply_yaml(&Api::<ImageRepository>::namespaced(client.clone(), n), &format!(
        "apiVersion: image.driftless.dev/v1\nkind: ImageRepository\nmetadata: {{name: web}}\nspec: {{image: '{image}', interval: 2s, insecure: true}}\n"
    )).await;
    apply_yaml(&Api::<ImagePolicy>::namespaced(client.clone(), n),
        "apiVersion: image.driftless.dev/v1\nkind: ImagePolicy\nmetadata: {name: web}\nspec: {imageRepositoryRef: {name: web}, policy: {semver: {range: '^1'}}}\n",
    ).await;
    apply_yaml(&Api::<ImageUpdateAutomation>::namespaced(client.clone(), n),
        "apiVersion: image.driftless.dev/v1\nkind: ImageUpdateAutomation\nmetadata: {name: fleet}\nspec:\n  sourceRef: {kind: GitRepository, name: fleet}\n  interval: 2s\n  git:\n    commit:\n      author: {name: driftless-bot, email: bot@driftless.dev}\n  update: {path: ./deploy, strategy: Setters}\n",
    ).await;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), n);
    let image_in_cluster = || async {
        deployments
            .get_opt("web")
            .await
            .unwrap()
            .and_then(|d| d.spec?.template.spec?.containers.first()?.image.clone())
    };
    for expected in ["1.1.0", "1.2.0"] {
        if expected == "1.2.0" {
            registry.push_image("team/web", "1.2.0").await.unwrap();
        }
        let want = format!("{image}:{expected}");
        poll_until(
            &format!("the cluster runs {want}"),
            std::time::Duration::from_secs(90),
            || async {
                Ok((image_in_cluster().await.as_deref() == Some(want.as_str())).then_some(()))
            },
        )
        .await
        .unwrap();
    }
    let automation = Api::<ImageUpdateAutomation>::namespaced(client.clone(), n)
        .get("fleet")
        .await
        .unwrap();
    let status = automation.status.unwrap();
    assert!(status.last_push_commit.is_some(), "{status:?}");
}
