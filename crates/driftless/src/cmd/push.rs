//! `driftless push artifact oci://<host>/<repository>:<tag> --path DIR --source URL
//! --revision REV`: packs a directory as a Flux OCI artifact (the media types and
//! annotations of `flux push artifact`, a deterministic tarball) and pushes it, so
//! OCIRepositories of Driftless and of Flux can pull it.

use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use driftless_oci::{
    Access, ArtifactMetadata, ImageName, RegistryCredentials, Session, media_type,
};
use driftless_runtime::url_policy::UrlPolicy;

/// `driftless push`.
#[derive(Parser, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Debug)]
enum What {
    /// Push a directory as an OCI artifact (as `flux push artifact` does).
    Artifact(ArtifactArgs),
}

/// `driftless push artifact`.
#[derive(Parser, Debug)]
pub struct ArtifactArgs {
    /// Where to push: `oci://<host>[:<port>]/<repository>:<tag>`.
    url: String,
    /// The directory to pack.
    #[arg(long)]
    path: std::path::PathBuf,
    /// The source of the files (e.g. the git URL), stored as `org.opencontainers.image.source`.
    #[arg(long)]
    source: String,
    /// The source revision (e.g. `main@sha1:<commit>`), stored as `org.opencontainers.image.revision`.
    #[arg(long)]
    revision: String,
    /// Registry credentials as `<username>:<password>`.
    #[arg(long, env = "DRIFTLESS_REGISTRY_CREDS", hide_env_values = true)]
    creds: Option<String>,
    /// Use plain HTTP (the default for loopback registries: localhost, 127.0.0.0/8, ::1).
    #[arg(long)]
    insecure_registry: bool,
    /// The creation time to record (RFC 3339); defaults to now.
    #[arg(long)]
    created: Option<String>,
    /// Timeout of each registry request, in seconds.
    #[arg(long, default_value_t = 60)]
    timeout_seconds: u64,
}

/// Runs the subcommand.
pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.what {
        What::Artifact(a) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?
            .block_on(push_artifact(a)),
    }
}

/// `oci://host/repo:tag` → the repository and the tag.
fn split_url(url: &str) -> anyhow::Result<(ImageName, String)> {
    let rest = url
        .strip_prefix("oci://")
        .with_context(|| format!("{url}: the URL must start with oci://"))?;
    let (repository, tag) = match rest.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, tag),
        _ => bail!("{url}: the URL needs a tag, e.g. oci://host/repo:v1"),
    };
    let valid_tag = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !tag.starts_with(['.', '-']);
    if !valid_tag {
        bail!("{url}: '{tag}' is not a valid tag");
    }
    let image = ImageName::parse_field(repository, "URL")?;
    Ok((image, tag.to_owned()))
}

fn is_loopback(registry: &str) -> bool {
    let host = registry
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(registry, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn push_artifact(args: &ArtifactArgs) -> anyhow::Result<()> {
    let (image, tag) = split_url(&args.url)?;
    if !args.path.is_dir() {
        bail!("--path {}: not a directory", args.path.display());
    }
    let mut layer = Vec::new();
    driftless_source::write_tarball(&args.path, &mut layer)
        .with_context(|| format!("packing {}", args.path.display()))?;
    let created = match &args.created {
        Some(created) => created.clone(),
        None => k8s_openapi::jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
    };
    let metadata = ArtifactMetadata {
        source: args.source.clone(),
        revision: args.revision.clone(),
        created,
    };
    let artifact = driftless_oci::artifact_image(&layer, &metadata)?;
    let credentials = args
        .creds
        .as_deref()
        .map(|c| {
            c.split_once(':')
                .map(|(username, password)| RegistryCredentials {
                    username: username.to_owned(),
                    password: password.to_owned(),
                })
                .context("--creds must be <username>:<password>")
        })
        .transpose()?;
    // The user chose the registry: no URL policy beyond the client's redirect rules.
    let policy = Arc::new(UrlPolicy::new(false, &[], &[])?);
    let http = driftless_oci::http_client(policy.clone(), "driftless-cli")?;
    let access = Access {
        image: &image,
        insecure: args.insecure_registry || is_loopback(&image.registry),
        credentials: credentials.as_ref(),
        timeout: std::time::Duration::from_secs(args.timeout_seconds),
        policy: &policy,
        max_response_bytes: driftless_oci::DEFAULT_MAX_RESPONSE_BYTES,
    };
    let mut session = Session::new(&http, access, true)?;
    driftless_oci::push_blob(&mut session, &layer).await?;
    driftless_oci::push_blob(&mut session, &artifact.config).await?;
    let digest = driftless_oci::push_manifest(&mut session, &tag, &artifact.manifest).await?;
    println!("pushed oci://{}@{digest}", image.canonical());
    eprintln!(
        "artifact {} ({} layer, {} bytes) tagged '{tag}'",
        media_type::FLUX_CONTENT,
        1,
        layer.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_a_repository_and_a_valid_tag() {
        let (image, tag) = split_url("oci://127.0.0.1:5000/team/app:v1.0.0").unwrap();
        assert_eq!(image.canonical(), "127.0.0.1:5000/team/app");
        assert_eq!(tag, "v1.0.0");
        assert!(is_loopback(&image.registry));
        assert!(!is_loopback("ghcr.io"));
        assert!(is_loopback("localhost:5000"));
        for bad in [
            "127.0.0.1:5000/team/app:v1",
            "oci://127.0.0.1:5000/team/app",
            "oci://127.0.0.1:5000/team/app:",
            "oci://127.0.0.1:5000/team/app:a/b",
            "oci://127.0.0.1:5000/team/app:-x",
        ] {
            assert!(split_url(bad).is_err(), "{bad}");
        }
    }
}
