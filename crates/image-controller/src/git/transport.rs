//! The URL policy applied to the `git` CLI: only the allowed protocols
//! (`GIT_ALLOW_PROTOCOL`, which also covers submodules and redirects between protocols),
//! and with `--denied-cidrs` an HTTP(S) host pinned to the addresses that were checked
//! (`http.curloptResolve`), so a second DNS answer cannot send git elsewhere, and no HTTP
//! redirects (their target would not be checked). ssh and git:// resolve on their own: the
//! gap is documented in docs/operations.md.

use std::net::SocketAddr;

use driftless_runtime::url_policy::{Host, Scheme, Target, UrlPolicy};

use super::command::Transport;

/// The transport restrictions for a remote at `target`, resolved to `addrs` by
/// [`UrlPolicy::resolve`].
pub fn transport_for(policy: &UrlPolicy, target: &Target, addrs: &[SocketAddr]) -> Transport {
    let mut config = Vec::new();
    if policy.guards_addresses() {
        config.push(("http.followRedirects".to_owned(), "false".to_owned()));
        if let (Scheme::Https | Scheme::Http, Some(Host::Name(name))) =
            (target.scheme, &target.host)
            && !addrs.is_empty()
        {
            let list: Vec<String> = addrs
                .iter()
                .map(|a| match a {
                    SocketAddr::V4(v4) => v4.ip().to_string(),
                    SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
                })
                .collect();
            config.push((
                "http.curloptResolve".to_owned(),
                format!("{name}:{}:{}", target.port, list.join(",")),
            ));
        }
    }
    Transport {
        allowed_protocols: Some(policy.git_protocols()),
        config,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_hosts_are_pinned_only_when_addresses_are_guarded() {
        let target = Target {
            scheme: Scheme::Https,
            host: Some(Host::Name("git.example".into())),
            port: 443,
        };
        let addrs: Vec<SocketAddr> = vec![
            "192.0.2.7:443".parse().unwrap(),
            "[2001:db8::7]:443".parse().unwrap(),
        ];
        let open = transport_for(&UrlPolicy::default(), &target, &addrs);
        assert_eq!(
            open.allowed_protocols.as_deref(),
            Some("https:http:ssh:git")
        );
        assert!(open.config.is_empty());
        let guarded = UrlPolicy::new(true, &[], &["169.254.0.0/16".into()]).unwrap();
        let pinned = transport_for(&guarded, &target, &addrs);
        assert_eq!(
            pinned.allowed_protocols.as_deref(),
            Some("https:http:ssh:git:file")
        );
        assert!(pinned.config.contains(&(
            "http.curloptResolve".into(),
            "git.example:443:192.0.2.7,[2001:db8::7]".into()
        )));
        assert!(
            pinned
                .config
                .contains(&("http.followRedirects".into(), "false".into()))
        );
    }
}
