//! `driftless create secret git NAME --url URL`: the Secret a GitRepository's `spec.secretRef`
//! names, in Flux's format.
//!
//! - `ssh://` URLs: `identity` (OpenSSH private key, generated here or read from
//!   `--private-key-file`), `identity.pub`, and `known_hosts` gathered by connecting to the
//!   URL's host and port with `ssh-keyscan`. The public key is printed to add to the
//!   repository as a deploy key (with write access when image automation or bootstrap push).
//! - `https://`/`http://` URLs: `username` and `password`, or `bearerToken`; `ca.crt` with
//!   `--ca-file`.
//!
//! The Secret is applied with server-side apply (field manager `driftless`), or printed as
//! YAML with `--export`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ObjectMeta, Patch, PatchParams};

use crate::cmd::deploy_key::{self, DeployKey, KeyArgs};
use crate::cmd::kube_args::{KubeArgs, check_object_name};

/// The field manager of objects the CLI creates (as `create`'s other subcommands).
const FIELD_MANAGER: &str = "driftless-cli";
/// Largest `--ca-file` read.
const MAX_CA_FILE_BYTES: u64 = 1024 * 1024;

/// Examples and notes shown by `create secret git --help`.
pub const GIT_AFTER_HELP: &str = "Examples:\n  \
    driftless create secret git apps-auth -n team-a --url ssh://git@git.example/team-a/apps.git\n  \
    driftless create secret git apps-auth --url ssh://git@git.example:2222/apps.git --private-key-file ./id_ed25519\n  \
    driftless create secret git apps-auth --url https://git.example/apps.git --username bot --password \"$TOKEN\"\n\n\
    For ssh:// the host's keys are gathered with ssh-keyscan (from openssh-client), trusting \
    the host on first use: compare the printed fingerprints with the ones your git host \
    publishes. The controller then checks the host key strictly against them on every \
    fetch and push. The public key goes to stdout (stderr with --export).";

/// Arguments of `driftless create secret git`.
#[derive(clap::Args, Debug, Clone)]
pub struct GitArgs {
    /// Name of the Secret.
    pub name: String,
    /// URL of the repository: `ssh://[USER@]HOST[:PORT]/PATH`, `https://…` or `http://…`.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// The deploy key (ssh:// only).
    #[command(flatten)]
    pub key: KeyArgs,
    /// User name for basic auth (https:// only).
    #[arg(long, short = 'u', value_name = "USER", requires = "password")]
    pub username: Option<String>,
    /// Password or access token for basic auth (https:// only).
    #[arg(long, short = 'p', value_name = "PASSWORD", requires = "username")]
    pub password: Option<String>,
    /// Bearer token (https:// only).
    #[arg(long, value_name = "TOKEN", conflicts_with_all = ["username", "password"])]
    pub bearer_token: Option<String>,
    /// PEM file of CA certificates to trust for https:// (stored as `ca.crt`).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

/// What `create secret git` made: the Secret, and the public key of an ssh deploy key.
pub struct GitSecret {
    /// The Secret (data keys in Flux's format).
    pub secret: Secret,
    /// `ssh-… AAAA… comment` for ssh:// URLs.
    pub public_key: Option<String>,
    /// Fingerprints of the gathered host keys, for ssh:// URLs.
    pub host_fingerprints: Vec<String>,
}

/// Runs `create secret git` in `namespace`: applies the Secret (or prints it with `export`)
/// and prints the deploy key's public half.
pub async fn run_git(
    args: &GitArgs,
    kube: &KubeArgs,
    namespace: &str,
    export: bool,
) -> anyhow::Result<()> {
    check_object_name("secret NAME", &args.name)?;
    let made = git_secret(args, namespace)?;
    if export {
        print!("---\n{}", serde_norway::to_string(&made.secret)?);
    } else {
        let cluster = kube.connect().await?;
        let api: Api<Secret> = Api::namespaced(cluster.client, namespace);
        api.patch(
            &args.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&made.secret),
        )
        .await
        .with_context(|| format!("applying Secret {namespace}/{}", args.name))?;
        eprintln!("✔ Secret {namespace}/{} applied", args.name);
    }
    for fingerprint in &made.host_fingerprints {
        eprintln!("host key: {fingerprint}");
    }
    if let Some(public_key) = &made.public_key {
        eprintln!(
            "Add this public key to the repository as a deploy key (allow write access if \
             image automation or bootstrap push to it):"
        );
        if export {
            eprintln!("{public_key}");
        } else {
            println!("{public_key}");
        }
    }
    Ok(())
}

/// Builds the Secret for `args.url` in `namespace` (generating a key and scanning the host
/// for ssh://).
pub fn git_secret(args: &GitArgs, namespace: &str) -> anyhow::Result<GitSecret> {
    let mut data = BTreeMap::new();
    let mut public_key = None;
    let mut host_fingerprints = Vec::new();
    let is_http = args.url.starts_with("https://") || args.url.starts_with("http://");
    if args.url.starts_with("ssh://") {
        if args.username.is_some() || args.bearer_token.is_some() || args.ca_file.is_some() {
            bail!(
                "--username/--password, --bearer-token and --ca-file are for https:// URLs; {} is ssh://",
                args.url
            );
        }
        let target = deploy_key::ssh_target(&args.url)?;
        let key = args
            .key
            .key(&format!("driftless-{namespace}-{}", args.name))?;
        let known_hosts = deploy_key::scan_known_hosts(&target)?;
        host_fingerprints = deploy_key::fingerprints(&known_hosts);
        data = ssh_data(&key, &known_hosts);
        public_key = Some(key.public_openssh);
    } else if is_http {
        if args.key.private_key_file.is_some() || args.key.ssh_key_algorithm.is_some() {
            bail!(
                "--private-key-file and --ssh-key-algorithm are for ssh:// URLs; {} is not",
                args.url
            );
        }
        if args.url.contains('@') {
            bail!("--url must not hold credentials; pass --username/--password or --bearer-token");
        }
        match (&args.username, &args.password, &args.bearer_token) {
            (Some(user), Some(password), None) => {
                data.insert("username".to_owned(), ByteString(user.clone().into_bytes()));
                data.insert(
                    "password".to_owned(),
                    ByteString(password.clone().into_bytes()),
                );
            }
            (None, None, Some(token)) => {
                data.insert(
                    "bearerToken".to_owned(),
                    ByteString(token.clone().into_bytes()),
                );
            }
            _ if args.ca_file.is_some() => {}
            _ => bail!(
                "{} needs --username and --password, or --bearer-token (or only --ca-file)",
                args.url
            ),
        }
        if let Some(path) = &args.ca_file {
            data.insert("ca.crt".to_owned(), ByteString(read_ca_file(path)?));
        }
    } else {
        bail!(
            "--url '{}' must start with ssh://, https:// or http://",
            args.url
        );
    }
    Ok(GitSecret {
        secret: secret(&args.name, namespace, data),
        public_key,
        host_fingerprints,
    })
}

/// The keys of an ssh Secret: `identity`, `identity.pub`, `known_hosts`.
pub fn ssh_data(key: &DeployKey, known_hosts: &str) -> BTreeMap<String, ByteString> {
    BTreeMap::from([
        (
            "identity".to_owned(),
            ByteString(key.private_openssh.clone().into_bytes()),
        ),
        (
            "identity.pub".to_owned(),
            ByteString(format!("{}\n", key.public_openssh).into_bytes()),
        ),
        (
            "known_hosts".to_owned(),
            ByteString(known_hosts.as_bytes().to_vec()),
        ),
    ])
}

/// An Opaque Secret `namespace/name` holding `data`.
pub fn secret(name: &str, namespace: &str, data: BTreeMap<String, ByteString>) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

fn read_ca_file(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .with_context(|| format!("--ca-file {shown}"))?
        .len();
    if size > MAX_CA_FILE_BYTES {
        bail!("--ca-file {shown}: {size} bytes, at most {MAX_CA_FILE_BYTES}");
    }
    let bytes = std::fs::read(path).with_context(|| format!("--ca-file {shown}"))?;
    if !String::from_utf8_lossy(&bytes).contains("-----BEGIN CERTIFICATE-----") {
        bail!("--ca-file {shown}: no PEM certificate in it");
    }
    Ok(bytes)
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

    fn parse(args: &[&str]) -> GitArgs {
        Cli::try_parse_from(std::iter::once("git").chain(args.iter().copied()))
            .unwrap()
            .git
    }

    #[test]
    fn https_secrets_hold_basic_auth_or_a_token() {
        let basic = git_secret(
            &parse(&[
                "s",
                "--url",
                "https://git.example/r.git",
                "-u",
                "bot",
                "-p",
                "pw",
            ]),
            "team-a",
        )
        .unwrap();
        let data = basic.secret.data.unwrap();
        assert_eq!(data["username"].0, b"bot");
        assert_eq!(data["password"].0, b"pw");
        assert!(basic.public_key.is_none());
        assert_eq!(basic.secret.metadata.namespace.as_deref(), Some("team-a"));
        let token = git_secret(
            &parse(&[
                "s",
                "--url",
                "https://git.example/r.git",
                "--bearer-token",
                "t0k",
            ]),
            "ns",
        )
        .unwrap();
        assert_eq!(token.secret.data.unwrap()["bearerToken"].0, b"t0k");
    }

    #[test]
    fn mismatched_flags_and_urls_are_refused() {
        for args in [
            vec!["s", "--url", "https://git.example/r.git"],
            vec![
                "s",
                "--url",
                "https://bot:pw@git.example/r.git",
                "--bearer-token",
                "t",
            ],
            vec![
                "s",
                "--url",
                "ssh://git@127.0.0.1:1/r.git",
                "-u",
                "a",
                "-p",
                "b",
            ],
            vec![
                "s",
                "--url",
                "https://git.example/r.git",
                "--bearer-token",
                "t",
                "--ssh-key-algorithm",
                "rsa",
            ],
            vec!["s", "--url", "git://git.example/r.git"],
            vec!["s", "--url", "ssh://-oProxyCommand=touch%20x/r.git"],
        ] {
            assert!(
                git_secret(&parse(&args), "ns").is_err(),
                "{args:?} accepted"
            );
        }
        assert!(
            Cli::try_parse_from([
                "git",
                "s",
                "--url",
                "https://h/r",
                "--bearer-token",
                "t",
                "-u",
                "a",
                "-p",
                "b"
            ])
            .is_err()
        );
    }
}
