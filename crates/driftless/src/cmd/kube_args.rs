//! The cluster and output flags every cluster-facing command shares, with kubectl's meaning:
//! `--kubeconfig`, `--context`, `-n/--namespace`, `-A/--all-namespaces` and `-o table|yaml|json`.
//!
//! The client follows kubectl's rules: `--kubeconfig` when given, else `$KUBECONFIG` (a
//! `:`-separated list, merged), else `~/.kube/config`, else the in-cluster service account.
//! The namespace is `-n`, else the context's namespace, else `default`.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Which cluster to talk to and in which namespace.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KubeArgs {
    /// Path of the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the
    /// in-cluster service account).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Name of the kubeconfig context to use (default: the current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace of the object(s) (default: the context's namespace, else `default`).
    #[arg(long, short = 'n', global = true, value_name = "NS")]
    pub namespace: Option<String>,
}

/// [`KubeArgs`] plus `-A/--all-namespaces`, for commands that list.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ListArgs {
    /// The cluster and namespace.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// List the objects of every namespace (overrides `-n`).
    #[arg(long, short = 'A', global = true)]
    pub all_namespaces: bool,
}

/// How a command prints objects.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// A YAML stream (one document per object).
    Yaml,
    /// One JSON document (a `List` when several objects).
    Json,
}

/// `-o table|yaml|json`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// A connected client and the namespace the command acts in.
#[derive(Clone)]
pub struct Cluster {
    /// The client (as the kubeconfig's user).
    pub client: Client,
    /// The config the client was built from (to derive impersonating clients).
    pub config: Config,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
}

impl KubeArgs {
    /// Loads the client configuration with kubectl's precedence.
    pub async fn config(&self) -> anyhow::Result<Config> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            cluster: None,
            user: None,
        };
        if let Some(path) = &self.kubeconfig {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
            return Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .with_context(|| format!("loading the kubeconfig {}", path.display()));
        }
        let from_env = std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty());
        match Kubeconfig::read() {
            Ok(kubeconfig) => Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .context("loading the kubeconfig named by $KUBECONFIG or ~/.kube/config"),
            Err(err) if from_env => {
                Err(anyhow::Error::new(err)
                    .context("reading the kubeconfig(s) named by $KUBECONFIG"))
            }
            Err(_) if self.context.is_some() => {
                bail!("--context given but no kubeconfig found: set $KUBECONFIG or --kubeconfig")
            }
            Err(_) => Config::incluster().map_err(|_| {
                anyhow::anyhow!(
                    "no cluster configured: set $KUBECONFIG or pass --kubeconfig \
                     (no ~/.kube/config, and not running inside a cluster)"
                )
            }),
        }
    }

    /// Connects: the client, its config and the namespace to act in.
    pub async fn connect(&self) -> anyhow::Result<Cluster> {
        let config = self.config().await?;
        let namespace = match &self.namespace {
            Some(ns) => {
                check_namespace(ns)?;
                ns.clone()
            }
            None => config.default_namespace.clone(),
        };
        let client = Client::try_from(config.clone()).with_context(|| {
            format!(
                "building a client for the API server {}",
                config.cluster_url
            )
        })?;
        Ok(Cluster {
            client,
            config,
            namespace,
        })
    }
}

impl ListArgs {
    /// The namespace to list in, `None` for every namespace.
    pub fn scope(&self, cluster: &Cluster) -> Option<String> {
        (!self.all_namespaces).then(|| cluster.namespace.clone())
    }
}

/// A namespace must be a DNS-1123 label (refused before any request names it).
pub fn check_namespace(ns: &str) -> anyhow::Result<()> {
    check_dns1123_label("namespace", ns)
}

/// `what` must be a DNS-1123 label: 1-63 lowercase letters, digits or '-', starting and ending
/// with a letter or digit.
pub fn check_dns1123_label(what: &str, value: &str) -> anyhow::Result<()> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let valid = !value.is_empty()
        && value.len() <= 63
        && value.chars().all(|c| alnum(c) || c == '-')
        && value.starts_with(alnum)
        && value.ends_with(alnum);
    if !valid {
        bail!(
            "{what} '{value}' is not a DNS-1123 label: 1-63 lowercase letters, digits or '-', \
             starting and ending with a letter or digit"
        );
    }
    Ok(())
}

/// `what` must be a DNS-1123 subdomain (object names): at most 253 characters of DNS-1123
/// labels joined by '.'.
pub fn check_object_name(what: &str, value: &str) -> anyhow::Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value
            .split('.')
            .all(|part| check_dns1123_label(what, part).is_ok());
    if !ok {
        bail!(
            "{what} '{value}' is not a valid object name: lowercase letters, digits, '-' and '.', \
             at most 253 characters, starting and ending with a letter or digit"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_namespace("team-a").is_ok());
        assert!(check_namespace("Team").is_err());
        assert!(check_namespace("../etc").is_err());
        assert!(check_namespace(&"a".repeat(64)).is_err());
        assert!(check_object_name("NAME", "web.example").is_ok());
        assert!(check_object_name("NAME", "web/../x").is_err());
        assert!(check_object_name("NAME", "").is_err());
    }

    #[tokio::test]
    async fn an_explicit_kubeconfig_and_context_are_honoured() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\ncurrent-context: one\nclusters:\n\
             - name: c1\n  cluster: {server: 'https://127.0.0.1:1'}\n\
             - name: c2\n  cluster: {server: 'https://127.0.0.1:2'}\n\
             contexts:\n- name: one\n  context: {cluster: c1, user: u}\n\
             - name: two\n  context: {cluster: c2, user: u, namespace: team-b}\n\
             users:\n- name: u\n  user: {token: t}\n",
        )
        .unwrap();
        let mut args = KubeArgs {
            kubeconfig: Some(path.clone()),
            ..KubeArgs::default()
        };
        let one = args.connect().await.unwrap();
        assert_eq!(one.config.cluster_url.port_u16(), Some(1));
        assert_eq!(one.namespace, "default");
        args.context = Some(String::from("two"));
        let two = args.connect().await.unwrap();
        assert_eq!(two.config.cluster_url.port_u16(), Some(2));
        assert_eq!(two.namespace, "team-b");
        args.namespace = Some(String::from("other"));
        assert_eq!(args.connect().await.unwrap().namespace, "other");
        args.context = Some(String::from("missing"));
        assert!(args.connect().await.is_err());
    }
}
