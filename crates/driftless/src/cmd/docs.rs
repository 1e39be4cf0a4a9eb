//! `driftless docs`: `docs/cli.md`, the reference of every command, generated from the clap
//! definitions (a test fails when the committed file is stale; `make docs` regenerates it).

use std::path::PathBuf;

use anyhow::Context as _;

/// Arguments of `driftless docs`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write to this file instead of standard output (e.g. `docs/cli.md`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Writes the reference of `command`.
pub fn run(args: &Args, command: clap::Command) -> anyhow::Result<()> {
    let text = render(command);
    match &args.out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// The Markdown reference: one section per command, with its full help.
pub fn render(mut command: clap::Command) -> String {
    command.build();
    let mut out = String::from(
        "# `driftless` command reference\n\n\
         <!-- Generated from the clap definitions by `make docs` (`driftless docs --out docs/cli.md`). \
         Do not edit: a test fails when this file is stale. -->\n\n\
         Every cluster command takes kubectl's `--kubeconfig`, `--context` and `-n/--namespace` \
         (listing commands also `-A/--all-namespaces`) and honours `$KUBECONFIG`. Installed as \
         `kubectl-driftless` on the `PATH`, the binary is also a kubectl plugin: \
         `kubectl driftless get kustomizations`.\n\n",
    );
    let mut index = String::new();
    let mut sections = String::new();
    walk(&command, command.get_name(), &mut index, &mut sections);
    out.push_str(&index);
    out.push('\n');
    out.push_str(&sections);
    out
}

fn walk(command: &clap::Command, path: &str, index: &mut String, sections: &mut String) {
    let anchor: String = path.replace(' ', "-");
    let depth = path.matches(' ').count();
    index.push_str(&format!("{}- [`{path}`](#{anchor})\n", "  ".repeat(depth)));
    let help = command.clone().render_long_help().to_string();
    let help: String = help
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    sections.push_str(&format!("## {path}\n\n```text\n{}```\n\n", help));
    for sub in command.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        walk(sub, &format!("{path} {}", sub.get_name()), index, sections);
    }
}
