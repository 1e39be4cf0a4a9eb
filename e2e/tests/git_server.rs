//! The loopback git server: pushes over git:// and authenticated HTTP work,
//! anonymous pushes and wrong passwords are refused.

use driftless_e2e::{Error, GitServer};

/// The commit `branch` points at in the repository at `url`, if any.
fn remote_head(server: &GitServer, url: &str, branch: &str) -> Result<Option<String>, Error> {
    let mut command = server.git_command();
    command
        .args(["ls-remote", url])
        .arg(format!("refs/heads/{branch}"));
    let output = command.output().map_err(|source| Error::Spawn {
        program: String::from("git ls-remote"),
        source,
    })?;
    if !output.status.success() {
        return Err(Error::Command {
            command: format!("git ls-remote {url}"),
            status: output.status.to_string(),
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(stdout.split_whitespace().next().map(str::to_owned))
}

#[test]
fn push_over_git_protocol_is_served_over_git_and_anonymous_http() {
    let server = GitServer::start().expect("git server starts");
    server.create_repo("app").expect("create repo app");

    let commit = server
        .push_files(
            &server.git_url("app"),
            "main",
            &[("deploy/app.yaml", "kind: ConfigMap\n")],
            "first",
        )
        .expect("push over git://");

    assert_eq!(
        remote_head(&server, &server.git_url("app"), "main").expect("ls-remote git://"),
        Some(commit.clone())
    );
    assert_eq!(
        remote_head(&server, &server.http_url("app"), "main").expect("anonymous ls-remote http://"),
        Some(commit)
    );
}

#[test]
fn anonymous_http_push_is_refused() {
    let server = GitServer::start().expect("git server starts");
    server.create_repo("app").expect("create repo app");
    let first = server
        .push_files(&server.git_url("app"), "main", &[("a", "1")], "first")
        .expect("push over git://");

    let refused = server.push_files(&server.http_url("app"), "main", &[("a", "2")], "anonymous");

    let error = refused
        .expect_err("an anonymous push over HTTP must be refused")
        .to_string();
    assert!(
        error.contains("403") || error.contains("not enabled"),
        "unexpected refusal: {error}"
    );
    assert_eq!(
        remote_head(&server, &server.git_url("app"), "main").expect("ls-remote"),
        Some(first)
    );
}

#[test]
fn authenticated_http_push_works_and_credentials_are_checked() {
    let server = GitServer::start().expect("git server starts");
    server
        .create_private_repo("secret")
        .expect("create private repo");
    let with_password =
        server.private_http_url_with_credentials("secret", server.username(), server.password());

    let commit = server
        .push_files(&with_password, "main", &[("a", "1")], "first")
        .expect("authenticated push");
    assert_eq!(
        remote_head(&server, &with_password, "main").expect("authenticated ls-remote"),
        Some(commit.clone())
    );

    let anonymous = remote_head(&server, &server.private_http_url("secret"), "main");
    let error = anonymous
        .expect_err("anonymous read of a private repository must be refused")
        .to_string();
    assert!(
        error.contains("401")
            || error.contains("Authentication failed")
            || error.contains("terminal prompts disabled"),
        "unexpected refusal: {error}"
    );

    let wrong =
        server.private_http_url_with_credentials("secret", server.username(), "wrong-password");
    let error = server
        .push_files(&wrong, "main", &[("a", "2")], "wrong password")
        .expect_err("a wrong password must be refused")
        .to_string();
    assert!(
        error.contains("Authentication failed") || error.contains("401"),
        "unexpected refusal: {error}"
    );
    assert_eq!(
        remote_head(&server, &with_password, "main").expect("ls-remote"),
        Some(commit)
    );
}
