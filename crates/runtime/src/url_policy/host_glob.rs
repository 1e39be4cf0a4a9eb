//! Host patterns of `--allowed-hosts`: `github.com`, `*.example.com`, `10.0.0.7`.
//! `*` stands for any run of characters inside one DNS label (never a dot), so
//! `*.example.com` matches `git.example.com` but neither `example.com` nor
//! `a.b.example.com`. Matching ignores case; the port is not part of the pattern.

/// One host pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostGlob(String);

impl HostGlob {
    /// Parses a pattern: DNS characters, `*`, `:` and brackets-free IPv6 literals.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().to_ascii_lowercase();
        if text.is_empty() {
            return Err("empty host pattern".to_owned());
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '*' | ':')))
        {
            return Err(format!(
                "character '{bad}' is not allowed in a host pattern"
            ));
        }
        Ok(HostGlob(text))
    }

    /// Whether `host` (a DNS name or an IP address, without brackets or port) matches.
    pub fn matches(&self, host: &str) -> bool {
        glob(self.0.as_bytes(), host.to_ascii_lowercase().as_bytes())
    }
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => {
            // `*` eats characters up to (not across) the next dot.
            let run = text.iter().take_while(|c| **c != b'.').count();
            (0..=run).any(|n| glob(rest, &text[n..]))
        }
        Some((p, rest)) => text
            .split_first()
            .is_some_and(|(t, text)| t == p && glob(rest, text)),
    }
}

impl std::fmt::Display for HostGlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, host: &str) -> bool {
        HostGlob::parse(pattern).unwrap().matches(host)
    }

    #[test]
    fn exact_and_wildcard_hosts() {
        assert!(matches("github.com", "github.com"));
        assert!(matches("GitHub.com", "github.COM"), "case-insensitive");
        assert!(!matches("github.com", "github.com.evil.example"));
        assert!(!matches("github.com", "evilgithub.com"));
        assert!(matches("*.example.com", "git.example.com"));
        assert!(!matches("*.example.com", "example.com"));
        assert!(
            !matches("*.example.com", "a.b.example.com"),
            "one label only"
        );
        assert!(!matches("*.example.com", "git.example.com.evil.io"));
        assert!(matches("*.*.example.com", "a.b.example.com"));
        assert!(matches("registry-*.corp", "registry-eu.corp"));
        assert!(!matches("registry-*.corp", "registry-eu.x.corp"));
        assert!(matches("127.0.0.1", "127.0.0.1"));
        assert!(!matches("127.0.0.1", "127.0.0.12"));
        assert!(matches("::1", "::1"));
        assert!(matches("*", "localhost"));
        assert!(!matches("*", "a.b"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(HostGlob::parse("").is_err());
        assert!(HostGlob::parse("a/b").unwrap_err().contains("'/'"));
        assert!(HostGlob::parse("[::1]").is_err());
        assert!(HostGlob::parse("a b").is_err());
    }
}
