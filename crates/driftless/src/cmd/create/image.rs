//! `driftless create image repository|policy|update`.

use anyhow::{Context as _, bail};
use driftless_api::{ImagePolicy, ImageRepository, ImageUpdateAutomation};
use driftless_image_controller::policy::Selector;
use serde_json::{Value, json};

use super::{to_value, validate};

/// Arguments of `driftless create image repository`.
#[derive(clap::Args, Debug)]
pub struct RepositoryArgs {
    /// Name of the ImageRepository.
    name: String,
    /// Image to scan, without tag, e.g. `ghcr.io/acme/web`.
    #[arg(long, value_name = "IMAGE")]
    image: String,
    /// How often to scan, e.g. `5m`.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    interval: String,
    /// A `kubernetes.io/dockerconfigjson` Secret with registry credentials.
    #[arg(long, value_name = "NAME")]
    secret_ref: Option<String>,
    /// Allow plain HTTP to the registry.
    #[arg(long)]
    insecure: bool,
}

/// Arguments of `driftless create image policy`.
#[derive(clap::Args, Debug)]
pub struct PolicyArgs {
    /// Name of the ImagePolicy.
    name: String,
    /// The ImageRepository whose tags are chosen from (`NAME` or `NAMESPACE/NAME`).
    #[arg(long, value_name = "NAME")]
    image_ref: String,
    /// Choose the highest tag in this semver range, e.g. `>=1.0.0 <2`.
    #[arg(long, value_name = "RANGE", group = "select")]
    select_semver: Option<String>,
    /// Choose tags alphabetically: `asc` (last) or `desc` (first).
    #[arg(long, value_name = "ORDER", group = "select", value_parser = ["asc", "desc"])]
    select_alpha: Option<String>,
    /// Choose tags numerically: `asc` (highest) or `desc` (lowest).
    #[arg(long, value_name = "ORDER", group = "select", value_parser = ["asc", "desc"])]
    select_numeric: Option<String>,
    /// Only tags matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    filter_regex: Option<String>,
    /// What of a matching tag is compared, e.g. `$ts` for a named group.
    #[arg(long, value_name = "TEMPLATE", requires = "filter_regex")]
    filter_extract: Option<String>,
}

/// Arguments of `driftless create image update`.
#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    /// Name of the ImageUpdateAutomation.
    name: String,
    /// The GitRepository to commit to (`NAME` or `NAMESPACE/NAME`).
    #[arg(long, value_name = "NAME")]
    git_repo_ref: String,
    /// Path of the repository whose setter markers are updated.
    #[arg(long, value_name = "DIR", default_value = "./")]
    git_repo_path: String,
    /// Branch to check out (default: the GitRepository's).
    #[arg(long, value_name = "BRANCH")]
    checkout_branch: Option<String>,
    /// Branch to push to (default: the checked-out branch).
    #[arg(long, value_name = "BRANCH")]
    push_branch: Option<String>,
    /// Name of the commit author.
    #[arg(long, value_name = "NAME", default_value = "driftless")]
    author_name: String,
    /// E-mail of the commit author.
    #[arg(long, value_name = "EMAIL")]
    author_email: String,
    /// Template of the commit message.
    #[arg(long, value_name = "TEMPLATE")]
    commit_template: Option<String>,
    /// How often to run, e.g. `30m`.
    #[arg(long, value_name = "DURATION", default_value = "30m")]
    interval: String,
}

fn split_ref(flag: &str, value: &str) -> anyhow::Result<(Option<String>, String)> {
    let (ns, name) = match value.split_once('/') {
        Some((ns, name)) => {
            crate::cmd::kube_args::check_dns1123_label(flag, ns)?;
            (Some(ns.to_owned()), name.to_owned())
        }
        None => (None, value.to_owned()),
    };
    validate::name(flag, &name)?;
    Ok((ns, name))
}

fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(
    value: Value,
    kind: &str,
) -> anyhow::Result<Value> {
    let object: T =
        serde_json::from_value(value).with_context(|| format!("building the {kind}"))?;
    to_value(&object)
}

/// The ImageRepository the flags describe.
pub fn repository(args: &RepositoryArgs, namespace: &str) -> anyhow::Result<Value> {
    validate::name("NAME", &args.name)?;
    validate::duration("--interval", &args.interval)?;
    let image = &args.image;
    if image.is_empty()
        || image.contains("://")
        || image
            .chars()
            .any(|c| c.is_whitespace() || c.is_ascii_uppercase() || c == '@')
        || image
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
    {
        bail!(
            "--image '{image}' must be an image name without scheme, tag or digest, e.g. ghcr.io/acme/web"
        );
    }
    let mut spec = json!({"image": image, "interval": args.interval});
    if let Some(secret) = &args.secret_ref {
        validate::name("--secret-ref", secret)?;
        spec["secretRef"] = json!({"name": secret});
    }
    if args.insecure {
        spec["insecure"] = json!(true);
    }
    typed::<ImageRepository>(
        json!({"apiVersion": "image.driftless.dev/v1", "kind": "ImageRepository",
            "metadata": {"name": args.name, "namespace": namespace}, "spec": spec}),
        "ImageRepository",
    )
}

/// The ImagePolicy the flags describe.
pub fn policy(args: &PolicyArgs, namespace: &str) -> anyhow::Result<Value> {
    validate::name("NAME", &args.name)?;
    let (ns, repo) = split_ref("--image-ref", &args.image_ref)?;
    let policy = match (
        &args.select_semver,
        &args.select_alpha,
        &args.select_numeric,
    ) {
        (Some(range), _, _) => json!({"semver": {"range": range}}),
        (_, Some(order), _) => json!({"alphabetical": {"order": order}}),
        (_, _, Some(order)) => json!({"numerical": {"order": order}}),
        _ => bail!("choose how to pick a tag: --select-semver, --select-alpha or --select-numeric"),
    };
    let mut spec = json!({"imageRepositoryRef": {"name": repo}, "policy": policy});
    if let Some(ns) = ns {
        spec["imageRepositoryRef"]["namespace"] = json!(ns);
    }
    if let Some(pattern) = &args.filter_regex {
        spec["filterTags"] = json!({"pattern": pattern});
        if let Some(extract) = &args.filter_extract {
            spec["filterTags"]["extract"] = json!(extract);
        }
    }
    let value = json!({"apiVersion": "image.driftless.dev/v1", "kind": "ImagePolicy",
        "metadata": {"name": args.name, "namespace": namespace}, "spec": spec});
    let policy: ImagePolicy = serde_json::from_value(value).context("building the ImagePolicy")?;
    // Exactly the controller's checks of the range, the pattern and the extract template.
    Selector::from_spec(&policy.spec).map_err(|e| {
        anyhow::anyhow!("--select-semver/--filter-regex/--filter-extract refused: {e}")
    })?;
    to_value(&policy)
}

/// The ImageUpdateAutomation the flags describe.
pub fn update(args: &UpdateArgs, namespace: &str) -> anyhow::Result<Value> {
    validate::name("NAME", &args.name)?;
    let (ns, repo) = split_ref("--git-repo-ref", &args.git_repo_ref)?;
    validate::repo_path("--git-repo-path", &args.git_repo_path)?;
    validate::duration("--interval", &args.interval)?;
    let email = &args.author_email;
    if !email.contains('@')
        || email
            .chars()
            .any(|c| c.is_whitespace() || c == '<' || c == '>')
    {
        bail!("--author-email '{email}' is not an e-mail address");
    }
    if args
        .author_name
        .chars()
        .any(|c| c.is_control() || c == '<' || c == '>')
    {
        bail!(
            "--author-name '{}' may not contain '<', '>' or control characters",
            args.author_name
        );
    }
    let mut source = json!({"kind": "GitRepository", "name": repo});
    if let Some(ns) = ns {
        source["namespace"] = json!(ns);
    }
    let mut git = json!({"commit": {"author": {"name": args.author_name, "email": email}}});
    if let Some(template) = &args.commit_template {
        git["commit"]["messageTemplate"] = json!(template);
    }
    if let Some(branch) = &args.checkout_branch {
        validate::git_ref("--checkout-branch", branch)?;
        git["checkout"] = json!({"ref": {"branch": branch}});
    }
    if let Some(branch) = &args.push_branch {
        validate::git_ref("--push-branch", branch)?;
        git["push"] = json!({"branch": branch});
    }
    typed::<ImageUpdateAutomation>(
        json!({"apiVersion": "image.driftless.dev/v1", "kind": "ImageUpdateAutomation",
            "metadata": {"name": args.name, "namespace": namespace},
            "spec": {"sourceRef": source, "git": git, "interval": args.interval,
                "update": {"strategy": "Setters", "path": args.git_repo_path}}}),
        "ImageUpdateAutomation",
    )
}
