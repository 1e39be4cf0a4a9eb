//! `driftless version`.

/// Arguments of `driftless version`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Prints the version.
pub fn run(_: &Args) -> anyhow::Result<()> {
    println!("driftless {}", env!("CARGO_PKG_VERSION"));
    Ok(())
}
