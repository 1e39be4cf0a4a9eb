//! `driftless`: pull-based GitOps for Kubernetes.
//!
//! One binary: the controllers (`run`), the day-2 commands (`get`, `reconcile`, `diff`, …)
//! and the tools around them (`crds`, `version`, …). Installed as `kubectl-driftless` it is
//! also a kubectl plugin (`kubectl driftless get kustomizations`).

mod cmd;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Driftless keeps a Kubernetes cluster in step with git: controllers inside the cluster pull
/// from git and apply what they find, correcting drift and pruning what left git.
#[derive(Parser, Debug)]
#[command(name = "driftless", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Install Driftless on the cluster and commit its manifests, with a GitRepository and a
    /// Kustomization syncing a path, into a git repository: Driftless then manages the
    /// cluster, and itself, from git.
    Bootstrap(cmd::bootstrap::Args),
    /// Print what a Kustomization would apply if its source held a local directory.
    Build(cmd::build::Args),
    /// Check the cluster's prerequisites (`--pre`) and Driftless's health in it: server
    /// version, CRDs installed and current, controller available, RBAC for impersonation.
    Check(cmd::check::Args),
    /// Print a shell completion script (`source <(driftless completion bash)`).
    Completion(cmd::completion::Args),
    /// Create Driftless objects from typed, validated flags (applied with server-side apply,
    /// or printed as YAML with `--export`).
    Create(cmd::create::Args),
    /// Print the CustomResourceDefinitions of every Driftless kind as one YAML stream
    /// (pipe it to `kubectl apply -f -`, or use `--dir` to write one file per kind).
    Crds(cmd::crds::Args),
    /// Show what applying a local directory with a Kustomization's spec would change in the
    /// cluster, as unified diffs (exit status 1 when something would change, 2 on error).
    Diff(cmd::diff::Args),
    /// Print the command reference (docs/cli.md) generated from these definitions.
    Docs(cmd::docs::Args),
    /// Print the Events the controllers recorded, optionally for one object.
    Events(cmd::events::Args),
    /// Print Driftless objects as clean YAML (no status, managed fields, uid…) to keep in git.
    Export(cmd::export::Args),
    /// List Driftless objects with their revision, suspension, readiness, message and age.
    Get(cmd::get::Args),
    /// Build a kustomization with Driftless's native engine and print the YAML stream,
    /// as `kubectl kustomize DIR` does.
    Kustomize(cmd::kustomize::Args),
    /// Print the controller's log lines about an object (from its pods in the cluster).
    Logs(cmd::logs::Args),
    /// Push artifacts: `push artifact oci://host/repo:tag --path DIR --source URL --revision REV`
    /// packs DIR as a Flux OCI artifact (same media types and annotations as
    /// `flux push artifact`) for OCIRepositories to pull.
    Push(cmd::push::Args),
    /// Ask the controller to reconcile an object now, wait for the result and print it
    /// (the exit status is non-zero when the reconcile failed).
    Reconcile(cmd::reconcile::Args),
    /// Resume reconciling suspended objects and wait for the reconcile that follows.
    Resume(cmd::suspend::Args),
    /// Run the controllers (GitRepository, Kustomization, image automation, notifications) in
    /// one process sharing one source cache, and make the cluster match git. Uses the
    /// in-cluster config or $KUBECONFIG.
    Run(Box<cmd::run::Args>),
    /// Stop reconciling objects (sets spec.suspend) until `driftless resume`.
    Suspend(cmd::suspend::Args),
    /// Show which Kustomization and GitRepository manage an object, at which revision.
    Trace(cmd::trace::Args),
    /// Print what a Kustomization applied as a tree, nested Kustomizations expanded.
    Tree(cmd::tree::Args),
    /// Onboard tenants: `tenant create` prints a tenant's Namespace, ServiceAccount,
    /// RoleBinding and (with `--git-url`) GitRepository and Kustomization.
    Tenant(cmd::tenant::Args),
    /// Print the version of this build.
    Version(cmd::version::Args),
}

/// The name the binary is invoked as: `kubectl driftless` when run as a kubectl plugin
/// (`kubectl-driftless`), else `driftless`.
fn invoked_name() -> &'static str {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let file = std::path::Path::new(&argv0)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if file.starts_with("kubectl-driftless") {
        "kubectl driftless"
    } else {
        "driftless"
    }
}

/// Parses the command line (with the plugin's name in help and errors when so invoked).
fn parse() -> Cli {
    let command = Cli::command().bin_name(invoked_name());
    let matches = command.get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit())
}

/// Runs an async command on a runtime of its own.
fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(future: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(future)
}

fn main() -> std::process::ExitCode {
    let cli = parse();
    let diff = matches!(cli.command, Command::Diff(_));
    let result = match cli.command {
        Command::Bootstrap(args) => block_on(cmd::bootstrap::run(&args)),
        Command::Build(args) => block_on(cmd::build::run(&args)),
        Command::Check(args) => block_on(cmd::check::run(&args)),
        Command::Completion(args) => {
            cmd::completion::run(&args, Cli::command(), &invoked_name().replace(' ', "-"))
        }
        Command::Create(args) => block_on(cmd::create::run(&args)),
        Command::Crds(args) => cmd::crds::run(&args),
        Command::Diff(args) => block_on(cmd::diff::run(&args)),
        Command::Docs(args) => cmd::docs::run(&args, Cli::command()),
        Command::Events(args) => block_on(cmd::events::run(&args)),
        Command::Export(args) => block_on(cmd::export::run(&args)),
        Command::Get(args) => block_on(cmd::get::run(&args)),
        Command::Kustomize(args) => cmd::kustomize::run(&args),
        Command::Logs(args) => block_on(cmd::logs::run(&args)),
        Command::Push(args) => cmd::push::run(&args),
        Command::Reconcile(args) => block_on(cmd::reconcile::run(&args)),
        Command::Resume(args) => block_on(cmd::suspend::run(&args, false)),
        Command::Run(args) => cmd::run::run(&args),
        Command::Suspend(args) => block_on(cmd::suspend::run(&args, true)),
        Command::Tenant(args) => cmd::tenant::run(&args),
        Command::Trace(args) => block_on(cmd::trace::run(&args)),
        Command::Tree(args) => block_on(cmd::tree::run(&args)),
        Command::Version(args) => cmd::version::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => match err.downcast_ref::<cmd::exit::ExitStatus>() {
            Some(status) => std::process::ExitCode::from(status.0),
            None => {
                eprintln!("error: {err:#}");
                // diff(1)'s convention: 1 means "different", so trouble is 2.
                std::process::ExitCode::from(if diff { 2 } else { 1 })
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// docs/cli.md is generated from the clap definitions; regenerate with `make docs`.
    #[test]
    fn docs_cli_md_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        let generated = cmd::docs::render(Cli::command());
        assert!(
            committed == generated,
            "docs/cli.md is stale: run `make docs` (driftless docs --out docs/cli.md)"
        );
    }
}
