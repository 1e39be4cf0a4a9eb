//! The loopback sshd: git over ssh:// with an authorized key works; an unknown key, a shell
//! command and a changed host key are refused.

use std::path::Path;
use std::process::Command;

use driftless_e2e::{GitServer, SshServer, generate_key};

/// `git` with an ssh command that uses only `key` and trusts only `known_hosts`.
fn git_over_ssh(git: &GitServer, key: &Path, known_hosts: &Path) -> Command {
    let mut command = git.git_command();
    command.env(
        "GIT_SSH_COMMAND",
        format!(
            "ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -i {} \
             -o StrictHostKeyChecking=yes -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null",
            key.display(),
            known_hosts.display()
        ),
    );
    command
}

fn output(command: &mut Command) -> (bool, String) {
    let out = command.output().expect("run git");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn clones_and_pushes_with_an_authorized_key_only() {
    let git = GitServer::start().expect("git server");
    let mut ssh = SshServer::start(&git).expect("sshd");
    let repo = git.create_repo("app").expect("repo");
    let commit = git
        .push_files(&git.git_url("app"), "main", &[("a.txt", "a\n")], "first")
        .expect("push over git://");
    let keys = tempfile::tempdir().unwrap();
    let good = keys.path().join("good");
    let bad = keys.path().join("bad");
    ssh.authorize(&generate_key(&good, "good").unwrap())
        .unwrap();
    generate_key(&bad, "bad").unwrap();
    let known_hosts = keys.path().join("known_hosts");
    std::fs::write(&known_hosts, ssh.known_hosts().unwrap()).unwrap();
    let url = ssh.url(&repo);

    let (ok, listed) = output(git_over_ssh(&git, &good, &known_hosts).args(["ls-remote", &url]));
    assert!(ok, "{listed}");
    assert!(listed.contains(&commit), "{listed}");

    let work = keys.path().join("work");
    let (ok, out) = output(
        git_over_ssh(&git, &good, &known_hosts)
            .arg("clone")
            .arg(&url)
            .arg(&work),
    );
    assert!(ok, "{out}");
    std::fs::write(work.join("b.txt"), "b\n").unwrap();
    assert!(output(git.git_command().current_dir(&work).args(["add", "b.txt"])).0);
    assert!(
        output(
            git.git_command()
                .current_dir(&work)
                .args(["commit", "-qm", "second"])
        )
        .0
    );
    let (ok, out) = output(
        git_over_ssh(&git, &good, &known_hosts)
            .current_dir(&work)
            .args(["push", "-q", "origin", "HEAD:refs/heads/main"]),
    );
    assert!(ok, "push over ssh: {out}");
    let (_, listed) = output(git_over_ssh(&git, &good, &known_hosts).args(["ls-remote", &url]));
    assert!(!listed.contains(&commit), "main moved: {listed}");

    let (ok, out) = output(git_over_ssh(&git, &bad, &known_hosts).args(["ls-remote", &url]));
    assert!(
        !ok && out.contains("Permission denied (publickey)"),
        "{out}"
    );

    let (ok, out) = output(
        Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-i",
            ])
            .arg(&good)
            .args(["-o", "StrictHostKeyChecking=yes", "-o"])
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
            .args(["-p", &ssh.port().to_string()])
            .arg(format!("{}@127.0.0.1", ssh.user()))
            .arg("cat /etc/hostname"),
    );
    assert!(
        !ok && out.contains("unrecognized command"),
        "a shell command ran: {out}"
    );

    ssh.replace_host_key().unwrap();
    let (ok, out) = output(git_over_ssh(&git, &good, &known_hosts).args(["ls-remote", &url]));
    assert!(
        !ok && out.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "old known_hosts accepted a new host key: {out}"
    );
}
