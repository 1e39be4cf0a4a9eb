//! `spec.ref` of a GitRepository: which remote refs to ask for, and how the
//! advertised refs resolve to one commit and a Flux-format revision.
//!
//! Precedence follows Flux: `commit` > `name` > `semver` > `tag` > `branch`.
//! When `commit` is set together with `branch`, the branch is fetched and the commit
//! must be reachable from it. With no field set the branch `master` is used, as in Flux.

use crate::error::Error;

/// The branch Flux uses when `spec.ref` is empty.
pub const DEFAULT_BRANCH: &str = "master";

/// `spec.ref`: the git reference to check out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GitRef {
    /// Branch name, e.g. `main`.
    pub branch: Option<String>,
    /// Tag name, e.g. `v1.0.0`.
    pub tag: Option<String>,
    /// Semver range over the tags, e.g. `>=1.0.0 <2.0.0`.
    pub semver: Option<String>,
    /// Full reference name, e.g. `refs/heads/main` or `refs/pull/42/head`.
    pub name: Option<String>,
    /// Commit SHA-1 (40 hex digits).
    pub commit: Option<String>,
}

impl GitRef {
    /// A ref that follows `branch`.
    pub fn branch(branch: impl Into<String>) -> Self {
        GitRef {
            branch: Some(branch.into()),
            ..Default::default()
        }
    }

    /// A ref that points at `tag`.
    pub fn tag(tag: impl Into<String>) -> Self {
        GitRef {
            tag: Some(tag.into()),
            ..Default::default()
        }
    }

    /// A ref that picks the highest tag within the semver `range`.
    pub fn semver(range: impl Into<String>) -> Self {
        GitRef {
            semver: Some(range.into()),
            ..Default::default()
        }
    }

    /// A ref with a full reference `name`.
    pub fn name(name: impl Into<String>) -> Self {
        GitRef {
            name: Some(name.into()),
            ..Default::default()
        }
    }

    /// A ref pinned to `commit` (optionally combined with a `branch` it must be on).
    pub fn commit(commit: impl Into<String>) -> Self {
        GitRef {
            commit: Some(commit.into()),
            ..Default::default()
        }
    }

    /// Decide what to ask the remote for, after validating the fields.
    pub(crate) fn plan(&self) -> Result<Plan, Error> {
        fn non_empty(v: &Option<String>) -> Option<&str> {
            v.as_deref().filter(|s| !s.trim().is_empty())
        }
        if let Some(commit) = non_empty(&self.commit) {
            let commit = commit.trim().to_ascii_lowercase();
            if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::InvalidReference(format!(
                    "ref.commit {commit:?} is not a 40-digit SHA-1"
                )));
            }
            return Ok(Plan::Commit {
                commit,
                branch: non_empty(&self.branch).map(str::to_owned),
            });
        }
        if let Some(name) = non_empty(&self.name) {
            if !name.starts_with("refs/") {
                return Err(Error::InvalidReference(format!(
                    "ref.name {name:?} must be a full reference starting with refs/"
                )));
            }
            return Ok(Plan::Exact {
                full_name: name.to_owned(),
                label: name.to_owned(),
                description: format!("ref.name {name:?}"),
            });
        }
        if let Some(range) = non_empty(&self.semver) {
            return Ok(Plan::Semver {
                range: SemverRange::parse(range)?,
            });
        }
        if let Some(tag) = non_empty(&self.tag) {
            return Ok(Plan::Exact {
                full_name: format!("refs/tags/{tag}"),
                label: tag.to_owned(),
                description: format!("tag {tag:?}"),
            });
        }
        let branch = non_empty(&self.branch).unwrap_or(DEFAULT_BRANCH);
        Ok(Plan::Exact {
            full_name: format!("refs/heads/{branch}"),
            label: branch.to_owned(),
            description: format!("branch {branch:?}"),
        })
    }
}

/// What to ask the remote for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// One reference by full name; the revision is `<label>@sha1:<sha>`.
    Exact {
        full_name: String,
        label: String,
        description: String,
    },
    /// The highest tag within a range.
    Semver { range: SemverRange },
    /// A fixed commit, optionally on a branch.
    Commit {
        commit: String,
        branch: Option<String>,
    },
}

impl Plan {
    /// Ref prefixes to list on the remote (used as fetch refspec sources).
    pub(crate) fn ref_patterns(&self) -> Vec<String> {
        match self {
            Plan::Exact { full_name, .. } => vec![full_name.clone()],
            Plan::Semver { .. } => vec!["refs/tags/*".to_owned()],
            Plan::Commit {
                branch: Some(b), ..
            } => vec![format!("refs/heads/{b}")],
            Plan::Commit { branch: None, .. } => vec!["refs/heads/*".to_owned()],
        }
    }

    /// Whether the fetch needs history (to find a commit that need not be a tip).
    pub(crate) fn needs_history(&self) -> bool {
        matches!(self, Plan::Commit { .. })
    }
}

/// One reference as advertised by the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// Full name, e.g. `refs/tags/v1.0.0`.
    pub name: String,
    /// The object the ref points at (a tag object for annotated tags), hex.
    pub target: String,
    /// The commit an annotated tag peels to, hex.
    pub peeled: Option<String>,
}

impl RemoteRef {
    fn commit(&self) -> &str {
        self.peeled.as_deref().unwrap_or(&self.target)
    }
}

/// The outcome of matching a [`Plan`] against the advertised refs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The commit to check out, hex.
    pub commit: String,
    /// The Flux revision, e.g. `main@sha1:<sha>`.
    pub revision: String,
    /// Full names of the remote refs to fetch (the commit's history source).
    pub fetch_refs: Vec<String>,
    /// For `commit` + `branch`: the branch tip the commit must be reachable from.
    pub must_be_reachable_from: Option<String>,
    /// The tag the commit was reached through (tag, semver or a `refs/tags/` name).
    pub tag: Option<ResolvedTag>,
}

/// A tag a ref resolved through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedTag {
    /// Short name, e.g. `v1.0.0`.
    pub name: String,
    /// The tag object (annotated tags only), hex.
    pub object: Option<String>,
}

fn tag_of(r: &RemoteRef) -> Option<ResolvedTag> {
    let name = r.name.strip_prefix("refs/tags/")?;
    Some(ResolvedTag {
        name: name.to_owned(),
        object: r.peeled.as_ref().map(|_| r.target.clone()),
    })
}

/// Match `plan` against the refs the remote advertised.
pub(crate) fn resolve(plan: &Plan, url: &str, refs: &[RemoteRef]) -> Result<Resolved, Error> {
    let not_found = |reference: String| Error::ReferenceNotFound {
        url: url.to_owned(),
        reference,
    };
    match plan {
        Plan::Exact {
            full_name,
            label,
            description,
        } => {
            let r = refs
                .iter()
                .find(|r| &r.name == full_name)
                .ok_or_else(|| not_found(description.clone()))?;
            Ok(Resolved {
                commit: r.commit().to_owned(),
                revision: format!("{label}@sha1:{}", r.commit()),
                fetch_refs: vec![full_name.clone()],
                must_be_reachable_from: None,
                tag: tag_of(r),
            })
        }
        Plan::Semver { range } => {
            let (tag, r) = best_tag(range, refs)
                .ok_or_else(|| not_found(format!("no tag matching semver {:?}", range.text)))?;
            Ok(Resolved {
                commit: r.commit().to_owned(),
                revision: format!("{tag}@sha1:{}", r.commit()),
                fetch_refs: vec![r.name.clone()],
                must_be_reachable_from: None,
                tag: tag_of(r),
            })
        }
        Plan::Commit {
            commit,
            branch: Some(branch),
        } => {
            let full = format!("refs/heads/{branch}");
            let r = refs
                .iter()
                .find(|r| r.name == full)
                .ok_or_else(|| not_found(format!("branch {branch:?}")))?;
            Ok(Resolved {
                commit: commit.clone(),
                revision: format!("{branch}@sha1:{commit}"),
                fetch_refs: vec![full],
                must_be_reachable_from: Some(r.commit().to_owned()),
                tag: None,
            })
        }
        Plan::Commit {
            commit,
            branch: None,
        } => Ok(Resolved {
            commit: commit.clone(),
            revision: format!("sha1:{commit}"),
            fetch_refs: refs
                .iter()
                .filter(|r| r.name.starts_with("refs/heads/"))
                .map(|r| r.name.clone())
                .collect(),
            must_be_reachable_from: None,
            tag: None,
        }),
    }
}

/// A semver range in Flux's (Masterminds) syntax: space- or comma-separated
/// comparators are ANDed, `||` separates alternatives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SemverRange {
    text: String,
    alternatives: Vec<semver::VersionReq>,
}

impl SemverRange {
    pub(crate) fn parse(text: &str) -> Result<Self, Error> {
        let mut alternatives = Vec::new();
        for alt in text.split("||") {
            let comparators: Vec<String> = join_operators(alt)
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.trim_start_matches('v')
                        .replace(">v", ">")
                        .replace("=v", "=")
                })
                .collect();
            let joined = if comparators.is_empty() {
                "*".to_owned()
            } else {
                comparators.join(", ")
            };
            let req = semver::VersionReq::parse(&joined).map_err(|e| {
                Error::InvalidReference(format!("ref.semver {text:?} is not a valid range: {e}"))
            })?;
            alternatives.push(req);
        }
        Ok(SemverRange {
            text: text.to_owned(),
            alternatives,
        })
    }

    pub(crate) fn matches(&self, v: &semver::Version) -> bool {
        self.alternatives.iter().any(|r| r.matches(v))
    }
}

/// Glue operators to their versions (`>= 1.0` becomes `>=1.0`) so splitting on
/// whitespace yields whole comparators.
fn join_operators(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_op = false;
    for c in s.chars() {
        if c.is_whitespace() && pending_op {
            continue;
        }
        pending_op = matches!(c, '>' | '<' | '=' | '~' | '^' | '!');
        out.push(c);
    }
    out
}

/// Parse a tag as a version the way Flux does (an optional leading `v`).
pub(crate) fn tag_version(tag: &str) -> Option<semver::Version> {
    semver::Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()
}

fn best_tag<'a>(range: &SemverRange, refs: &'a [RemoteRef]) -> Option<(&'a str, &'a RemoteRef)> {
    refs.iter()
        .filter_map(|r| {
            let tag = r.name.strip_prefix("refs/tags/")?;
            let v = tag_version(tag)?;
            range.matches(&v).then_some((v, tag, r))
        })
        // Highest version; among equal versions the lexically greatest tag, for determinism.
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, tag, r)| (tag, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccc";
    const T: &str = "dddddddddddddddddddddddddddddddddddddddd";

    fn refs() -> Vec<RemoteRef> {
        let r = |name: &str, target: &str, peeled: Option<&str>| RemoteRef {
            name: name.into(),
            target: target.into(),
            peeled: peeled.map(Into::into),
        };
        vec![
            r("refs/heads/main", A, None),
            r("refs/heads/dev", B, None),
            r("refs/tags/v1.0.0", A, None),
            r("refs/tags/v1.2.0", T, Some(B)),
            r("refs/tags/v2.0.0", C, None),
            r("refs/tags/v1.3.0-rc.1", C, None),
            r("refs/tags/not-a-version", C, None),
        ]
    }

    fn resolve_ref(r: &GitRef) -> Result<Resolved, Error> {
        resolve(&r.plan()?, "file:///repo", &refs())
    }

    #[test]
    fn branch_revision_is_branch_at_sha() {
        let res = resolve_ref(&GitRef::branch("main")).unwrap();
        assert_eq!(res.revision, format!("main@sha1:{A}"));
        assert_eq!(res.fetch_refs, vec!["refs/heads/main"]);
    }

    #[test]
    fn empty_ref_defaults_to_master_and_names_it_when_missing() {
        let err = resolve_ref(&GitRef::default()).unwrap_err();
        assert!(err.to_string().contains("branch \"master\""), "{err}");
    }

    #[test]
    fn annotated_tag_resolves_to_peeled_commit() {
        let res = resolve_ref(&GitRef::tag("v1.2.0")).unwrap();
        assert_eq!(res.commit, B);
        assert_eq!(res.revision, format!("v1.2.0@sha1:{B}"));
    }

    #[test]
    fn semver_picks_highest_matching_release() {
        let res = resolve_ref(&GitRef::semver(">=1.0.0 <2.0.0")).unwrap();
        assert_eq!(res.revision, format!("v1.2.0@sha1:{B}"));
        let res = resolve_ref(&GitRef::semver("*")).unwrap();
        assert_eq!(res.revision, format!("v2.0.0@sha1:{C}"));
        let res = resolve_ref(&GitRef::semver("~1.0")).unwrap();
        assert_eq!(res.revision, format!("v1.0.0@sha1:{A}"));
        let res = resolve_ref(&GitRef::semver(">= 2.0.0 || <1.1")).unwrap();
        assert_eq!(res.revision, format!("v2.0.0@sha1:{C}"));
    }

    #[test]
    fn semver_without_match_names_the_range() {
        let err = resolve_ref(&GitRef::semver(">=3")).unwrap_err();
        assert!(err.to_string().contains(">=3"), "{err}");
        assert!(matches!(
            GitRef::semver(">=x.y").plan(),
            Err(Error::InvalidReference(_))
        ));
    }

    #[test]
    fn precedence_commit_name_semver_tag_branch() {
        let all = GitRef {
            branch: Some("dev".into()),
            tag: Some("v1.0.0".into()),
            semver: Some("*".into()),
            name: Some("refs/heads/main".into()),
            commit: Some(C.into()),
        };
        // commit + branch: revision names the branch, must be on it.
        let res = resolve_ref(&all).unwrap();
        assert_eq!(res.revision, format!("dev@sha1:{C}"));
        assert_eq!(res.must_be_reachable_from.as_deref(), Some(B));
        let no_commit = GitRef {
            commit: None,
            ..all.clone()
        };
        assert_eq!(
            resolve_ref(&no_commit).unwrap().revision,
            format!("refs/heads/main@sha1:{A}")
        );
        let no_name = GitRef {
            name: None,
            ..no_commit.clone()
        };
        assert_eq!(
            resolve_ref(&no_name).unwrap().revision,
            format!("v2.0.0@sha1:{C}")
        );
        let no_semver = GitRef {
            semver: None,
            ..no_name.clone()
        };
        assert_eq!(
            resolve_ref(&no_semver).unwrap().revision,
            format!("v1.0.0@sha1:{A}")
        );
        let only_branch = GitRef {
            tag: None,
            ..no_semver
        };
        assert_eq!(
            resolve_ref(&only_branch).unwrap().revision,
            format!("dev@sha1:{B}")
        );
    }

    #[test]
    fn commit_alone_is_sha_only_and_validated() {
        let res = resolve_ref(&GitRef::commit(C.to_uppercase())).unwrap();
        assert_eq!(res.revision, format!("sha1:{C}"));
        assert_eq!(res.fetch_refs, vec!["refs/heads/main", "refs/heads/dev"]);
        assert!(matches!(
            GitRef::commit("abc").plan(),
            Err(Error::InvalidReference(_))
        ));
    }

    #[test]
    fn name_must_be_full() {
        assert!(GitRef::name("main").plan().is_err());
        let err = resolve_ref(&GitRef::name("refs/pull/1/head")).unwrap_err();
        assert!(err.to_string().contains("refs/pull/1/head"));
    }
}

/// The highest of `tags` within the semver `range` (Flux's syntax; a leading `v` on tags is
/// allowed); among equal versions the lexically greatest tag. `None` when none matches; an
/// invalid range is [`Error::InvalidReference`]. Used for OCI artifact tags.
pub fn highest_semver_tag<'a>(range: &str, tags: &'a [String]) -> Result<Option<&'a str>, Error> {
    let range = SemverRange::parse(range)?;
    Ok(tags
        .iter()
        .filter_map(|tag| {
            let v = tag_version(tag)?;
            range.matches(&v).then_some((v, tag.as_str()))
        })
        .max()
        .map(|(_, tag)| tag))
}

#[cfg(test)]
mod highest_semver_tests {
    use super::*;

    #[test]
    fn picks_the_highest_matching_tag() {
        let tags: Vec<String> = ["1.0.0", "v1.2.0", "2.0.0", "latest", "1.2.0-rc.1"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            highest_semver_tag(">=1.0.0 <2.0.0", &tags).unwrap(),
            Some("v1.2.0")
        );
        assert_eq!(highest_semver_tag(">=3", &tags).unwrap(), None);
        assert!(highest_semver_tag("not a range", &tags).is_err());
    }
}
