//! Paths inside an artifact that users name in a spec (`spec.sparseCheckout`,
//! `spec.include[].fromPath` and `.toPath`): checked and normalized before anything
//! touches disk, so none can leave the artifact root.
//!
//! A leading `./`, `.` components, repeated and trailing `/` are dropped (Flux trims a
//! leading `./` too). Refused: absolute paths, `..` anywhere, NUL and control
//! characters, `\`, and every component the tree entry rules refuse (`.git` and its
//! aliases). Artifacts hold no symlinks, so a normalized path cannot be redirected.

use crate::entry_name;

/// Longest accepted path, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// Why a path was refused (shown after the field and the path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRefusal(pub String);

impl std::fmt::Display for PathRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `raw` as a normalized relative path with `/` separators; `""` names the root.
pub fn normalize(raw: &str) -> Result<String, PathRefusal> {
    let refuse = |why: &str| Err(PathRefusal(why.to_owned()));
    if raw.len() > MAX_PATH_BYTES {
        return refuse(&format!("longer than {MAX_PATH_BYTES} bytes"));
    }
    if raw.starts_with('/') {
        return refuse("must be relative to the artifact root");
    }
    if raw.chars().any(char::is_control) {
        return refuse("must not contain control characters");
    }
    if raw.contains('\\') {
        return refuse("must use '/' as separator, not '\\'");
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => continue,
            ".." => return refuse("must not contain '..'"),
            _ => {}
        }
        if let Err(why) = entry_name::check(part.as_bytes()) {
            return refuse(&format!("component '{part}': {why}"));
        }
        parts.push(part);
    }
    Ok(parts.join("/"))
}

/// Whether `path` is `dir` or below it (`dir == ""` contains everything).
pub fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// `dirs` without duplicates and without entries inside another entry, sorted.
pub fn outermost(mut dirs: Vec<String>) -> Vec<String> {
    dirs.sort();
    dirs.dedup();
    let mut kept: Vec<String> = Vec::new();
    for d in dirs {
        if !kept.iter().any(|k| is_within(&d, k)) {
            kept.push(d);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_harmless_spellings() {
        assert_eq!(normalize("./deploy/").unwrap(), "deploy");
        assert_eq!(normalize("a//b/./c").unwrap(), "a/b/c");
        assert_eq!(normalize("").unwrap(), "");
        assert_eq!(normalize("./").unwrap(), "");
    }

    #[test]
    fn refuses_escapes_and_git_metadata() {
        for bad in [
            "../x",
            "a/../../etc",
            "a/..",
            "/etc/passwd",
            ".git/hooks",
            "a/.GIT",
            "a\\..\\b",
            "a\0b",
            "a\nb",
        ] {
            assert!(normalize(bad).is_err(), "{bad:?} accepted");
        }
        assert!(normalize(&"a/".repeat(600)).is_err());
    }

    #[test]
    fn containment_respects_component_boundaries() {
        assert!(is_within("charts/a.yaml", "charts"));
        assert!(is_within("charts", "charts"));
        assert!(!is_within("charts2/a.yaml", "charts"));
        assert!(!is_within("charts.yaml", "charts"));
        assert!(is_within("anything", ""));
        assert_eq!(
            outermost(vec!["a/b".into(), "a".into(), "c".into(), "a".into()]),
            vec!["a".to_owned(), "c".to_owned()]
        );
    }
}
