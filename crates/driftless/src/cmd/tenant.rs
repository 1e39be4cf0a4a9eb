//! `driftless tenant create`: print the manifests that onboard a tenant.
//!
//! A tenant is a namespace whose Kustomizations apply as the tenant's own ServiceAccount, so
//! the API server's RBAC decides what the tenant may change: the RoleBinding grants a
//! ClusterRole's rights in the tenant's namespace only.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use driftless_api::kustomize::KustomizationSpec;
use driftless_api::meta::{CrossNamespaceSourceReference, SourceKind};
use driftless_api::source::{GitRepositoryRef, GitRepositorySpec};
use driftless_api::well_known::TENANT_LABEL;
use driftless_api::{GitRepository, Kustomization};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use kube::api::ObjectMeta;

/// Arguments of `driftless tenant`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: TenantCommand,
}

#[derive(clap::Subcommand, Debug)]
enum TenantCommand {
    /// Print the manifests that onboard a tenant, as one YAML stream for `kubectl apply -f -`:
    /// a Namespace labelled `toolkit.driftless.dev/tenant: NAME`, a ServiceAccount NAME, a
    /// RoleBinding granting `--cluster-role` to it in that namespace only and, with
    /// `--git-url`, a GitRepository and a Kustomization that applies as that ServiceAccount.
    #[command(
        after_help = "Example:\n  driftless tenant create team-a --namespace team-a \\\n    \
        --git-url https://git.example/team-a/apps --path ./deploy | kubectl apply -f -\n\n\
        The Kustomization applies as the tenant's ServiceAccount, so RBAC decides what the \
        tenant's git may create. The default install (config/default) runs the controller with \
        --default-service-account=default: a Kustomization without serviceAccountName applies \
        as its namespace's `default` account, never with the controller's rights. Add \
        --no-cross-namespace-refs so a tenant cannot build another namespace's sources."
    )]
    Create(CreateArgs),
}

/// Arguments of `driftless tenant create`.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct CreateArgs {
    /// Tenant name (DNS-1123 label): names the ServiceAccount, the RoleBinding, the
    /// GitRepository and the Kustomization, and is the value of the tenant label.
    pub name: String,
    /// Namespace of the tenant (DNS-1123 label); created by the manifests.
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: String,
    /// URL of the tenant's git repository (`https://`, `http://`, `ssh://`, `git://` or
    /// `file://`). Without it only the Namespace, ServiceAccount and RoleBinding are printed.
    #[arg(long, value_name = "URL")]
    pub git_url: Option<String>,
    /// Branch of the repository to follow.
    #[arg(long, value_name = "B", default_value = "main", requires = "git_url")]
    pub branch: String,
    /// Path inside the repository to build and apply.
    #[arg(long, value_name = "P", default_value = "./", requires = "git_url")]
    pub path: String,
    /// How often to fetch the repository and re-apply it, e.g. `1m`, `5m30s`.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1m",
        requires = "git_url"
    )]
    pub interval: String,
    /// ClusterRole granted to the tenant's ServiceAccount, in its namespace only.
    #[arg(long, value_name = "ROLE", default_value = "admin")]
    pub cluster_role: String,
}

/// Runs the subcommand.
pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        TenantCommand::Create(create) => {
            print!("{}", render(create)?);
            Ok(())
        }
    }
}

/// Validates `args` and renders the onboarding manifests as a YAML stream.
pub fn render(args: &CreateArgs) -> anyhow::Result<String> {
    validate(args)?;
    let mut out = String::new();
    push_document(&mut out, &namespace(args), "Namespace")?;
    push_document(&mut out, &service_account(args), "ServiceAccount")?;
    push_document(&mut out, &role_binding(args), "RoleBinding")?;
    if let Some(url) = &args.git_url {
        push_document(&mut out, &git_repository(args, url), "GitRepository")?;
        push_document(&mut out, &kustomization(args), "Kustomization")?;
    }
    Ok(out)
}

fn push_document<T: serde::Serialize>(
    out: &mut String,
    object: &T,
    kind: &str,
) -> anyhow::Result<()> {
    let yaml =
        serde_norway::to_string(object).with_context(|| format!("serializing the {kind}"))?;
    out.push_str("---\n");
    out.push_str(&yaml);
    Ok(())
}

/// Refuses input the API server would refuse later, naming the flag.
fn validate(args: &CreateArgs) -> anyhow::Result<()> {
    check_dns1123_label("tenant NAME", &args.name)?;
    check_dns1123_label("--namespace", &args.namespace)?;
    if args.cluster_role.is_empty()
        || args.cluster_role.len() > 253
        || args.cluster_role.contains(['/', '%'])
        || args.cluster_role == "."
        || args.cluster_role == ".."
    {
        bail!(
            "--cluster-role '{}' is not a valid ClusterRole name (1-253 characters, no '/' or '%')",
            args.cluster_role
        );
    }
    let Some(url) = &args.git_url else {
        return Ok(());
    };
    const SCHEMES: [&str; 5] = ["https://", "http://", "ssh://", "git://", "file://"];
    if !SCHEMES
        .iter()
        .any(|s| url.starts_with(s) && url.len() > s.len())
    {
        bail!(
            "--git-url '{url}' must start with one of {}",
            SCHEMES.join(", ")
        );
    }
    if args.branch.is_empty()
        || args
            .branch
            .chars()
            .any(|c| c.is_whitespace() || c == '~' || c == '^' || c == ':')
    {
        bail!("--branch '{}' is not a valid git branch name", args.branch);
    }
    if args.path.starts_with('/') || args.path.split('/').any(|part| part == "..") {
        bail!(
            "--path '{}' must be relative to the repository root and stay inside it (no leading '/' or '..')",
            args.path
        );
    }
    driftless_api::duration::parse_duration(&args.interval).with_context(|| {
        format!(
            "--interval '{}' is not a duration like 1m or 5m30s",
            args.interval
        )
    })?;
    Ok(())
}

/// A DNS-1123 label: 1-63 lowercase alphanumerics or '-', starting and ending alphanumeric.
fn check_dns1123_label(what: &str, value: &str) -> anyhow::Result<()> {
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

fn tenant_labels(args: &CreateArgs) -> Option<BTreeMap<String, String>> {
    Some(BTreeMap::from([(
        TENANT_LABEL.to_owned(),
        args.name.clone(),
    )]))
}

fn metadata(args: &CreateArgs, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(args.namespace.clone()),
        labels: tenant_labels(args),
        ..ObjectMeta::default()
    }
}

/// Name of the RoleBinding granting the cluster role to the tenant's ServiceAccount.
pub fn role_binding_name(tenant: &str) -> String {
    format!("{tenant}-reconciler")
}

fn namespace(args: &CreateArgs) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(args.namespace.clone()),
            labels: tenant_labels(args),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

fn service_account(args: &CreateArgs) -> ServiceAccount {
    ServiceAccount {
        metadata: metadata(args, &args.name),
        ..ServiceAccount::default()
    }
}

fn role_binding(args: &CreateArgs) -> RoleBinding {
    RoleBinding {
        metadata: metadata(args, &role_binding_name(&args.name)),
        role_ref: RoleRef {
            api_group: String::from("rbac.authorization.k8s.io"),
            kind: String::from("ClusterRole"),
            name: args.cluster_role.clone(),
        },
        subjects: Some(vec![Subject {
            kind: String::from("ServiceAccount"),
            name: args.name.clone(),
            namespace: Some(args.namespace.clone()),
            api_group: None,
        }]),
    }
}

fn git_repository(args: &CreateArgs, url: &str) -> GitRepository {
    let mut repo = GitRepository::new(
        &args.name,
        GitRepositorySpec {
            url: url.to_owned(),
            secret_ref: None,
            interval: args.interval.clone(),
            timeout: String::from("60s"),
            reference: Some(GitRepositoryRef {
                branch: Some(args.branch.clone()),
                ..GitRepositoryRef::default()
            }),
            ignore: None,
            suspend: false,
            verify: None,
            sparse_checkout: Vec::new(),
            include: Vec::new(),
            recurse_submodules: false,
        },
    );
    repo.metadata = metadata(args, &args.name);
    repo
}

fn kustomization(args: &CreateArgs) -> Kustomization {
    let mut ks = Kustomization::new(
        &args.name,
        KustomizationSpec {
            common_metadata: None,
            depends_on: Vec::new(),
            decryption: None,
            health_check_exprs: Vec::new(),
            ignore: Vec::new(),
            kube_config: None,
            interval: args.interval.clone(),
            retry_interval: None,
            path: Some(args.path.clone()),
            post_build: None,
            prune: true,
            health_checks: Vec::new(),
            name_prefix: None,
            name_suffix: None,
            patches: Vec::new(),
            images: Vec::new(),
            service_account_name: Some(args.name.clone()),
            source_ref: CrossNamespaceSourceReference {
                api_version: None,
                kind: SourceKind::GitRepository,
                name: args.name.clone(),
                namespace: None,
            },
            suspend: false,
            target_namespace: Some(args.namespace.clone()),
            timeout: None,
            force: false,
            wait: false,
            components: Vec::new(),
        },
    );
    ks.metadata = metadata(args, &args.name);
    ks
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::Value;

    use super::*;

    fn args(git_url: Option<&str>) -> CreateArgs {
        CreateArgs {
            name: String::from("team-a"),
            namespace: String::from("apps-a"),
            git_url: git_url.map(str::to_owned),
            branch: String::from("main"),
            path: String::from("./deploy"),
            interval: String::from("1m"),
            cluster_role: String::from("admin"),
        }
    }

    fn documents(yaml: &str) -> Vec<Value> {
        serde_norway::Deserializer::from_str(yaml)
            .map(|doc| Value::deserialize(doc).expect("every document parses"))
            .collect()
    }

    fn kinds_and_names(docs: &[Value]) -> Vec<(String, String)> {
        docs.iter()
            .map(|d| {
                (
                    d["kind"].as_str().unwrap_or_default().to_owned(),
                    d["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn without_git_url_prints_namespace_account_and_binding() {
        let docs = documents(&render(&args(None)).unwrap());
        assert_eq!(
            kinds_and_names(&docs),
            vec![
                (String::from("Namespace"), String::from("apps-a")),
                (String::from("ServiceAccount"), String::from("team-a")),
                (
                    String::from("RoleBinding"),
                    String::from("team-a-reconciler")
                ),
            ]
        );
        assert_eq!(docs[0]["apiVersion"], "v1");
        assert_eq!(docs[0]["metadata"]["labels"][TENANT_LABEL], "team-a");
        assert!(docs[0]["metadata"].get("namespace").is_none());
        assert_eq!(docs[1]["metadata"]["namespace"], "apps-a");
    }

    #[test]
    fn role_binding_is_namespaced_and_binds_the_cluster_role_to_the_account() {
        let mut a = args(None);
        a.cluster_role = String::from("edit");
        let docs = documents(&render(&a).unwrap());
        let binding = &docs[2];
        assert_eq!(binding["apiVersion"], "rbac.authorization.k8s.io/v1");
        assert_eq!(binding["kind"], "RoleBinding");
        assert_eq!(binding["metadata"]["namespace"], "apps-a");
        assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
        assert_eq!(binding["roleRef"]["name"], "edit");
        assert_eq!(
            binding["subjects"],
            serde_json::json!([{"kind": "ServiceAccount", "name": "team-a", "namespace": "apps-a"}])
        );
    }

    #[test]
    fn with_git_url_adds_source_and_kustomization_applying_as_the_account() {
        let out = render(&args(Some("https://git.example/team-a/apps"))).unwrap();
        let docs = documents(&out);
        assert_eq!(
            kinds_and_names(&docs)[3..],
            [
                (String::from("GitRepository"), String::from("team-a")),
                (String::from("Kustomization"), String::from("team-a")),
            ]
        );
        let repo: GitRepository = serde_json::from_value(docs[3].clone()).unwrap();
        assert_eq!(repo.metadata.namespace.as_deref(), Some("apps-a"));
        assert_eq!(repo.spec.url, "https://git.example/team-a/apps");
        assert_eq!(
            repo.spec.reference.and_then(|r| r.branch).as_deref(),
            Some("main")
        );
        let ks: Kustomization = serde_json::from_value(docs[4].clone()).unwrap();
        assert_eq!(docs[4]["apiVersion"], "kustomize.driftless.dev/v1");
        assert_eq!(ks.metadata.namespace.as_deref(), Some("apps-a"));
        assert_eq!(ks.spec.service_account_name.as_deref(), Some("team-a"));
        assert!(ks.spec.prune);
        assert_eq!(ks.spec.target_namespace.as_deref(), Some("apps-a"));
        assert_eq!(ks.spec.path.as_deref(), Some("./deploy"));
        assert_eq!(ks.spec.interval, "1m");
        assert_eq!(ks.spec.source_ref.name, "team-a");
        assert_eq!(ks.spec.source_ref.namespace, None);
        assert!(docs[4].get("status").is_none(), "{out}");
    }

    #[test]
    fn refuses_names_that_are_not_dns1123_labels() {
        for bad in ["Team-A", "team_a", "-team", "team-", "", &"a".repeat(64)] {
            let mut a = args(None);
            a.name = bad.to_owned();
            let err = render(&a).unwrap_err().to_string();
            assert!(
                err.contains("tenant NAME") && err.contains("DNS-1123"),
                "{bad}: {err}"
            );
            let mut a = args(None);
            a.namespace = bad.to_owned();
            let err = render(&a).unwrap_err().to_string();
            assert!(err.contains("--namespace"), "{bad}: {err}");
        }
    }

    #[test]
    fn refuses_bad_git_url_path_interval_and_role() {
        type Change = fn(&mut CreateArgs);
        let cases: [(Change, &str); 5] = [
            (
                |a| a.git_url = Some(String::from("git.example/x")),
                "--git-url",
            ),
            (|a| a.path = String::from("../other"), "--path"),
            (|a| a.path = String::from("/etc"), "--path"),
            (|a| a.interval = String::from("1 minute"), "--interval"),
            (|a| a.cluster_role = String::from("a/b"), "--cluster-role"),
        ];
        for (change, flag) in cases {
            let mut a = args(Some("https://git.example/team-a/apps"));
            change(&mut a);
            let err = format!("{:#}", render(&a).unwrap_err());
            assert!(err.contains(flag), "expected {flag} in: {err}");
        }
    }

    #[test]
    fn worked_example_in_config_tenants_is_the_commands_output() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/tenants");
        for team in ["team-a", "team-b"] {
            let args = CreateArgs {
                name: team.to_owned(),
                namespace: team.to_owned(),
                git_url: Some(format!("https://git.example/{team}/apps")),
                branch: String::from("main"),
                path: String::from("./deploy"),
                interval: String::from("5m"),
                cluster_role: String::from("admin"),
            };
            let file = root.join(team).join("tenant.yaml");
            let committed = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
            assert_eq!(
                committed,
                render(&args).unwrap(),
                "{} differs from `driftless tenant create` (regenerate it, see config/tenants/README.md)",
                file.display()
            );
        }
    }

    #[test]
    fn command_line_parses_with_defaults() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            tenant: Args,
        }
        let cli = Cli::try_parse_from([
            "tenant",
            "create",
            "team-b",
            "--namespace",
            "team-b",
            "--git-url",
            "git://h/r",
        ])
        .unwrap();
        let TenantCommand::Create(create) = cli.tenant.command;
        assert_eq!(create.branch, "main");
        assert_eq!(create.path, "./");
        assert_eq!(create.interval, "1m");
        assert_eq!(create.cluster_role, "admin");
        assert!(
            Cli::try_parse_from(["tenant", "create", "x", "--branch", "dev", "-n", "x"]).is_err()
        );
    }
}
