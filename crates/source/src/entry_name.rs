//! Which git tree entry names may become a file or directory of an artifact.
//!
//! A tree entry name is raw bytes chosen by whoever wrote the commit; git's tree format
//! only forbids NUL. Joined onto a directory unchecked, `..` or `a/../../x` escapes it and
//! `.git` plants repository metadata. These are git's own rules (`verify_path_component`
//! in git's `read-cache.c`, `is_hfs_dotgit` in `utf8.c`, `is_ntfs_dotgit` in `path.c`)
//! with `core.protectHFS` and `core.protectNTFS` both on, as git applies them to every
//! checkout, plus `\` as a separator:
//!
//! - empty, `.` and `..`;
//! - containing `/`, `\` or NUL;
//! - `.git` in any letter case, also with HFS+ ignorable code points (zero-width and
//!   direction marks) anywhere in it, e.g. `.g\u{200c}it`;
//! - `.git` or its NTFS short name `git~1` followed only by dots and spaces, or by `:`
//!   (an alternate data stream), e.g. `.git. `, `GIT~1`, `.git::$INDEX_ALLOCATION`.

use std::fmt;

/// Why an entry name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The name is empty.
    Empty,
    /// The name is `.` or `..`.
    Relative,
    /// The name contains `/` or `\`.
    Separator,
    /// The name contains a NUL byte.
    Nul,
    /// The name is `.git` or a name some filesystem treats as `.git`.
    DotGit,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::Empty => "an empty name",
            Refusal::Relative => "'.' and '..' are not allowed",
            Refusal::Separator => "a name must not contain '/' or '\\'",
            Refusal::Nul => "a name must not contain NUL",
            Refusal::DotGit => "'.git' (or a name a filesystem treats as '.git') is not allowed",
        })
    }
}

/// Check one tree entry name.
pub fn check(name: &[u8]) -> Result<(), Refusal> {
    if name.is_empty() {
        return Err(Refusal::Empty);
    }
    if name == b"." || name == b".." {
        return Err(Refusal::Relative);
    }
    if name.contains(&0) {
        return Err(Refusal::Nul);
    }
    if name.iter().any(|b| matches!(b, b'/' | b'\\')) {
        return Err(Refusal::Separator);
    }
    if is_hfs_dot_git(name) || is_ntfs_dot_git(name) {
        return Err(Refusal::DotGit);
    }
    Ok(())
}

/// `name` with every byte outside printable ASCII (and `\` and `"`) escaped, for messages.
pub fn escaped(name: &[u8]) -> String {
    name.escape_ascii().to_string()
}

/// Code points HFS+ ignores when comparing names (git's `next_hfs_char`).
fn is_hfs_ignorable(c: char) -> bool {
    matches!(
        c as u32,
        0x200c..=0x200f | 0x202a..=0x202e | 0x206a..=0x206f | 0xfeff
    )
}

/// The characters of `name` as HFS+ compares them: ignorable code points dropped, and
/// the sequence ending at the first malformed UTF-8 (as git's `next_hfs_char` does).
fn hfs_chars(name: &[u8]) -> impl Iterator<Item = char> + '_ {
    name.utf8_chunks()
        .scan(false, |broken, chunk| {
            if *broken {
                return None;
            }
            *broken = !chunk.invalid().is_empty();
            Some(chunk.valid().chars())
        })
        .flatten()
        .filter(|c| !is_hfs_ignorable(*c))
}

/// Whether HFS+ (case-insensitive, ignoring some code points) sees `name` as `.git`.
fn is_hfs_dot_git(name: &[u8]) -> bool {
    let mut chars = hfs_chars(name);
    for expected in ['.', 'g', 'i', 't'] {
        match chars.next() {
            Some(c) if c.is_ascii() && c.to_ascii_lowercase() == expected => {}
            _ => return false,
        }
    }
    chars.next().is_none()
}

/// Whether NTFS sees `name` as `.git`: `.git` or `git~1` (any case) followed only by dots
/// and spaces (which NTFS strips), or by `:` (an alternate data stream).
fn is_ntfs_dot_git(name: &[u8]) -> bool {
    let rest = if name.len() >= 4 && name[..4].eq_ignore_ascii_case(b".git") {
        &name[4..]
    } else if name.len() >= 5 && name[..5].eq_ignore_ascii_case(b"git~1") {
        &name[5..]
    } else {
        return false;
    };
    for &b in rest {
        if b == b':' {
            return true;
        }
        if b != b'.' && b != b' ' {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(name: &[u8]) -> Option<Refusal> {
        check(name).err()
    }

    #[test]
    fn ordinary_names_pass() {
        for name in [
            &b"deploy"[..],
            b"kustomization.yaml",
            b".gitignore",
            b".github",
            b".gitkeep",
            b".sourceignore",
            b"git",
            b"git~2",
            b"a.git",
            b"..a",
            b"a..",
            b"...",
            b"con",
            b"caf\xc3\xa9",
            b"\xff\xfe",
            b" ",
        ] {
            assert_eq!(check(name), Ok(()), "{}", escaped(name));
        }
    }

    #[test]
    fn empty_dot_and_dot_dot_are_refused() {
        assert_eq!(refused(b""), Some(Refusal::Empty));
        assert_eq!(refused(b"."), Some(Refusal::Relative));
        assert_eq!(refused(b".."), Some(Refusal::Relative));
    }

    #[test]
    fn separators_and_nul_are_refused() {
        assert_eq!(refused(b"../x"), Some(Refusal::Separator));
        assert_eq!(
            refused(b"../../../../../../../../../../tmp/x"),
            Some(Refusal::Separator)
        );
        assert_eq!(refused(b"/etc/passwd"), Some(Refusal::Separator));
        assert_eq!(refused(b"a/b"), Some(Refusal::Separator));
        assert_eq!(refused(b"..\\x"), Some(Refusal::Separator));
        assert_eq!(refused(b"a\\b"), Some(Refusal::Separator));
        assert_eq!(refused(b"a\0b"), Some(Refusal::Nul));
    }

    #[test]
    fn dot_git_in_any_case_is_refused() {
        for name in [&b".git"[..], b".GIT", b".Git", b".gIt"] {
            assert_eq!(refused(name), Some(Refusal::DotGit), "{}", escaped(name));
        }
    }

    #[test]
    fn ntfs_spellings_of_dot_git_are_refused() {
        for name in [
            &b".git."[..],
            b".git ",
            b".git. .",
            b".GIT...",
            b"git~1",
            b"GIT~1",
            b"git~1.",
            b"git~1 ",
            b".git:",
            b".git::$INDEX_ALLOCATION",
            b"git~1:stream",
        ] {
            assert_eq!(refused(name), Some(Refusal::DotGit), "{}", escaped(name));
        }
        assert_eq!(check(b".git.x"), Ok(()));
        assert_eq!(check(b"git~10"), Ok(()));
    }

    #[test]
    fn hfs_spellings_of_dot_git_are_refused() {
        for ignorable in [
            '\u{200c}', '\u{200d}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}',
            '\u{202d}', '\u{202e}', '\u{206a}', '\u{206b}', '\u{206c}', '\u{206d}', '\u{206e}',
            '\u{206f}', '\u{feff}',
        ] {
            for name in [
                format!("{ignorable}.git"),
                format!(".{ignorable}git"),
                format!(".g{ignorable}it"),
                format!(".GI{ignorable}T"),
                format!(".git{ignorable}"),
            ] {
                assert_eq!(
                    refused(name.as_bytes()),
                    Some(Refusal::DotGit),
                    "{}",
                    escaped(name.as_bytes())
                );
            }
        }
        // Other invisible characters are not ignored by HFS+.
        assert_eq!(check(".g\u{200b}it".as_bytes()), Ok(()));
        // Malformed UTF-8 ends the name for HFS+ comparison, as in git.
        assert_eq!(refused(b".git\xff"), Some(Refusal::DotGit));
        assert_eq!(check(b".gi\xfft"), Ok(()));
    }

    #[test]
    fn escaping_shows_raw_bytes() {
        assert_eq!(escaped(b"../x"), "../x");
        assert_eq!(escaped(b"a\nb\xff"), "a\\nb\\xff");
        assert_eq!(escaped(".\u{200c}git".as_bytes()), ".\\xe2\\x80\\x8cgit");
    }
}
