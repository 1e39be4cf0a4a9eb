//! `driftless kustomize DIR`: build a kustomization with the native engine and print the
//! YAML stream `kubectl kustomize DIR` prints.

use std::path::PathBuf;

use anyhow::Context as _;
use driftless_kustomize::{BuildOptions, LoadRestrictions};

/// Arguments of `driftless kustomize`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory holding kustomization.yaml (or, with --generate, plain YAML files).
    #[arg(value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Like kubectl's --load-restrictor: `LoadRestrictionsRootOnly` (default) keeps files
    /// inside their kustomization's directory; `LoadRestrictionsNone` allows any path.
    #[arg(
        long,
        value_name = "RESTRICTOR",
        default_value = "LoadRestrictionsRootOnly"
    )]
    load_restrictor: String,
    /// Flux's rule: when DIR has no kustomization.yaml, build every Kubernetes YAML below it.
    #[arg(long)]
    generate: bool,
    /// Never read outside this directory (what the controller does with the artifact root).
    #[arg(long, value_name = "DIR")]
    boundary: Option<PathBuf>,
    /// Bounds on file sizes, YAML aliases and depth, and objects (as in `driftless run`).
    #[command(flatten)]
    limits: super::build_limits::BuildLimitArgs,
}

/// Runs the subcommand.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let load_restrictions = match args.load_restrictor.as_str() {
        "LoadRestrictionsRootOnly" | "rootOnly" => LoadRestrictions::RootOnly,
        "LoadRestrictionsNone" | "none" => LoadRestrictions::None,
        other => anyhow::bail!(
            "--load-restrictor {other:?}: use LoadRestrictionsRootOnly or LoadRestrictionsNone"
        ),
    };
    let opts = BuildOptions {
        boundary: args.boundary.clone(),
        load_restrictions,
        generate_missing: args.generate,
        limits: args.limits.limits(),
        input_filter: None,
    };
    let built = driftless_kustomize::build_with(&args.dir, &opts)
        .with_context(|| format!("building {}", args.dir.display()))?;
    print!("{}", built.to_yaml());
    Ok(())
}
