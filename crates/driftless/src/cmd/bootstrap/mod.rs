//! `driftless bootstrap git`: install Driftless on a cluster and make it manage itself from
//! git.
//!
//! 1. The install manifests embedded in this binary (`config/cluster-admin` with `--image`)
//!    and a GitRepository + Kustomization syncing `--path` are committed under
//!    `--path/driftless-system/` and pushed, only when they differ from what the branch holds.
//! 2. The same manifests, the deploy key Secret and the sync objects are server-side applied
//!    to the cluster, labelled as the controller labels what it applies from git (see
//!    [`layout::cluster_objects`]). From then on the controller applies `--path` (its own install
//!    included) from git; running bootstrap again changes nothing unless an input changed.
//!
//! For `ssh://` the deploy key is `--private-key-file`, else the one the cluster's Secret
//! `driftless-system/driftless-system` already holds, else a new ed25519 key: its public half
//! is printed and bootstrap waits (up to `--access-timeout`) until the key may read the
//! repository. The host's keys come from that Secret, else from `ssh-keyscan` (trust on
//! first use, fingerprints printed); they are checked strictly on every push and fetch.

mod install;
pub mod layout;
mod repo;

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::cmd::create::secret::{secret, ssh_data};
use crate::cmd::deploy_key::{self, DeployKey, KeyArgs};
use crate::cmd::install_manifests::{self, DEFAULT_IMAGE, NAMESPACE};
use crate::cmd::kube_args::KubeArgs;
use install::Mode;
use layout::{SYNC_NAME, SyncSpec};
use repo::{Author, Credentials, Remote};

/// Arguments of `driftless bootstrap`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: BootstrapCommand,
}

#[derive(clap::Subcommand, Debug)]
enum BootstrapCommand {
    /// Install Driftless and commit its manifests with a GitRepository and Kustomization
    /// syncing --path into the repository, so that Driftless manages the cluster, and itself,
    /// from git. Idempotent: a re-run with the same inputs makes no commit.
    #[command(after_help = "Examples:\n  \
        driftless bootstrap git --url ssh://git@git.example/fleet.git --path clusters/prod\n  \
        driftless bootstrap git --url ssh://git@git.example/fleet.git --path clusters/prod \\\n    \
        --private-key-file ./deploy_key --image registry.example/driftless:v0.1.0\n  \
        driftless bootstrap git --url ssh://git@git.example/fleet.git --path clusters/prod --dry-run\n\n\
        The deploy key needs write access. The install is config/cluster-admin: the controller \
        has cluster-admin and applies Kustomizations in driftless-system (the ones bootstrap \
        writes) as itself; every other namespace applies as its own ServiceAccounts.")]
    Git(GitArgs),
}

/// Arguments of `driftless bootstrap git`.
#[derive(clap::Args, Debug, Clone)]
pub struct GitArgs {
    /// Repository URL: `ssh://[USER@]HOST[:PORT]/PATH` (deploy key), `https://…` (with
    /// --username/--password), or `git://…`/`http://…` (no credentials).
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// Path in the repository for this cluster, e.g. `clusters/prod`.
    #[arg(long, value_name = "PATH")]
    pub path: String,
    /// Branch to commit to and follow.
    #[arg(long, value_name = "BRANCH", default_value = "main")]
    pub branch: String,
    /// The deploy key (ssh:// only).
    #[command(flatten)]
    pub key: KeyArgs,
    /// User name for https:// basic auth.
    #[arg(long, short = 'u', value_name = "USER", requires = "password")]
    pub username: Option<String>,
    /// Password or access token for https:// basic auth.
    #[arg(long, short = 'p', value_name = "PASSWORD", requires = "username")]
    pub password: Option<String>,
    /// Image of the Driftless Deployment: `NAME[:TAG][@sha256:DIGEST]`.
    #[arg(long, value_name = "IMAGE", default_value = DEFAULT_IMAGE)]
    pub image: String,
    /// How often the GitRepository fetches the branch.
    #[arg(long, value_name = "DURATION", default_value = "1m")]
    pub interval: String,
    /// Print the files that would be committed; touch neither the repository nor the cluster.
    #[arg(long)]
    pub dry_run: bool,
    /// Commit and push as usual, but send the objects to the API server with dryRun=All
    /// (CRDs and Namespaces are applied for real, since the rest's dry-run needs them).
    #[arg(long, conflicts_with = "dry_run")]
    pub server_dry_run: bool,
    /// How long to wait for a newly generated deploy key to be granted access.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub access_timeout: String,
    /// Author name of the commit.
    #[arg(long, value_name = "NAME", default_value = "driftless")]
    pub author_name: String,
    /// Author email of the commit.
    #[arg(long, value_name = "EMAIL", default_value = "driftless@localhost")]
    pub author_email: String,
    /// The cluster (`-n` is not used: the install lives in driftless-system).
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Runs the subcommand.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        BootstrapCommand::Git(git) => bootstrap(git).await,
    }
}

/// The repository's scheme, which decides the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Ssh,
    Https,
    Plain,
}

fn scheme(url: &str) -> anyhow::Result<Scheme> {
    if url.contains(char::is_whitespace) || url.len() > 2048 {
        bail!("--url '{url}' is not a URL");
    }
    if url.starts_with("ssh://") {
        deploy_key::ssh_target(url)?;
        return Ok(Scheme::Ssh);
    }
    let authority = url
        .split_once("://")
        .map(|(_, rest)| &rest[..rest.find('/').unwrap_or(rest.len())]);
    if authority.is_some_and(|a| a.contains('@')) && !url.starts_with("ssh://") {
        bail!("--url must not hold credentials; pass --username/--password");
    }
    if url.starts_with("https://") {
        return Ok(Scheme::Https);
    }
    if url.starts_with("http://") || url.starts_with("git://") {
        return Ok(Scheme::Plain);
    }
    bail!("--url '{url}' must start with ssh://, https://, http:// or git://")
}

fn check_branch(branch: &str) -> anyhow::Result<()> {
    let valid = !branch.is_empty()
        && branch.len() <= 200
        && !branch.starts_with(['-', '/', '.'])
        && !branch.ends_with(['/', '.'])
        && !branch.contains("..")
        && !branch.contains("//")
        && !branch.ends_with(".lock")
        && branch
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c));
    if !valid {
        bail!(
            "--branch '{branch}' is not a branch name this command accepts (letters, digits, '.', '_', '-', '/')"
        );
    }
    Ok(())
}

/// Validates the flags and renders what would be committed.
pub fn plan(
    args: &GitArgs,
) -> anyhow::Result<(SyncSpec, Vec<layout::File>, Vec<serde_json::Value>)> {
    let scheme = scheme(&args.url)?;
    check_branch(&args.branch)?;
    let path = layout::normalize_path(&args.path)?;
    driftless_api::duration::parse_duration(&args.interval)
        .with_context(|| format!("--interval '{}' is not a duration like 1m", args.interval))?;
    if scheme != Scheme::Ssh
        && (args.key.private_key_file.is_some() || args.key.ssh_key_algorithm.is_some())
    {
        bail!("--private-key-file and --ssh-key-algorithm are for ssh:// URLs");
    }
    if scheme != Scheme::Https && args.username.is_some() {
        bail!("--username/--password are for https:// URLs");
    }
    if let Some(ns) = &args.kube.namespace
        && ns != NAMESPACE
    {
        bail!("-n {ns}: bootstrap installs into {NAMESPACE} only");
    }
    let image = install_manifests::parse_image(&args.image)?;
    let components = install_manifests::render(&image)?;
    let spec = SyncSpec {
        url: args.url.clone(),
        branch: args.branch.clone(),
        path,
        interval: args.interval.clone(),
        with_secret: scheme == Scheme::Ssh || args.username.is_some(),
    };
    let files = layout::files(&spec, &args.image, &components.to_yaml())?;
    Ok((spec, files, components.objects))
}

async fn bootstrap(args: &GitArgs) -> anyhow::Result<()> {
    let (spec, files, components) = plan(args)?;
    if args.dry_run {
        for (path, content) in &files {
            println!("==> {path} <==");
            print!("{content}");
        }
        eprintln!(
            "dry run: would commit {} files to branch {} of {} (only if they differ from what \
             it holds) and apply {} objects plus the sync objects{}",
            files.len(),
            args.branch,
            args.url,
            components.len(),
            if spec.with_secret {
                " and the Secret driftless-system/driftless-system"
            } else {
                ""
            },
        );
        return Ok(());
    }
    let cluster = args.kube.connect().await?;
    let existing = Api::<Secret>::namespaced(cluster.client.clone(), NAMESPACE)
        .get_opt(SYNC_NAME)
        .await
        .with_context(|| format!("reading Secret {NAMESPACE}/{SYNC_NAME}"))?;
    let (credentials, secret_data, generated) = credentials(args, existing.as_ref())?;
    let remote = Remote::new(&args.url, &args.branch, &credentials)?;
    match &generated {
        Some(public_key) => {
            eprintln!(
                "Add this public key to the repository as a deploy key WITH WRITE ACCESS; \
                 waiting up to {} for it to be granted:",
                args.access_timeout
            );
            println!("{public_key}");
            let timeout = driftless_api::duration::parse_duration(&args.access_timeout)
                .with_context(|| format!("--access-timeout '{}'", args.access_timeout))?;
            remote.wait_for_access(timeout)?;
        }
        None => remote.check_access()?,
    }
    let message = format!(
        "Driftless bootstrap of {} (image {})",
        spec.path, args.image
    );
    let author = Author {
        name: args.author_name.clone(),
        email: args.author_email.clone(),
    };
    match remote.commit_files(&files, &message, &author)? {
        Some(commit) => eprintln!(
            "committed and pushed {commit} to {} of {}",
            args.branch, args.url
        ),
        None => eprintln!(
            "{} of {} already holds these manifests: nothing committed",
            args.branch, args.url
        ),
    }
    let secret = match secret_data {
        Some(data) => Some(serde_json::to_value(secret(SYNC_NAME, NAMESPACE, data))?),
        None => None,
    };
    let objects = layout::cluster_objects(&spec, components, secret)?;
    let mode = if args.server_dry_run {
        Mode::ServerDryRun
    } else {
        Mode::Apply
    };
    let count = install::apply_all(&cluster.client, &objects, mode).await?;
    eprintln!(
        "{} {count} objects{}; Driftless now syncs ./{} of {} (branch {})",
        if args.server_dry_run {
            "server-side dry-run of"
        } else {
            "applied"
        },
        if args.server_dry_run {
            " (CRDs and Namespaces for real)"
        } else {
            ""
        },
        spec.path,
        args.url,
        args.branch
    );
    Ok(())
}

type SecretData = std::collections::BTreeMap<String, k8s_openapi::ByteString>;

/// The credentials git uses, the Secret data to store, and the public key of a key generated
/// now (to print and wait for).
fn credentials(
    args: &GitArgs,
    existing: Option<&Secret>,
) -> anyhow::Result<(Credentials, Option<SecretData>, Option<String>)> {
    let existing_data = existing.and_then(|s| s.data.clone()).unwrap_or_default();
    let existing_text = |key: &str| {
        existing_data
            .get(key)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
    };
    match scheme(&args.url)? {
        Scheme::Plain => Ok((Credentials::default(), None, None)),
        Scheme::Https => {
            let (Some(user), Some(password)) = (&args.username, &args.password) else {
                return Ok((Credentials::default(), None, None));
            };
            let data = SecretData::from([
                (
                    "username".to_owned(),
                    k8s_openapi::ByteString(user.clone().into_bytes()),
                ),
                (
                    "password".to_owned(),
                    k8s_openapi::ByteString(password.clone().into_bytes()),
                ),
            ]);
            let credentials = Credentials {
                basic: Some((user.clone(), password.clone())),
                ..Credentials::default()
            };
            Ok((credentials, Some(data), None))
        }
        Scheme::Ssh => {
            let target = deploy_key::ssh_target(&args.url)?;
            let (key, generated) = match (&args.key.private_key_file, existing_text("identity")) {
                (Some(_), _) => (args.key.key("")?, false),
                (None, Some(identity)) if args.key.ssh_key_algorithm.is_none() => {
                    let public = existing_text("identity.pub").unwrap_or_default();
                    (
                        DeployKey {
                            private_openssh: identity,
                            public_openssh: public.trim().to_owned(),
                        },
                        false,
                    )
                }
                _ => (args.key.key("driftless-bootstrap")?, true),
            };
            let known_hosts = match existing_text("known_hosts") {
                Some(hosts) if !hosts.trim().is_empty() => hosts,
                _ => {
                    let hosts = deploy_key::scan_known_hosts(&target)?;
                    for fingerprint in deploy_key::fingerprints(&hosts) {
                        eprintln!("host key of {}:{}: {fingerprint}", target.host, target.port);
                    }
                    hosts
                }
            };
            let credentials = Credentials {
                identity: Some(key.private_openssh.clone()),
                known_hosts: Some(known_hosts.clone()),
                basic: None,
            };
            let data = ssh_data(&key, &known_hosts);
            let public = generated.then(|| key.public_openssh.clone());
            Ok((credentials, Some(data), public))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        git: GitArgs,
    }

    fn parse(args: &[&str]) -> anyhow::Result<GitArgs> {
        Ok(Cli::try_parse_from(std::iter::once("bootstrap").chain(args.iter().copied()))?.git)
    }

    #[test]
    fn plans_are_deterministic_and_carry_the_image() {
        let args = parse(&[
            "--url",
            "ssh://git@git.example/fleet.git",
            "--path",
            "clusters/prod",
            "--image",
            "registry.example/driftless:v1",
        ])
        .unwrap();
        let (spec, files, objects) = plan(&args).unwrap();
        assert!(spec.with_secret);
        assert_eq!(plan(&args).unwrap().1, files, "same inputs, same files");
        assert!(files[0].1.contains("image: registry.example/driftless:v1"));
        assert!(objects.iter().any(|o| o["kind"] == "Deployment"));
    }

    #[test]
    fn hostile_or_mismatched_input_is_refused() {
        for args in [
            vec!["--url", "ssh://git@git.example/f.git", "--path", "../etc"],
            vec![
                "--url",
                "ssh://git@git.example/f.git",
                "--path",
                "c",
                "--branch",
                "-x",
            ],
            vec![
                "--url",
                "ssh://git@git.example/f.git",
                "--path",
                "c",
                "--branch",
                "a..b",
            ],
            vec!["--url", "https://u:p@git.example/f.git", "--path", "c"],
            vec!["--url", "file:///etc", "--path", "c"],
            vec![
                "--url",
                "git://h/f.git",
                "--path",
                "c",
                "--private-key-file",
                "/k",
            ],
            vec!["--url", "ssh://h/f.git", "--path", "c", "--image", "X:1"],
            vec!["--url", "ssh://h/f.git", "--path", "c", "-n", "kube-system"],
        ] {
            let result = parse(&args).and_then(|a| plan(&a).map(drop));
            assert!(result.is_err(), "{args:?} accepted");
        }
    }
}
