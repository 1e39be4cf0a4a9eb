//! The controller as the default install runs it: config/default's RBAC applied to the
//! plane, the controller authenticated as its own ServiceAccount (a TokenRequest token, not
//! the admin certificate), and the tenancy flags of config/manager's Deployment.

use std::path::PathBuf;
use std::time::Duration;

use driftless_e2e::{ControlPlane, Driftless, poll_until, repo_root};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::pinned_kind;
use kube::{Api, Client};
use serde_json::Value;
use tokio::sync::OnceCell;

/// The controller's ServiceAccount in config/rbac.
pub const CONTROLLER_NAMESPACE: &str = "driftless-system";
/// Its name.
pub const CONTROLLER_ACCOUNT: &str = "driftless";

/// How the controller is configured for a run of the tenancy tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Exactly config/default: its RBAC, the tenancy flags of config/manager.
    DefaultInstall,
    /// The default install plus `--no-cross-namespace-refs`.
    Lockdown,
}

impl Mode {
    /// The flags `driftless run` gets in this mode (besides ports, storage, namespaces).
    pub fn flags(self) -> Vec<String> {
        let mut flags = manager_flags();
        if self == Mode::Lockdown {
            flags.push(String::from("--no-cross-namespace-refs"));
        }
        flags
    }
}

/// The arguments of config/manager's `driftless run`, less those that only make sense in a
/// Pod (storage path, leader election, log format): these the harness sets itself.
pub fn manager_flags() -> Vec<String> {
    let objects = driftless_kustomize::build(&repo_root().join("config/manager"))
        .expect("config/manager builds")
        .objects;
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("config/manager has a Deployment");
    let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("the container has args");
    assert_eq!(args.first().and_then(Value::as_str), Some("run"));
    args.iter()
        .skip(1)
        .filter_map(Value::as_str)
        .filter(|a| {
            !["--storage-path", "--leader-elect", "--log-format"]
                .iter()
                .any(|pod_only| a.starts_with(pod_only))
        })
        .map(str::to_owned)
        .collect()
}

/// Starts the controller watching `namespaces`, in `mode`, as its own ServiceAccount.
pub async fn start_controller(namespaces: &[&str], mode: Mode, extra: &[&str]) -> Driftless {
    let kubeconfig = controller_kubeconfig().await;
    let flags = mode.flags();
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    Driftless::start_with_kubeconfig(kubeconfig, namespaces, &args)
        .await
        .expect("driftless starts as its ServiceAccount")
}

/// A client authenticated as the controller's ServiceAccount (its token).
pub async fn controller_client() -> Client {
    let path = controller_kubeconfig().await;
    let kubeconfig = kube::config::Kubeconfig::read_from(path).expect("controller kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("controller config");
    Client::try_from(config).expect("controller client")
}

/// The kubeconfig file of the controller's ServiceAccount, made once per test process:
/// applies config/default's Namespace and RBAC, requests a token, waits until RBAC lets the
/// account list Kustomizations.
pub async fn controller_kubeconfig() -> &'static std::path::Path {
    static KUBECONFIG: OnceCell<(tempfile::TempDir, PathBuf)> = OnceCell::const_new();
    let (_, path) = KUBECONFIG
        .get_or_init(|| async {
            let plane = ControlPlane::shared().await.expect("control plane up");
            let admin = plane.client().expect("admin client");
            install_rbac(&admin).await;
            let token = request_token(&admin).await;
            let dir = tempfile::tempdir().expect("temporary directory");
            let path = dir.path().join("controller.kubeconfig");
            write_token_kubeconfig(plane.kubeconfig_path(), &token, &path);
            wait_until_authorized(&path).await;
            (dir, path)
        })
        .await;
    path
}

/// config/default's Namespace, ServiceAccount, (Cluster)Roles and bindings, applied for real.
async fn install_rbac(admin: &Client) {
    let objects = driftless_kustomize::build(&repo_root().join("config/default"))
        .expect("config/default builds")
        .objects;
    let wanted = |o: &&Value| {
        matches!(
            o["kind"].as_str(),
            Some(
                "Namespace"
                    | "ServiceAccount"
                    | "ClusterRole"
                    | "ClusterRoleBinding"
                    | "Role"
                    | "RoleBinding"
            )
        )
    };
    // Namespaces first: the rest lives in them.
    let (namespaces, rest): (Vec<&Value>, Vec<&Value>) = objects
        .iter()
        .filter(wanted)
        .partition(|o| o["kind"] == "Namespace");
    for object in namespaces.into_iter().chain(rest) {
        apply(admin, object).await;
    }
}

async fn apply(admin: &Client, object: &Value) {
    let dynamic: DynamicObject = serde_json::from_value(object.clone()).expect("an object");
    let gvk = GroupVersionKind::try_from(dynamic.types.as_ref().expect("types")).expect("gvk");
    let (resource, capabilities) = pinned_kind(admin, &gvk).await.expect("discovery");
    let name = object["metadata"]["name"].as_str().expect("name");
    let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
        Some(ns) if capabilities.scope == kube::discovery::Scope::Namespaced => {
            Api::namespaced_with(admin.clone(), ns, &resource)
        }
        _ => Api::all_with(admin.clone(), &resource),
    };
    api.patch(
        name,
        &PatchParams::apply("e2e-default-install").force(),
        &Patch::Apply(object),
    )
    .await
    .unwrap_or_else(|e| panic!("applying {} {name}: {e}", gvk.kind));
}

async fn request_token(admin: &Client) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), CONTROLLER_NAMESPACE);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: Vec::new(),
            expiration_seconds: Some(4 * 3600),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    accounts
        .create_token_request(CONTROLLER_ACCOUNT, &PostParams::default(), &request)
        .await
        .expect("TokenRequest for the controller's ServiceAccount")
        .status
        .expect("token in the status")
        .token
}

/// The admin kubeconfig with its user's client certificate replaced by `token`.
fn write_token_kubeconfig(admin: &std::path::Path, token: &str, path: &std::path::Path) {
    let text = std::fs::read_to_string(admin).expect("admin kubeconfig");
    let mut config: Value = serde_norway::from_str(&text).expect("kubeconfig parses");
    for user in config["users"].as_array_mut().expect("users") {
        user["user"] = serde_json::json!({ "token": token });
    }
    std::fs::write(
        path,
        serde_norway::to_string(&config).expect("kubeconfig serializes"),
    )
    .expect("write the controller kubeconfig");
}

/// The authorizer reads RBAC from its informer cache: poll until the binding is in effect.
async fn wait_until_authorized(path: &std::path::Path) {
    let kubeconfig = kube::config::Kubeconfig::read_from(path).expect("controller kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("controller config");
    let client = Client::try_from(config).expect("controller client");
    let api: Api<driftless_api::Kustomization> = Api::all(client);
    poll_until(
        "the controller's ServiceAccount may list Kustomizations",
        Duration::from_secs(30),
        || {
            let api = api.clone();
            async move { Ok(api.list(&Default::default()).await.ok().map(|_| ())) }
        },
    )
    .await
    .expect("config/rbac takes effect");
}
