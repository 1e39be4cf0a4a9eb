//! Credentials out of text bound for status, events and logs: `scheme://user:secret@host`
//! becomes `scheme://***@host` wherever it appears.

/// `text` with the user-info part of every `scheme://user-info@host` replaced by `***`.
pub fn redact_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // The authority runs to the first character that cannot be in it.
        let end = after
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '\'' | '"' | '<' | '>' | '`') || c.is_whitespace()
            })
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_replaced_everywhere() {
        assert_eq!(
            redact_credentials(
                "fatal: unable to access 'https://bot:s3cret@git.example/r.git/': 403"
            ),
            "fatal: unable to access 'https://***@git.example/r.git/': 403"
        );
        assert_eq!(
            redact_credentials("a http://u:p@h/x and ssh://git@h2:22/y, http://h3/z"),
            "a http://***@h/x and ssh://***@h2:22/y, http://h3/z"
        );
        assert_eq!(
            redact_credentials("http://u:p@ss@h/x"),
            "http://***@h/x",
            "the last '@' ends the user info"
        );
        assert_eq!(redact_credentials("no urls here"), "no urls here");
        assert_eq!(redact_credentials("trailing ://"), "trailing ://");
        assert!(!redact_credentials("https://tok@h").contains("tok"));
    }
}
