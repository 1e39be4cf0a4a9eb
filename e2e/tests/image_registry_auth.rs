//! ImageRepository against a registry that requires basic auth: the loopback registry's
//! storage served a second time by `docker-registry` with an htpasswd file, credentials from
//! a `kubernetes.io/dockerconfigjson` Secret.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use common::*;
use driftless_api::ImageRepository;
use driftless_e2e::{ControlPlane, Error, Registry, TestNamespace, poll_until};
use driftless_image_controller::{Context, image_repository};
use driftless_runtime::{EventRecorder, Metrics};
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::runtime::watcher;
use kube::{Api, Client};
use tokio::sync::oneshot;

const USER: &str = "driftless";
const PASSWORD: &str = "e2e-registry-password";
/// bcrypt (cost 4) of [`PASSWORD`]; docker-registry's htpasswd accepts only bcrypt.
const PASSWORD_BCRYPT: &str = "$2b$04$e0WMQXJiWZgfLPBk5surb.FB.YzWLn2oqFlREuXEGzk..06ab8Mpy";

/// `docker-registry` serving `storage` with basic auth, killed on drop.
struct AuthRegistry {
    child: Child,
    port: u16,
}

impl AuthRegistry {
    async fn start(storage: &Path, dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let htpasswd = dir.join("htpasswd");
        std::fs::write(&htpasswd, format!("{USER}:{PASSWORD_BCRYPT}\n")).unwrap();
        let config = dir.join("auth-registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: driftless-e2e\n    path: {}\n",
                storage.display(),
                htpasswd.display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry starts");
        let registry = AuthRegistry { child, port };
        poll_until("authenticated registry listens", DEADLINE, || async {
            Ok(TcpStream::connect(("127.0.0.1", port))
                .is_ok()
                .then_some(()))
        })
        .await
        .unwrap();
        registry
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn docker_config_secret(
    client: &Client,
    namespace: &str,
    name: &str,
    host: &str,
    password: &str,
) {
    let json =
        serde_json::json!({"auths": {host: {"username": USER, "password": password}}}).to_string();
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/dockerconfigjson".to_owned()),
        string_data: Some([(".dockerconfigjson".to_owned(), json)].into()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

async fn wait_repo_status(
    api: &Api<ImageRepository>,
    name: &str,
    what: &str,
    check: impl Fn(&ImageRepository) -> bool,
) -> ImageRepository {
    poll_until(what, DEADLINE, || async {
        let repo = api
            .get(name)
            .await
            .map_err(Error::kube(format!("get ImageRepository {name}")))?;
        Ok(check(&repo).then_some(repo))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_from_a_docker_config_secret() {
    let plane = ControlPlane::shared().await.unwrap();
    let client = plane.client().unwrap();
    install_crds(&client).await;
    let ns = TestNamespace::create(plane, "image-auth").await.unwrap();
    let registry = Registry::start().unwrap();
    for tag in ["1.0.0", "1.1.0"] {
        registry.push_image("team/app", tag).await.unwrap();
    }
    let auth = AuthRegistry::start(&registry.dir().join("storage"), registry.dir()).await;
    docker_config_secret(&client, ns.name(), "good", &auth.host(), PASSWORD).await;
    docker_config_secret(
        &client,
        ns.name(),
        "wrong",
        &auth.host(),
        "not-the-password",
    )
    .await;

    let storage = tempfile::tempdir().unwrap();
    let ctx = Arc::new(
        Context::new(
            client.clone(),
            EventRecorder::new(client.clone(), "driftless"),
            Metrics::new().unwrap(),
            storage.path(),
        )
        .unwrap(),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let api: Api<ImageRepository> = Api::namespaced(client.clone(), ns.name());
    tokio::spawn(image_repository::run(
        ctx,
        api.clone(),
        watcher::Config::default(),
        || {},
        async move {
            let _ = stopped.await;
        },
    ));

    let image = format!("{}/team/app", auth.host());
    for (name, secret) in [
        ("good", Some("good")),
        ("wrong", Some("wrong")),
        ("anonymous", None),
    ] {
        let secret_ref = secret
            .map(|s| format!(", secretRef: {{name: {s}}}"))
            .unwrap_or_default();
        apply_yaml(&api, &format!(
            "apiVersion: image.driftless.dev/v1\nkind: ImageRepository\nmetadata: {{name: {name}}}\nspec: {{image: '{image}', interval: 1m, insecure: true{secret_ref}}}\n"
        ))
        .await;
    }

    let good = wait_repo_status(&api, "good", "scan with credentials", |r| {
        r.status
            .as_ref()
            .and_then(|s| s.last_scan_result.as_ref())
            .is_some_and(|s| s.tag_count == 2)
    })
    .await;
    assert_eq!(
        ready_of(&good.status.unwrap().conditions).unwrap().status,
        "True"
    );
    let wrong = wait_repo_status(&api, "wrong", "wrong password reported", |r| {
        failing_with(
            r.status.as_ref().map(|s| s.conditions.as_slice()),
            "refused the credentials",
        )
    })
    .await;
    let wrong_status = wrong.status.unwrap();
    assert_eq!(
        ready_of(&wrong_status.conditions).unwrap().reason,
        "AuthenticationFailed"
    );
    assert!(
        wrong_status.last_scan_result.is_none(),
        "no scan result from a refused scan"
    );
    let anonymous = wait_repo_status(&api, "anonymous", "missing credentials reported", |r| {
        failing_with(
            r.status.as_ref().map(|s| s.conditions.as_slice()),
            "set spec.secretRef",
        )
    })
    .await;
    assert!(!format!("{:?}", anonymous.status).contains(PASSWORD));
    let _ = stop.send(());
}
