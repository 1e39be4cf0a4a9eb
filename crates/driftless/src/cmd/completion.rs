//! `driftless completion bash|zsh|fish`: the shell completion script.

/// Arguments of `driftless completion`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell: `bash`, `zsh` or `fish`.
    #[arg(value_enum)]
    shell: Shell,
}

/// Shells completions are generated for.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Prints the completion script of `command` (the whole CLI) for the chosen shell.
pub fn run(args: &Args, mut command: clap::Command, bin_name: &str) -> anyhow::Result<()> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut command, bin_name, &mut std::io::stdout());
    Ok(())
}
