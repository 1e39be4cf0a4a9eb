//! Semver ranges in the syntax Flux accepts (Masterminds/semver): comparators `=`, `!=`,
//! `>`, `>=`, `<`, `<=`, `~`, `~>`, `^`, bare versions, wildcards (`1.x`, `1.2.*`, `*`),
//! partial versions (`1.2` means `1.2.x`), hyphen ranges (`1.2 - 1.4.5`), comparators joined
//! by spaces or commas (AND) and `||` (OR). Versions are parsed loosely like Flux's tags:
//! a leading `v` and missing minor/patch are accepted.
//!
//! Pre-releases: a version with a pre-release matches only an AND group in which some
//! comparator names a pre-release (e.g. `>=2.0.0-0`), so `^1` never picks `1.5.0-rc.1`.
//! Masterminds asks every comparator of the group to name one; requiring one is kinder to
//! `>=1.0.0-0 <2.0.0` and still never surprises a range that names none.

use std::cmp::Ordering;

use semver::{BuildMetadata, Prerelease, Version};

/// A parsed range: OR of AND groups of comparators.
#[derive(Clone, Debug)]
pub struct SemverRange {
    groups: Vec<Group>,
}

#[derive(Clone, Debug)]
struct Group {
    comparators: Vec<Comparator>,
    admits_prereleases: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Tilde,
    Caret,
}

/// One comparator; `version` has its wildcard parts set to zero.
#[derive(Clone, Debug)]
struct Comparator {
    op: Op,
    version: Version,
    /// `*` or `x`: every version.
    any: bool,
    /// Minor (and so patch) was a wildcard or missing.
    minor_dirty: bool,
    /// Patch was a wildcard or missing.
    patch_dirty: bool,
}

impl SemverRange {
    /// Parses `text`; the error explains what is wrong (the caller names the field).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("the range is empty".to_owned());
        }
        let mut groups = Vec::new();
        for group in text.split("||") {
            let comparators = parse_group(group)?;
            let admits_prereleases = comparators.iter().any(|c| !c.version.pre.is_empty());
            groups.push(Group {
                comparators,
                admits_prereleases,
            });
        }
        Ok(SemverRange { groups })
    }

    /// Whether `version` is in the range.
    pub fn matches(&self, version: &Version) -> bool {
        let pre = !version.pre.is_empty();
        self.groups.iter().any(|g| {
            (!pre || g.admits_prereleases) && g.comparators.iter().all(|c| c.matches(version))
        })
    }
}

fn parse_group(group: &str) -> Result<Vec<Comparator>, String> {
    let normalized = group.replace(',', " ");
    let mut tokens: Vec<String> = Vec::new();
    let mut pending_op: Option<String> = None;
    for token in normalized.split_whitespace() {
        let is_op_only = token
            .chars()
            .all(|c| matches!(c, '=' | '!' | '<' | '>' | '~' | '^'));
        if is_op_only && token != "-" {
            if pending_op.is_some() {
                return Err(format!("operator '{token}' follows another operator"));
            }
            pending_op = Some(token.to_owned());
            continue;
        }
        match pending_op.take() {
            Some(op) => tokens.push(format!("{op}{token}")),
            None => tokens.push(token.to_owned()),
        }
    }
    if let Some(op) = pending_op {
        return Err(format!("operator '{op}' has no version"));
    }
    if tokens.is_empty() {
        return Err("an empty alternative between '||'".to_owned());
    }
    let mut comparators = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens.get(i + 1).map(String::as_str) == Some("-") {
            let upper = tokens
                .get(i + 2)
                .ok_or_else(|| format!("hyphen range '{} -' has no upper bound", tokens[i]))?;
            comparators.push(parse_comparator(&format!(">={}", tokens[i]))?);
            comparators.push(parse_comparator(&format!("<={upper}"))?);
            i += 3;
            continue;
        }
        if tokens[i] == "-" {
            return Err("hyphen range without a lower bound".to_owned());
        }
        comparators.push(parse_comparator(&tokens[i])?);
        i += 1;
    }
    Ok(comparators)
}

fn parse_comparator(token: &str) -> Result<Comparator, String> {
    let (op, rest) = split_op(token);
    let op = op.ok_or_else(|| format!("unknown operator in '{token}'"))?;
    let partial = parse_partial(rest).map_err(|e| format!("'{token}': {e}"))?;
    Ok(Comparator {
        op,
        version: partial.version,
        any: partial.any,
        minor_dirty: partial.minor_dirty,
        patch_dirty: partial.patch_dirty,
    })
}

fn split_op(token: &str) -> (Option<Op>, &str) {
    const OPS: &[(&str, Op)] = &[
        ("!=", Op::Ne),
        (">=", Op::Ge),
        ("=>", Op::Ge),
        ("<=", Op::Le),
        ("=<", Op::Le),
        ("~>", Op::Tilde),
        ("=", Op::Eq),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("~", Op::Tilde),
        ("^", Op::Caret),
    ];
    for (prefix, op) in OPS {
        if let Some(rest) = token.strip_prefix(prefix) {
            return (Some(*op), rest);
        }
    }
    if token.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '*') {
        (Some(Op::Eq), token)
    } else {
        (None, token)
    }
}

struct Partial {
    version: Version,
    any: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

fn is_wildcard(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

fn parse_partial(text: &str) -> Result<Partial, String> {
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let core_end = text.find(['-', '+']).unwrap_or(text.len());
    let (core, suffix) = text.split_at(core_end);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(format!("'{text}' is not a version"));
    }
    let number = |part: &str| -> Result<u64, String> {
        if part.len() > 1 && part.starts_with('0') {
            return Err(format!("'{part}' has a leading zero"));
        }
        part.parse::<u64>()
            .map_err(|_| format!("'{part}' is not a number or wildcard"))
    };
    let any = is_wildcard(parts[0]);
    let major = if any { 0 } else { number(parts[0])? };
    let minor_dirty = any || parts.get(1).is_none_or(|p| is_wildcard(p));
    let minor = if minor_dirty { 0 } else { number(parts[1])? };
    let patch_dirty = minor_dirty || parts.get(2).is_none_or(|p| is_wildcard(p));
    let patch = if patch_dirty { 0 } else { number(parts[2])? };
    let mut version = Version::new(major, minor, patch);
    let (pre, build) = match suffix.strip_prefix('-') {
        Some(rest) => match rest.split_once('+') {
            Some((pre, build)) => (pre, Some(build)),
            None => (rest, None),
        },
        None => ("", suffix.strip_prefix('+')),
    };
    if !pre.is_empty() {
        version.pre = Prerelease::new(pre).map_err(|e| format!("pre-release '{pre}': {e}"))?;
    }
    if let Some(build) = build {
        version.build = BuildMetadata::new(build).map_err(|e| format!("build '{build}': {e}"))?;
    }
    Ok(Partial {
        version,
        any,
        minor_dirty,
        patch_dirty,
    })
}

/// Parses a tag as a version the way Flux does: a leading `v` and missing minor/patch are
/// accepted (`v1.2` is 1.2.0); wildcards are not.
pub fn parse_version_loose(tag: &str) -> Option<Version> {
    let first = tag.as_bytes().first()?;
    if !(first.is_ascii_digit() || *first == b'v' || *first == b'V') {
        return None;
    }
    if let Ok(v) = Version::parse(tag) {
        return Some(v);
    }
    let partial = parse_partial(tag).ok()?;
    partial_has_no_wildcard(tag).then_some(partial.version)
}

fn partial_has_no_wildcard(tag: &str) -> bool {
    let tag = tag.strip_prefix(['v', 'V']).unwrap_or(tag);
    let core_end = tag.find(['-', '+']).unwrap_or(tag.len());
    !tag[..core_end].split('.').any(is_wildcard)
}

impl Comparator {
    fn matches(&self, v: &Version) -> bool {
        let c = &self.version;
        let dirty = self.minor_dirty || self.patch_dirty;
        let cmp = v.cmp_precedence(c);
        match self.op {
            Op::Eq if self.any => true,
            Op::Eq if dirty => self.tilde(v, cmp),
            Op::Eq => cmp == Ordering::Equal,
            Op::Ne if self.any => false,
            Op::Ne if dirty => !self.tilde(v, Ordering::Greater),
            Op::Ne => cmp != Ordering::Equal,
            Op::Gt if self.any => false,
            Op::Gt if dirty => match v.major.cmp(&c.major) {
                Ordering::Greater => true,
                Ordering::Less => false,
                Ordering::Equal => !self.minor_dirty && v.minor > c.minor,
            },
            Op::Gt => cmp == Ordering::Greater,
            Op::Ge => self.any || cmp != Ordering::Less,
            Op::Lt => !self.any && cmp == Ordering::Less,
            Op::Le if self.any => true,
            Op::Le if dirty => match v.major.cmp(&c.major) {
                Ordering::Greater => false,
                Ordering::Less => true,
                Ordering::Equal => self.minor_dirty || v.minor <= c.minor,
            },
            Op::Le => cmp != Ordering::Greater,
            Op::Tilde => self.any || self.tilde(v, cmp),
            Op::Caret => {
                if self.any {
                    return true;
                }
                if cmp == Ordering::Less {
                    return false;
                }
                if c.major > 0 || self.minor_dirty {
                    v.major == c.major
                } else if c.minor > 0 || self.patch_dirty {
                    v.major == 0 && v.minor == c.minor
                } else {
                    v.major == 0 && v.minor == 0 && v.patch == c.patch
                }
            }
        }
    }

    /// `~`: at least the version, same major, and same minor unless the minor was a wildcard.
    fn tilde(&self, v: &Version, cmp: Ordering) -> bool {
        let c = &self.version;
        cmp != Ordering::Less && v.major == c.major && (self.minor_dirty || v.minor == c.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(range: &str, version: &str) -> bool {
        let r = SemverRange::parse(range).unwrap_or_else(|e| panic!("{range}: {e}"));
        r.matches(&parse_version_loose(version).unwrap_or_else(|| panic!("version {version}")))
    }

    #[test]
    fn caret_tilde_and_wildcards() {
        for (range, yes, no) in [
            (
                "^1",
                &["1.0.0", "1.1.0", "1.99.3"][..],
                &["0.9.0", "2.0.0", "1.2.0-rc.1", "2.0.0-rc.1"][..],
            ),
            ("^1.2", &["1.2.0", "1.9.9"], &["1.1.9", "2.0.0"]),
            ("^0.2.3", &["0.2.3", "0.2.9"], &["0.3.0", "0.2.2", "1.0.0"]),
            ("^0.0.3", &["0.0.3"], &["0.0.4", "0.1.0"]),
            ("~1.2", &["1.2.0", "1.2.9"], &["1.3.0", "1.1.0"]),
            ("~1.2.3", &["1.2.3", "1.2.4"], &["1.2.2", "1.3.0"]),
            ("~1", &["1.0.0", "1.9.0"], &["2.0.0"]),
            ("1.x", &["1.0.0", "1.7.1"], &["2.0.0", "0.1.0"]),
            ("1.2.*", &["1.2.0", "1.2.7"], &["1.3.0"]),
            ("1.2", &["1.2.0", "1.2.5"], &["1.3.0"]),
            ("*", &["0.0.1", "9.9.9"], &["1.0.0-alpha"]),
            ("1.2.3", &["1.2.3", "v1.2.3"], &["1.2.4"]),
        ] {
            for v in yes {
                assert!(matches(range, v), "{range} should match {v}");
            }
            for v in no {
                assert!(!matches(range, v), "{range} should not match {v}");
            }
        }
    }

    #[test]
    fn comparison_operators_and_and_or() {
        assert!(matches(">=1.0.0 <2.0.0", "1.5.0"));
        assert!(!matches(">=1.0.0 <2.0.0", "2.0.0"));
        assert!(matches(">=1.0.0, <2.0.0", "1.0.0"));
        assert!(matches(">= 1.0.0 < 2", "1.9.9"));
        assert!(matches("<1.0.0 || >=3.0.0", "3.1.0"));
        assert!(!matches("<1.0.0 || >=3.0.0", "2.0.0"));
        assert!(matches(">1.2", "1.3.0"));
        assert!(!matches(">1.2", "1.2.9"), "Masterminds: >1.2 means >=1.3.0");
        assert!(!matches(">1", "1.9.0"));
        assert!(matches("<=1.2", "1.2.9"));
        assert!(!matches("<=1.2", "1.3.0"));
        assert!(matches("!=1.2.3", "1.2.4"));
        assert!(!matches("!=1.2.3", "1.2.3"));
        assert!(matches("1.2 - 1.4.5", "1.4.5"));
        assert!(!matches("1.2 - 1.4.5", "1.4.6"));
        assert!(!matches("1.2 - 1.4.5", "1.1.0"));
    }

    #[test]
    fn prereleases_only_when_the_range_names_one() {
        assert!(!matches(">=1.0.0", "2.0.0-rc.1"));
        assert!(matches(">=2.0.0-0", "2.0.0-rc.1"));
        assert!(matches(">=1.0.0-0 <2.0.0", "1.5.0-beta.2"));
        // Semver order puts 2.0.0-rc.1 below 2.0.0; `<2.0.0-0` keeps 2.x pre-releases out.
        assert!(matches(">=1.0.0-0 <2.0.0", "2.0.0-rc.1"));
        assert!(!matches(">=1.0.0-0 <2.0.0-0", "2.0.0-rc.1"));
        assert!(matches("^2.0.0-rc.1", "2.0.0-rc.2"));
        assert!(!matches("^2.0.0-rc.1", "2.0.0-beta.1"));
    }

    #[test]
    fn loose_versions() {
        assert_eq!(parse_version_loose("v1.2"), Some(Version::new(1, 2, 0)));
        assert_eq!(parse_version_loose("3"), Some(Version::new(3, 0, 0)));
        assert_eq!(
            parse_version_loose("1.2.3-rc.1").unwrap().pre.as_str(),
            "rc.1"
        );
        for bad in ["latest", "1.x", "", "main-abc", "1.2.3.4", "01.2.3"] {
            assert_eq!(parse_version_loose(bad), None, "{bad}");
        }
    }

    #[test]
    fn invalid_ranges_say_why() {
        for (range, needle) in [
            ("", "empty"),
            (">=", "no version"),
            ("^abc", "not a number"),
            ("1.2.3.4", "not a version"),
            (">= >= 1", "follows"),
            ("1 ||", "empty alternative"),
            ("1.0 -", "upper bound"),
            ("?1.0", "unknown operator"),
        ] {
            let err = SemverRange::parse(range).expect_err(range);
            assert!(err.contains(needle), "{range}: {err}");
        }
    }
}
