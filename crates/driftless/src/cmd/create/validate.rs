//! Checks of `create` flags, each naming the flag it refuses.

use anyhow::{Context as _, bail};

pub use crate::cmd::kube_args::check_object_name as name;

/// A duration like `1m` or `5m30s`.
pub fn duration(flag: &str, value: &str) -> anyhow::Result<()> {
    driftless_api::duration::parse_duration(value)
        .map(|_| ())
        .with_context(|| format!("{flag} '{value}' is not a duration like 1m or 5m30s"))
}

/// A git URL of a scheme the source controller fetches.
pub fn git_url(flag: &str, url: &str) -> anyhow::Result<()> {
    const SCHEMES: [&str; 5] = ["https://", "http://", "ssh://", "git://", "file://"];
    if !SCHEMES
        .iter()
        .any(|s| url.starts_with(s) && url.len() > s.len())
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        bail!(
            "{flag} '{url}' must be a URL starting with one of {}",
            SCHEMES.join(", ")
        );
    }
    Ok(())
}

/// A relative path inside a repository.
pub fn repo_path(flag: &str, path: &str) -> anyhow::Result<()> {
    if path.starts_with('/') || path.split('/').any(|p| p == "..") || path.contains('\0') {
        bail!(
            "{flag} '{path}' must be relative to the repository root and stay inside it (no leading '/' or '..')"
        );
    }
    Ok(())
}

/// A git branch or tag name.
pub fn git_ref(flag: &str, value: &str) -> anyhow::Result<()> {
    if value.is_empty()
        || value.len() > 255
        || value.starts_with('-')
        || value.contains("..")
        || value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
    {
        bail!("{flag} '{value}' is not a valid git ref name");
    }
    Ok(())
}

/// `Kind/name` or `Kind/namespace/name`; returns (kind, namespace, name).
pub fn kind_ref(flag: &str, value: &str) -> anyhow::Result<(String, Option<String>, String)> {
    let parts: Vec<&str> = value.split('/').collect();
    let (kind, namespace, object) = match parts.as_slice() {
        [kind, object] => (*kind, None, *object),
        [kind, ns, object] => (*kind, Some(*ns), *object),
        _ => bail!("{flag} '{value}' must be Kind/name or Kind/namespace/name"),
    };
    if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
        bail!("{flag} '{value}': '{kind}' is not a kind");
    }
    if let Some(ns) = namespace {
        crate::cmd::kube_args::check_dns1123_label(flag, ns)?;
    }
    if object != "*" {
        name(flag, object)?;
    }
    Ok((
        kind.to_owned(),
        namespace.map(str::to_owned),
        object.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_refused_by_name() {
        assert!(git_url("--url", "https://example.test/repo.git").is_ok());
        assert!(
            git_url("--url", "ftp://x")
                .unwrap_err()
                .to_string()
                .contains("--url")
        );
        assert!(repo_path("--path", "./deploy").is_ok());
        assert!(repo_path("--path", "../../etc").is_err());
        assert!(git_ref("--branch", "main").is_ok());
        assert!(git_ref("--branch", "a..b").is_err());
        assert!(git_ref("--branch", "-x").is_err());
        assert_eq!(
            kind_ref("--event-source", "Kustomization/apps").unwrap(),
            ("Kustomization".into(), None, "apps".into())
        );
        assert!(kind_ref("--event-source", "Kustomization/a/b/c").is_err());
        assert!(duration("--interval", "5x").is_err());
    }
}
