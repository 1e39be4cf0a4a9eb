//! Where a URL points: its scheme, host and port, parsed strictly. Anything two URL
//! parsers could read differently (backslashes, whitespace, control characters, several
//! `@`, hosts that are not plain DNS names or IP literals, remote-helper `<x>::<y>`
//! addresses) is refused rather than guessed at, so the host checked is the host
//! connected to.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A URL scheme the policy knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `https://`
    Https,
    /// `http://`
    Http,
    /// `ssh://`, `git+ssh://` and scp-like `user@host:path`.
    Ssh,
    /// `git://`
    Git,
    /// `file://` and plain local paths.
    File,
}

impl Scheme {
    /// The scheme as written in URLs (and in `GIT_ALLOW_PROTOCOL`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
            Scheme::Ssh => "ssh",
            Scheme::Git => "git",
            Scheme::File => "file",
        }
    }

    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Https => 443,
            Scheme::Http => 80,
            Scheme::Ssh => 22,
            Scheme::Git => 9418,
            Scheme::File => 0,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The host of a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A DNS name, lowercase.
    Name(String),
    /// An IP literal.
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// What a URL connects to. `host` is `None` for local (`file`) URLs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The scheme.
    pub scheme: Scheme,
    /// The host, `None` for `file`.
    pub host: Option<Host>,
    /// The port, the scheme's default when the URL names none.
    pub port: u16,
}

/// Parses a git URL the way git does, strictly: `scheme://[user@]host[:port]/path`,
/// scp-like `[user@]host:path`, or a local path. `Err` says what is wrong (or which
/// scheme is unknown, as `Err` starting with `scheme '`).
pub fn parse_git_url(url: &str) -> Result<Target, String> {
    reject_ambiguous_characters(url)?;
    if let Some((scheme, rest)) = url.split_once("://")
        && !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            "ssh" | "git+ssh" | "ssh+git" => Scheme::Ssh,
            "git" => Scheme::Git,
            "file" => Scheme::File,
            other => return Err(format!("scheme '{other}' is not allowed")),
        };
        if scheme == Scheme::File {
            return Ok(Target {
                scheme,
                host: None,
                port: 0,
            });
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (host, port) = parse_authority(authority)?;
        return Ok(Target {
            scheme,
            host: Some(host),
            port: port.unwrap_or(scheme.default_port()),
        });
    }
    // git: `<transport>::<address>` runs the remote helper git-remote-<transport>.
    let helper = url
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .unwrap_or(url.len());
    if url[helper..].starts_with("::") {
        return Err(
            "remote-helper addresses ('<transport>::<address>') are not allowed".to_owned(),
        );
    }
    if url.is_empty() {
        return Err("empty URL".to_owned());
    }
    let first_slash = url.find('/').unwrap_or(url.len());
    // scp-like with an IPv6 literal: `[user@]host-in-brackets:path`.
    if let Some(open) = url.find('[').filter(|o| *o < first_slash) {
        let close = url[open..]
            .find(']')
            .map(|c| open + c)
            .ok_or_else(|| "unterminated '[' in the host".to_owned())?;
        if !url[close + 1..].starts_with(':') {
            return Err("an IPv6 host in brackets must be followed by ':'".to_owned());
        }
        let (host, _) = parse_authority(&url[..=close])?;
        return Ok(ssh(host));
    }
    // git: a colon before any slash makes it scp-like ssh (`[user@]host:path`).
    match url.find(':') {
        Some(colon) if colon < first_slash => {
            let (host, _) = parse_authority(&url[..colon])?;
            Ok(ssh(host))
        }
        _ => Ok(Target {
            scheme: Scheme::File,
            host: None,
            port: 0,
        }),
    }
}

fn ssh(host: Host) -> Target {
    Target {
        scheme: Scheme::Ssh,
        host: Some(host),
        port: Scheme::Ssh.default_port(),
    }
}

fn reject_ambiguous_characters(url: &str) -> Result<(), String> {
    if let Some(bad) = url
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || *c == '\\')
    {
        return Err(format!(
            "the URL contains {bad:?}, which URL parsers read differently"
        ));
    }
    Ok(())
}

/// `[userinfo@]host[:port]` → host and port.
fn parse_authority(authority: &str) -> Result<(Host, Option<u16>), String> {
    if authority.matches('@').count() > 1 {
        return Err("more than one '@' before the host".to_owned());
    }
    let hostport = authority
        .rsplit_once('@')
        .map_or(authority, |(_, hostport)| hostport);
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (inside, after) = v6
            .split_once(']')
            .ok_or_else(|| "unterminated '[' in the host".to_owned())?;
        let ip: Ipv6Addr = inside
            .parse()
            .map_err(|_| format!("'[{inside}]' is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("junk after ']'")?),
        };
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (host, port) = match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        };
        (parse_host(host)?, port)
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("port '{p}' is not a number from 1 to 65535"))?,
        ),
    };
    Ok((host, port))
}

/// A DNS name or dotted-quad IPv4 address. Names start with a letter or digit (a leading
/// `-` would be an option to ssh); numeric forms other than a.b.c.d (`127.1`, `0x7f.1`,
/// `2130706433`) are refused, as resolvers read them as addresses.
pub fn parse_host(host: &str) -> Result<Host, String> {
    if host.is_empty() {
        return Err("no host".to_owned());
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    let valid = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && host
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if !valid {
        return Err(format!("host '{host}' is not a DNS name or an IP address"));
    }
    let last_label = host
        .trim_end_matches('.')
        .rsplit('.')
        .next()
        .unwrap_or(host);
    let numeric = |s: &str| {
        let s = s.to_ascii_lowercase();
        let hex = s.strip_prefix("0x");
        hex.is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
            || s.chars().all(|c| c.is_ascii_digit())
    };
    if numeric(last_label) {
        return Err(format!(
            "host '{host}' looks like an IP address in a non-standard form; write it as a.b.c.d"
        ));
    }
    Ok(Host::Name(host.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        parse_git_url(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    fn name(s: &str) -> Option<Host> {
        Some(Host::Name(s.to_owned()))
    }

    #[test]
    fn urls_with_a_scheme() {
        let t = target("https://user:tok@GitHub.com/org/repo.git");
        assert_eq!(
            (t.scheme, t.host, t.port),
            (Scheme::Https, name("github.com"), 443)
        );
        let t = target("http://127.0.0.1:8080/git/a.git");
        assert_eq!(t.host, Some(Host::Ip("127.0.0.1".parse().unwrap())));
        assert_eq!(t.port, 8080);
        let t = target("ssh://git@[::1]:2222/repo");
        assert_eq!((t.scheme, t.port), (Scheme::Ssh, 2222));
        assert_eq!(t.host, Some(Host::Ip("::1".parse().unwrap())));
        assert_eq!(target("git://h.example/r").port, 9418);
        assert_eq!(target("git+ssh://h.example/r").scheme, Scheme::Ssh);
        assert_eq!(target("HTTPS://h.example?x").host, name("h.example"));
        let t = target("file:///srv/git/repo");
        assert_eq!((t.scheme, t.host), (Scheme::File, None));
    }

    #[test]
    fn scp_like_and_local_paths() {
        let t = target("git@github.com:org/repo.git");
        assert_eq!(
            (t.scheme, t.host, t.port),
            (Scheme::Ssh, name("github.com"), 22)
        );
        assert_eq!(target("host.example:repo").scheme, Scheme::Ssh);
        let t = target("git@[::1]:repo");
        assert_eq!(t.host, Some(Host::Ip("::1".parse().unwrap())));
        assert_eq!(target("/srv/git/repo.git").scheme, Scheme::File);
        assert_eq!(target("./repo").scheme, Scheme::File);
        assert_eq!(target("dir/with:colon").scheme, Scheme::File);
    }

    #[test]
    fn ambiguous_or_foreign_urls_are_refused() {
        for (url, needle) in [
            ("ftp://h.example/r", "scheme 'ftp'"),
            ("ext::sh -c touch% /tmp/x", "which URL parsers"),
            ("ext::sh", "remote-helper"),
            ("fd::3", "remote-helper"),
            ("http://a@b@h.example/r", "more than one '@'"),
            ("http://h.example\\@127.0.0.2/r", "which URL parsers"),
            ("http://h.example /r", "which URL parsers"),
            ("ssh://-oProxyCommand=x/r", "not a DNS name"),
            ("http://127.1/r", "non-standard form"),
            ("http://0x7f000001/r", "non-standard form"),
            ("http://2130706433/r", "non-standard form"),
            ("http://h.example:99999/r", "port '99999'"),
            ("http://[::1/r", "unterminated"),
            ("http:///r", "no host"),
            ("http://h%2eexample/r", "not a DNS name"),
            ("", "empty"),
        ] {
            let err = parse_git_url(url).unwrap_err();
            assert!(err.contains(needle), "{url}: {err}");
        }
    }
}
