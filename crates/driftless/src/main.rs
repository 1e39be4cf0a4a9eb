//! `driftless`: pull-based GitOps for Kubernetes.
//!
//! One binary: the controllers (`run`, as their issues land) and the tools around them
//! (`crds`, `version`, …).

mod cmd;

use clap::{Parser, Subcommand};

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
    /// Print the CustomResourceDefinitions of every Driftless kind as one YAML stream
    /// (pipe it to `kubectl apply -f -`, or use `--dir` to write one file per kind).
    Crds(cmd::crds::Args),
    /// Create objects: `create secret git` makes the Secret a GitRepository authenticates
    /// with (a deploy key and known_hosts for ssh://).
    Create(cmd::create::Args),
    /// Build a kustomization with Driftless's native engine and print the YAML stream,
    /// as `kubectl kustomize DIR` does.
    Kustomize(cmd::kustomize::Args),
    /// Run the controllers (GitRepository, Kustomization, image automation, notifications) in
    /// one process sharing one source cache, and make the cluster match git. Uses the
    /// in-cluster config or $KUBECONFIG.
    Run(Box<cmd::run::Args>),
    /// Onboard tenants: `tenant create` prints a tenant's Namespace, ServiceAccount,
    /// RoleBinding and (with `--git-url`) GitRepository and Kustomization.
    Tenant(cmd::tenant::Args),
    /// Print the version of this build.
    Version(cmd::version::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bootstrap(args) => cmd::bootstrap::run(&args),
        Command::Crds(args) => cmd::crds::run(&args),
        Command::Create(args) => cmd::create::run(&args),
        Command::Kustomize(args) => cmd::kustomize::run(&args),
        Command::Run(args) => cmd::run::run(&args),
        Command::Tenant(args) => cmd::tenant::run(&args),
        Command::Version(args) => cmd::version::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
