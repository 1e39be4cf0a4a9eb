use super::*;

fn policy(file: bool, hosts: &[&str], cidrs: &[&str]) -> UrlPolicy {
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    UrlPolicy::new(file, &owned(hosts), &owned(cidrs)).unwrap()
}

fn refused(result: Result<Target, RuntimeError>) -> String {
    match result {
        Err(e @ RuntimeError::UrlNotAllowed { .. }) => e.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn git_schemes_and_the_file_opt_in() {
    let default = UrlPolicy::default();
    for url in [
        "https://github.com/a/b",
        "http://127.0.0.1:3000/a.git",
        "ssh://git@github.com/a/b",
        "git@github.com:a/b.git",
        "git://127.0.0.1/a.git",
    ] {
        assert!(default.check_git_url("spec.url", url).is_ok(), "{url}");
    }
    for url in ["file:///etc", "/srv/git/repo", "./repo"] {
        let err = refused(default.check_git_url("spec.url", url));
        assert!(err.starts_with("spec.url '"), "{err}");
        assert!(err.contains("file:// URLs are disabled") && err.contains("--allow-file-urls"));
    }
    let with_file = policy(true, &[], &[]);
    assert_eq!(
        with_file
            .check_git_url("spec.url", "file:///srv/r")
            .unwrap()
            .scheme,
        Scheme::File
    );
    assert_eq!(default.git_protocols(), "https:http:ssh:git");
    assert_eq!(with_file.git_protocols(), "https:http:ssh:git:file");
    let err = refused(default.check_git_url("spec.url", "ftp://h.example/r"));
    assert!(err.contains("scheme 'ftp' is not allowed"), "{err}");
    let err = refused(default.check_git_url("spec.url", "ext::sh -c id"));
    assert!(err.contains("spec.url"), "{err}");
}

#[test]
fn allowed_hosts_are_globs() {
    let p = policy(false, &["github.com", "*.corp.example"], &[]);
    assert!(
        p.check_git_url("spec.url", "https://github.com/a/b")
            .is_ok()
    );
    assert!(
        p.check_git_url("spec.url", "git@git.corp.example:a/b")
            .is_ok()
    );
    let err = refused(p.check_git_url("spec.url", "https://gitlab.com/a/b"));
    assert!(
        err.contains("host 'gitlab.com' matches no pattern of --allowed-hosts"),
        "{err}"
    );
    refused(p.check_git_url("spec.url", "https://a.b.corp.example/x"));
    refused(p.check_git_url("spec.url", "https://169.254.169.254/x"));
}

#[test]
fn literal_addresses_in_denied_ranges_are_refused_without_resolving() {
    let p = policy(
        false,
        &[],
        &["169.254.0.0/16", "fd00:ec2::254/128", "127.0.0.2/32"],
    );
    assert!(p.guards_addresses());
    for (url, addr) in [
        ("http://169.254.169.254/latest", "169.254.169.254"),
        ("http://[fd00:ec2::254]/latest", "fd00:ec2::254"),
        ("http://[::ffff:169.254.169.254]/x", "169.254.169.254"),
        ("git://127.0.0.2:9418/r.git", "127.0.0.2"),
    ] {
        let err = refused(p.check_git_url("spec.url", url));
        assert!(
            err.contains(addr) && err.contains("denied range") && err.contains("--denied-cidrs"),
            "{url}: {err}"
        );
    }
    assert!(
        p.check_git_url("spec.url", "git://127.0.0.1:9418/r.git")
            .is_ok()
    );
    assert_eq!(
        p.denied_range("::ffff:127.0.0.2".parse().unwrap()),
        Some("127.0.0.2/32".parse().unwrap())
    );
}

#[test]
fn refusals_never_show_credentials() {
    let p = policy(false, &["github.com"], &[]);
    let err = refused(p.check_git_url("spec.url", "https://bot:s3cret@gitlab.com/a"));
    assert!(!err.contains("s3cret"), "{err}");
    assert!(err.contains("https://***@gitlab.com/a"), "{err}");
}

#[test]
fn registry_targets() {
    let p = policy(false, &[], &["127.0.0.2/32"]);
    let target = |url: &str| parse_git_url(url).unwrap();
    let ok = target("https://ghcr.io/v2/");
    assert!(
        p.check_registry_target("spec.image", "u", &ok, false)
            .is_ok()
    );
    let plain = target("http://127.0.0.1:5000/v2/");
    assert!(
        p.check_registry_target("spec.image", "u", &plain, true)
            .is_ok()
    );
    let err = p
        .check_registry_target("spec.image", "u", &plain, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("spec.insecure"), "{err}");
    let denied = target("http://127.0.0.2:5000/v2/");
    let err = p
        .check_registry_target("spec.image", "u", &denied, true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("127.0.0.2/32"), "{err}");
    let ssh = target("ssh://h.example/x");
    assert!(
        p.check_registry_target("spec.image", "u", &ssh, true)
            .is_err()
    );
}

#[tokio::test]
async fn names_are_resolved_and_every_address_checked() {
    let p = policy(false, &[], &["127.0.0.0/8", "::1/128"]);
    let url = "http://localhost:8080/r.git";
    let target = p.check_git_url("spec.url", url).unwrap();
    match p.resolve("spec.url", url, &target).await {
        Err(RuntimeError::UrlNotAllowed { rule, resolved, .. }) => {
            assert!(resolved);
            assert!(rule.contains("host 'localhost' resolves to"), "{rule}");
        }
        other => panic!("localhost must be refused: {other:?}"),
    }
    let open = policy(false, &[], &["169.254.0.0/16"]);
    let addrs = open.resolve("spec.url", url, &target).await.unwrap();
    assert!(!addrs.is_empty() && addrs.iter().all(|a| a.port() == 8080));
    // Without denied ranges nothing is resolved: the client resolves by itself.
    let none = UrlPolicy::default();
    assert!(
        none.resolve("spec.url", url, &target)
            .await
            .unwrap()
            .is_empty()
    );
}

#[test]
fn malformed_flags_name_the_flag() {
    let err = UrlPolicy::new(false, &[], &["10.0.0.0/40".into()])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("--denied-cidrs '10.0.0.0/40'"), "{err}");
    let err = UrlPolicy::new(false, &["a/b".into()], &[])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("--allowed-hosts 'a/b'"), "{err}");
}
