//! The `ssh` that git runs, for fetching (gix, crates/source) and for pushing
//! (ImageUpdateAutomation, bootstrap: the system `git`): one strict command line, and what
//! its log says when a connection fails.

use std::path::Path;

/// The `ssh` command line for git: batch mode (never a prompt), no configuration files,
/// only `identity` offered, host keys checked strictly against `known_hosts` only
/// (`/dev/null`, which knows no host, when absent; never `accept-new`), diagnostics appended
/// to `log` when given (git and gix forward only the ssh errors they recognize; the log
/// keeps the others, such as a changed host key). `None` when a path holds a quote.
pub fn ssh_command(
    identity: Option<&Path>,
    known_hosts: Option<&Path>,
    log: Option<&Path>,
) -> Option<String> {
    let quoted = |p: &Path| {
        let text = p.display().to_string();
        (!text.contains(['\'', '"', '\\'])).then(|| format!("'{text}'"))
    };
    let mut command = String::from(
        "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
         -o GlobalKnownHostsFile=/dev/null -o UpdateHostKeys=no -o IdentitiesOnly=yes",
    );
    match identity {
        Some(path) => command.push_str(&format!(" -i {}", quoted(path)?)),
        None => command.push_str(" -o IdentityFile=none"),
    }
    let known = match known_hosts {
        Some(path) => quoted(path)?,
        None => "/dev/null".to_owned(),
    };
    command.push_str(&format!(" -o UserKnownHostsFile={known}"));
    if let Some(log) = log {
        command.push_str(&format!(" -E {}", quoted(log)?));
    }
    Some(command)
}

/// Name of ssh's log in the directory of a fetch or a working clone.
pub const SSH_LOG: &str = "ssh.log";
/// The most of ssh's log read back.
const SSH_LOG_MAX_BYTES: usize = 16 * 1024;

/// The lines of an ssh log that say why a connection failed, joined, at most 500 characters
/// (the warning banner and key-removal advice dropped).
pub fn ssh_log_summary(log: &str) -> String {
    const KEEP: [&str; 9] = [
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
        "has changed and you have requested strict checking",
        "host key is known for",
        "Host key verification failed",
        "Permission denied",
        "Connection refused",
        "Connection timed out",
        "Could not resolve",
        "Connection closed",
    ];
    let start = log.len().saturating_sub(SSH_LOG_MAX_BYTES);
    let tail = log.get(start..).unwrap_or(log);
    let summary = tail
        .lines()
        .filter(|line| KEEP.iter().any(|k| line.contains(k)))
        .map(|line| line.trim_matches(|c: char| c == '@' || c.is_whitespace()))
        .collect::<Vec<_>>()
        .join(" ");
    match summary.char_indices().nth(500) {
        Some((end, _)) => format!("{}…", &summary[..end]),
        None => summary,
    }
}

/// [`ssh_log_summary`] of `log`, led by the [`ssh_failure_hint`] when there is one; empty
/// when the log says nothing about a failure.
pub fn ssh_failure_summary(log: &str, has_known_hosts: bool) -> String {
    let summary = ssh_log_summary(log);
    match ssh_failure_hint(&summary, has_known_hosts) {
        Some(hint) => format!("{hint}: {summary}"),
        None => summary,
    }
}

/// A sentence to add to an ssh failure that ssh itself explains poorly: a host key that no
/// longer matches `known_hosts`, or a host with no entry at all.
pub fn ssh_failure_hint(message: &str, has_known_hosts: bool) -> Option<&'static str> {
    if message.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || message.contains("differs from the key for the IP address")
    {
        return Some(
            "the host's key does not match the secret's known_hosts (refused: the host key \
             changed, or someone is in the middle); if the change is expected, gather the new \
             key again (driftless create secret git) and update the secret",
        );
    }
    if message.contains("Host key verification failed") || message.contains("host key is known for")
    {
        return Some(if has_known_hosts {
            "the host's key is not in the secret's known_hosts (host key verification is always \
             strict); add the host's key, e.g. with driftless create secret git"
        } else {
            "the secret has no known_hosts key: an ssh:// URL needs the host's keys (host key \
             verification is always strict); driftless create secret git gathers them"
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_is_strict_with_or_without_known_hosts() {
        let log = Some(Path::new("/c/ssh.log"));
        let none = ssh_command(None, None, log).unwrap();
        for option in [
            "-F /dev/null",
            "BatchMode=yes",
            "StrictHostKeyChecking=yes",
            "UserKnownHostsFile=/dev/null",
            "GlobalKnownHostsFile=/dev/null",
            "IdentityFile=none",
        ] {
            assert!(none.contains(option), "{option} missing: {none}");
        }
        assert!(
            !none.contains("accept-new") && !none.contains("StrictHostKeyChecking=no"),
            "{none}"
        );
        let both = ssh_command(
            Some(Path::new("/c/identity")),
            Some(Path::new("/c/kh")),
            log,
        )
        .unwrap();
        assert!(both.contains("-i '/c/identity'") && both.contains("UserKnownHostsFile='/c/kh'"));
        assert!(both.contains("-E '/c/ssh.log'"), "{both}");
        assert!(ssh_command(Some(Path::new("/c/x'; rm -rf /'")), None, log).is_none());
        assert!(ssh_command(None, None, Some(Path::new("/c/it's/ssh.log"))).is_none());
        let quiet = ssh_command(None, None, None).unwrap();
        assert!(!quiet.contains(" -E "), "{quiet}");
    }

    #[test]
    fn ssh_host_key_failures_get_a_hint() {
        let changed = "@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.";
        assert!(
            ssh_failure_hint(changed, true)
                .unwrap()
                .contains("does not match")
        );
        let unknown = "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\nHost key verification failed.";
        assert!(
            ssh_failure_hint(unknown, true)
                .unwrap()
                .contains("not in the secret's known_hosts")
        );
        assert!(
            ssh_failure_hint(unknown, false)
                .unwrap()
                .contains("has no known_hosts")
        );
        assert!(ssh_failure_hint("Permission denied (publickey).", true).is_none());
    }

    #[test]
    fn ssh_logs_are_summarized_without_the_banner() {
        let log = "@@@@@@@@@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
                   IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
                   Offending ED25519 key in /x/known_hosts:1\n\
                   Host key for [127.0.0.1]:2299 has changed and you have requested strict checking.\n\
                   Host key verification failed.\n";
        let summary = ssh_log_summary(log);
        assert_eq!(
            summary,
            "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! Host key for [127.0.0.1]:2299 has \
             changed and you have requested strict checking. Host key verification failed."
        );
        assert_eq!(
            ssh_log_summary("git@h: Permission denied (publickey).\n"),
            "git@h: Permission denied (publickey)."
        );
        assert!(
            ssh_log_summary(&"Permission denied ".repeat(10_000))
                .chars()
                .count()
                <= 501
        );
    }

    #[test]
    fn failure_summaries_lead_with_the_hint() {
        let changed = "@@@\n@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @\n\
                       Offending ED25519 key in /s/known_hosts:1\nHost key verification failed.\n";
        let summary = ssh_failure_summary(changed, true);
        assert!(
            summary.starts_with("the host's key does not match"),
            "{summary}"
        );
        assert!(!summary.contains("Offending"), "{summary}");
        assert_eq!(
            ssh_failure_summary("git@h: Permission denied (publickey).\n", true),
            "git@h: Permission denied (publickey)."
        );
        assert_eq!(ssh_failure_summary("debug1: hello\n", false), "");
    }
}
