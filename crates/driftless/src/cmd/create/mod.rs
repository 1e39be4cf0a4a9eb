//! `driftless create`: typed, validated Driftless objects, applied with server-side apply
//! (field manager `driftless-cli`) or, with `--export`, printed as YAML.
//!
//! One module per subcommand; each turns its flags into an object (refusing bad input with
//! the flag named) and this module applies or prints it.

mod image;
mod kustomization;
mod notification;
pub mod secret;
mod source;
mod validate;

use anyhow::Context as _;
use kube::api::{Patch, PatchParams};
use serde_json::Value;

use crate::cmd::kinds::Kind;
use crate::cmd::kube_args::{KubeArgs, check_namespace};

/// Field manager of objects the CLI creates.
const FIELD_MANAGER: &str = "driftless-cli";

/// Arguments of `driftless create`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
    #[command(flatten)]
    kube: KubeArgs,
    /// Print the object as YAML instead of applying it (no cluster needed).
    #[arg(long, global = true)]
    export: bool,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Create a source: `create source git`.
    #[command(subcommand)]
    Source(SourceWhat),
    /// Create a Kustomization.
    #[command(alias = "ks")]
    Kustomization(kustomization::Args),
    /// Create an image automation object: `image repository|policy|update`.
    #[command(subcommand)]
    Image(ImageWhat),
    /// Create a notification Alert.
    Alert(notification::AlertArgs),
    /// Create a notification Provider.
    Provider(notification::ProviderArgs),
    /// Create a webhook Receiver.
    Receiver(notification::ReceiverArgs),
    /// Create a credentials Secret: `create secret git` (an SSH deploy key and the host's
    /// known_hosts for ssh://, basic auth or a bearer token for https://).
    #[command(subcommand)]
    Secret(SecretWhat),
}

#[derive(clap::Subcommand, Debug)]
enum SecretWhat {
    /// Create the Secret a GitRepository authenticates with: for ssh:// a deploy key
    /// (generated ed25519 unless told otherwise) and the host's known_hosts, printing the
    /// public key to add to the repository; for https:// basic auth or a bearer token.
    #[command(after_help = secret::GIT_AFTER_HELP)]
    Git(secret::GitArgs),
}

#[derive(clap::Subcommand, Debug)]
enum SourceWhat {
    /// Create a GitRepository.
    Git(source::GitArgs),
}

#[derive(clap::Subcommand, Debug)]
enum ImageWhat {
    /// Create an ImageRepository (a registry repository to scan for tags).
    Repository(image::RepositoryArgs),
    /// Create an ImagePolicy (which tag of an ImageRepository is the latest).
    Policy(image::PolicyArgs),
    /// Create an ImageUpdateAutomation (commit the policies' latest images to git).
    Update(image::UpdateArgs),
}

/// Runs the subcommand.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let namespace = namespace(args).await?;
    let (kind, object) = match &args.what {
        What::Secret(SecretWhat::Git(a)) => {
            return secret::run_git(a, &args.kube, &namespace, args.export).await;
        }
        What::Source(SourceWhat::Git(a)) => (Kind::GitRepository, source::object(a, &namespace)?),
        What::Kustomization(a) => (Kind::Kustomization, kustomization::object(a, &namespace)?),
        What::Image(ImageWhat::Repository(a)) => {
            (Kind::ImageRepository, image::repository(a, &namespace)?)
        }
        What::Image(ImageWhat::Policy(a)) => (Kind::ImagePolicy, image::policy(a, &namespace)?),
        What::Image(ImageWhat::Update(a)) => {
            (Kind::ImageUpdateAutomation, image::update(a, &namespace)?)
        }
        What::Alert(a) => (Kind::Alert, notification::alert(a, &namespace)?),
        What::Provider(a) => (Kind::Provider, notification::provider(a, &namespace)?),
        What::Receiver(a) => (Kind::Receiver, notification::receiver(a, &namespace)?),
    };
    if args.export {
        print!("---\n{}", serde_norway::to_string(&object)?);
        return Ok(());
    }
    apply(args, kind, &object).await
}

/// `-n`, else the kubeconfig context's namespace; with `--export` and no kubeconfig,
/// `default`.
async fn namespace(args: &Args) -> anyhow::Result<String> {
    if let Some(ns) = &args.kube.namespace {
        check_namespace(ns)?;
        return Ok(ns.clone());
    }
    match args.kube.config().await {
        Ok(config) => Ok(config.default_namespace),
        Err(_) if args.export => Ok(String::from("default")),
        Err(err) => Err(err),
    }
}

async fn apply(args: &Args, kind: Kind, object: &Value) -> anyhow::Result<()> {
    let cluster = args.kube.connect().await?;
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(&cluster.namespace);
    let what = kind.describe(namespace, name);
    let api = kind.api(&cluster.client, Some(namespace));
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .map_err(|err| match err {
        kube::Error::Api(status) if status.code == 404 => anyhow::anyhow!(
            "applying {what}: {} (are the Driftless CRDs installed, and does namespace '{namespace}' exist?)",
            status.message
        ),
        other => anyhow::Error::new(other),
    })
    .with_context(|| format!("applying {what}"))?;
    println!("✔ {what} applied");
    Ok(())
}

/// A typed object as the JSON to apply or print (status-free).
fn to_value<T: serde::Serialize>(object: &T) -> anyhow::Result<Value> {
    let mut value = serde_json::to_value(object)?;
    if let Some(map) = value.as_object_mut() {
        map.remove("status");
    }
    Ok(value)
}
