//! `driftless create …`: typed, validated objects, applied to the cluster (server-side apply)
//! or printed with `--export`. One module per subcommand.

pub mod secret;

/// Arguments of `driftless create`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: CreateCommand,
}

#[derive(clap::Subcommand, Debug)]
enum CreateCommand {
    /// Create credentials Secrets: `create secret git` (deploy keys for ssh://, basic auth or a
    /// bearer token for https://).
    Secret(secret::Args),
}

/// Runs the subcommand.
pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        CreateCommand::Secret(secret) => secret::run(secret),
    }
}

/// Runs `future` on a single-threaded runtime (cluster-facing commands are one request at a
/// time).
pub(crate) fn block_on<T>(
    future: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(future)
}
