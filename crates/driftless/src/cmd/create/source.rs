//! `driftless create source git NAME --url URL`.

use anyhow::bail;
use driftless_api::GitRepository;
use driftless_api::meta::LocalObjectReference;
use driftless_api::source::{GitRepositoryRef, GitRepositorySpec};

use super::{to_value, validate};

/// Arguments of `driftless create source git`.
#[derive(clap::Args, Debug)]
pub struct GitArgs {
    /// Name of the GitRepository.
    name: String,
    /// URL of the repository (`https://`, `http://`, `ssh://`, `git://`, `file://`).
    #[arg(long, value_name = "URL")]
    url: String,
    /// Branch to follow (the default when no other ref is given: `main`).
    #[arg(long, value_name = "BRANCH", conflicts_with_all = ["tag", "tag_semver", "commit"])]
    branch: Option<String>,
    /// Tag to check out.
    #[arg(long, value_name = "TAG", conflicts_with_all = ["tag_semver", "commit"])]
    tag: Option<String>,
    /// Newest tag matching this semver range, e.g. `>=1.0.0 <2`.
    #[arg(long, value_name = "RANGE", conflicts_with = "commit")]
    tag_semver: Option<String>,
    /// Commit SHA to check out.
    #[arg(long, value_name = "SHA")]
    commit: Option<String>,
    /// How often to fetch, e.g. `1m`.
    #[arg(long, value_name = "DURATION", default_value = "1m")]
    interval: String,
    /// Timeout of one fetch, e.g. `60s`.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    timeout: String,
    /// Secret with the credentials (see `driftless create secret git`).
    #[arg(long, value_name = "NAME")]
    secret_ref: Option<String>,
    /// `.gitignore`-style patterns of files to leave out of the artifact.
    #[arg(long, value_name = "PATTERNS")]
    ignore_paths: Option<String>,
}

/// The GitRepository the flags describe.
pub fn object(args: &GitArgs, namespace: &str) -> anyhow::Result<serde_json::Value> {
    validate::name("NAME", &args.name)?;
    validate::git_url("--url", &args.url)?;
    validate::duration("--interval", &args.interval)?;
    validate::duration("--timeout", &args.timeout)?;
    if let Some(b) = &args.branch {
        validate::git_ref("--branch", b)?;
    }
    if let Some(t) = &args.tag {
        validate::git_ref("--tag", t)?;
    }
    if let Some(range) = &args.tag_semver {
        driftless_image_controller::policy::SemverRange::parse(range)
            .map_err(|e| anyhow::anyhow!("--tag-semver '{range}' is not a semver range: {e}"))?;
    }
    if let Some(sha) = &args.commit
        && !(sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()))
    {
        bail!("--commit '{sha}' must be a full 40-character commit SHA");
    }
    if let Some(secret) = &args.secret_ref {
        validate::name("--secret-ref", secret)?;
    }
    let reference = GitRepositoryRef {
        branch: args.branch.clone().or_else(|| {
            (args.tag.is_none() && args.tag_semver.is_none() && args.commit.is_none())
                .then(|| String::from("main"))
        }),
        tag: args.tag.clone(),
        semver: args.tag_semver.clone(),
        name: None,
        commit: args.commit.clone(),
    };
    let mut repo = GitRepository::new(
        &args.name,
        GitRepositorySpec {
            url: args.url.clone(),
            secret_ref: args
                .secret_ref
                .clone()
                .map(|name| LocalObjectReference { name }),
            interval: args.interval.clone(),
            timeout: args.timeout.clone(),
            reference: Some(reference),
            ignore: args.ignore_paths.clone(),
            suspend: false,
            verify: None,
            sparse_checkout: Vec::new(),
            include: Vec::new(),
            recurse_submodules: false,
        },
    );
    repo.metadata.namespace = Some(namespace.to_owned());
    to_value(&repo)
}
