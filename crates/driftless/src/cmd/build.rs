//! `driftless build kustomization NAME --path DIR`: what the Kustomization would apply if
//! its source held DIR, as a YAML stream.

use crate::cmd::kube_args::KubeArgs;
use crate::cmd::local_build::{LocalSourceArgs, build, read_kustomization};

/// Arguments of `driftless build`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Build a local directory with a Kustomization's spec (overlays, postBuild substitution
    /// with its substituteFrom read from the cluster, owner labels).
    #[command(alias = "ks")]
    Kustomization(KustomizationArgs),
}

#[derive(clap::Args, Debug)]
struct KustomizationArgs {
    /// Name of the Kustomization.
    name: String,
    #[command(flatten)]
    source: LocalSourceArgs,
    #[command(flatten)]
    kube: KubeArgs,
}

/// Runs the subcommand.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let What::Kustomization(args) = &args.what;
    let cluster = args.kube.connect().await?;
    let ks = read_kustomization(&cluster.client, &cluster.namespace, &args.name).await?;
    let built = build(ks, &args.source, &cluster.client).await?;
    let mut out = String::new();
    for object in &built.objects {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(object)?);
    }
    print!("{out}");
    Ok(())
}
