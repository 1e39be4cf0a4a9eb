//! `spec.recurseSubmodules`: the commits a checkout's gitlinks name, fetched from the URLs
//! its `.gitmodules` gives, and listed into the artifact at the gitlink paths.
//!
//! Every submodule URL is chosen by whoever wrote the commit. Before anything connects to
//! one it must resolve (relative URLs against the superproject's URL, never above its host)
//! and pass the caller's URL check (the same policy as `spec.url`). Credentials go along
//! only to the superproject's own origin (scheme, host and port). Depth and count are
//! bounded.

use std::sync::Arc;

/// Checks one submodule URL before anything connects to it (the caller's URL policy);
/// `Err` holds the refusal, naming the rule.
pub type SubmoduleUrlCheck = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Most submodules one artifact takes, nested ones included.
pub const MAX_SUBMODULES: usize = 32;

/// Deepest submodule nesting followed (a submodule of the repository is depth 1).
pub const MAX_SUBMODULE_DEPTH: usize = 5;

/// `.gitmodules` entries: `path` -> `url`, as written.
pub(crate) fn parse_gitmodules(bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| ".gitmodules is not UTF-8".to_owned())?;
    let file: gix::config::File = text
        .parse()
        .map_err(|e| format!(".gitmodules does not parse: {e}"))?;
    let mut out = Vec::new();
    if let Some(sections) = file.sections_by_name("submodule") {
        for section in sections {
            let path = section.value("path").map(|v| v.to_string());
            let url = section.value("url").map(|v| v.to_string());
            if let (Some(path), Some(url)) = (path, url) {
                out.push((path, url));
            }
        }
    }
    Ok(out)
}

/// `url` made absolute against the superproject's `base` URL, as git does for `./` and
/// `../` URLs; a relative URL that would climb above the host is refused.
pub(crate) fn resolve_url(base: &str, url: &str) -> Result<String, String> {
    if !(url.starts_with("./") || url.starts_with("../")) {
        return Ok(url.to_owned());
    }
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| format!("relative URL '{url}' needs a superproject URL with a scheme"))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for part in url.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(format!(
                        "relative URL '{url}' climbs above the host of the superproject"
                    ));
                }
            }
            other => segments.push(other),
        }
    }
    Ok(format!("{scheme}://{authority}/{}", segments.join("/")))
}

/// `scheme://host:port` of `url` without user info, for comparing origins.
pub(crate) fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_urls_resolve_against_the_superproject_and_stay_on_its_host() {
        let base = "git://127.0.0.1:9418/team/app";
        assert_eq!(
            resolve_url(base, "../lib").unwrap(),
            "git://127.0.0.1:9418/team/lib"
        );
        assert_eq!(
            resolve_url(base, "./sub").unwrap(),
            "git://127.0.0.1:9418/team/app/sub"
        );
        assert!(resolve_url(base, "../../../etc").is_err());
        assert_eq!(resolve_url(base, "file:///etc").unwrap(), "file:///etc");
    }

    #[test]
    fn origins_ignore_user_info_and_case() {
        assert_eq!(
            origin("https://u:p@Git.Example:443/a"),
            origin("https://git.example:443/b")
        );
        assert_ne!(
            origin("https://git.example/a"),
            origin("https://evil.example/a")
        );
        assert_ne!(
            origin("http://git.example/a"),
            origin("https://git.example/a")
        );
    }

    #[test]
    fn gitmodules_entries_are_read() {
        let parsed = parse_gitmodules(
            b"[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = ../lib\n[submodule \"x\"]\n\tpath = x\n",
        )
        .unwrap();
        assert_eq!(parsed, vec![("vendor/lib".to_owned(), "../lib".to_owned())]);
    }
}
