//! Which files of a commit go into an artifact: Flux's default excludes, every
//! `.sourceignore` in the tree, then `spec.ignore` (gitignore syntax; later rules win,
//! so `spec.ignore` can re-include with `!pattern`).
//!
//! Matching follows git: a path is checked against the rules and, when a directory is
//! excluded, nothing below it is visited. A `.sourceignore` in `a/b/` applies to paths
//! under `a/b/` only.

use std::path::{Path, PathBuf};

use gix::bstr::BStr;
use gix::glob::pattern::Case;
use gix::ignore::search::Ignore;

/// Name of the in-tree ignore file, as in Flux.
pub const SOURCEIGNORE_FILE: &str = ".sourceignore";

/// Flux's default exclusion patterns (`fluxcd/pkg/sourceignore`: ExcludeVCS,
/// ExcludeExt, ExcludeCI, ExcludeExtra), lowest priority.
pub const DEFAULT_EXCLUDES: &[&str] = &[
    // VCS
    ".git/",
    ".gitignore",
    ".gitmodules",
    ".gitattributes",
    // Extensions
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    // CI
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    // Extra
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
];

/// A virtual root used only to give pattern lists their base directory.
const ROOT: &str = "/artifact-root";

/// The compiled ignore rules for one checkout.
pub struct IgnoreRules {
    search: gix::ignore::Search,
}

impl IgnoreRules {
    /// Build the rules from in-tree `.sourceignore` files (`(directory, contents)`, the
    /// directory relative to the repository root with `/` separators, `""` for the root)
    /// and the optional `spec.ignore` text.
    pub fn new(sourceignore_files: &[(String, Vec<u8>)], spec_ignore: Option<&str>) -> Self {
        let mut search = gix::ignore::Search::default();
        let root = Path::new(ROOT);
        let mut add = |bytes: &[u8], dir: &str, file: &str| {
            let mut source = PathBuf::from(ROOT);
            if !dir.is_empty() {
                source.push(dir);
            }
            source.push(file);
            // Only fails for a source without a parent, which cannot happen here.
            let _ = search.add_patterns_buffer(bytes, source, Some(root), Ignore::default());
        };
        add(DEFAULT_EXCLUDES.join("\n").as_bytes(), "", ".flux-defaults");
        // Shallower files first so deeper ones take precedence, as in git.
        let mut files: Vec<&(String, Vec<u8>)> = sourceignore_files.iter().collect();
        files.sort_by_key(|(dir, _)| {
            (
                dir.matches('/').count() + usize::from(!dir.is_empty()),
                dir.clone(),
            )
        });
        for (dir, bytes) in files {
            add(bytes, dir, SOURCEIGNORE_FILE);
        }
        if let Some(spec) = spec_ignore {
            add(spec.as_bytes(), "", ".spec-ignore");
        }
        IgnoreRules { search }
    }

    /// Whether `path` (relative, `/`-separated) is excluded by the rules themselves.
    /// Callers walk top-down and skip the contents of excluded directories.
    pub fn is_excluded(&self, path: &str, is_dir: bool) -> bool {
        self.search
            .pattern_matching_relative_path(
                BStr::new(path.as_bytes()),
                Some(is_dir),
                Case::Sensitive,
            )
            .is_some_and(|m| !m.pattern.is_negative())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(rules: &IgnoreRules, path: &str) -> bool {
        // Emulate the top-down walk: excluded if any parent dir or the path itself is.
        let parts: Vec<&str> = path.split('/').collect();
        (1..=parts.len()).any(|n| rules.is_excluded(&parts[..n].join("/"), n < parts.len()))
    }

    #[test]
    fn flux_defaults_apply() {
        let rules = IgnoreRules::new(&[], None);
        for path in [
            ".git/config",
            ".gitignore",
            "logo.png",
            "deep/dir/pic.jpeg",
            "release.tar.gz",
            ".github/workflows/ci.yaml",
            "sub/.goreleaser.yml",
            "x/.sops.yaml",
            "cloudbuild.yaml",
        ] {
            assert!(excluded(&rules, path), "{path} should be excluded");
        }
        for path in [
            "deploy/app.yaml",
            "kustomization.yaml",
            "README.md",
            "sops.yaml",
        ] {
            assert!(!excluded(&rules, path), "{path} should be kept");
        }
    }

    #[test]
    fn spec_ignore_adds_and_overrides() {
        let rules = IgnoreRules::new(&[], Some("# exclude all\n/*\n!/deploy/\n!*.png\n"));
        assert!(excluded(&rules, "README.md"));
        assert!(excluded(&rules, "other/app.yaml"));
        assert!(!excluded(&rules, "deploy/app.yaml"));
        assert!(!excluded(&rules, "deploy/logo.png"));
    }

    #[test]
    fn sourceignore_applies_below_its_directory() {
        let files = vec![
            ("".to_owned(), b"*.md\n".to_vec()),
            ("apps/dev".to_owned(), b"secret.yaml\n!NOTES.md\n".to_vec()),
        ];
        let rules = IgnoreRules::new(&files, None);
        assert!(excluded(&rules, "README.md"));
        assert!(excluded(&rules, "apps/dev/secret.yaml"));
        assert!(!excluded(&rules, "apps/prod/secret.yaml"));
        assert!(
            !excluded(&rules, "apps/dev/NOTES.md"),
            "deeper file re-includes"
        );
        assert!(excluded(&rules, "apps/prod/NOTES.md"));
    }

    #[test]
    fn excluded_directory_hides_its_contents() {
        let rules = IgnoreRules::new(&[], Some("build/\n"));
        assert!(rules.is_excluded("build", true));
        assert!(!rules.is_excluded("build", false), "dir-only pattern");
        assert!(excluded(&rules, "build/out/x.yaml"));
    }
}
