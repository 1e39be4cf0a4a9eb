//! Running the system `git` with a controlled environment: no user or system config, no
//! prompts, credentials passed through environment-provided config (never on the command
//! line, where `ps` would show them).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use driftless_source::ssh::{SSH_LOG, ssh_command, ssh_failure_summary};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::Error;

/// Credentials for remotes: basic auth or a bearer token for HTTP(S), a deploy key and the
/// host's keys for ssh.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GitCredentials {
    /// Basic auth user name and password.
    pub basic: Option<(String, String)>,
    /// Bearer token.
    pub bearer_token: Option<String>,
    /// SSH private key (OpenSSH format): `identity` of the secret.
    pub ssh_identity: Option<Vec<u8>>,
    /// SSH known hosts: `known_hosts` of the secret.
    pub known_hosts: Option<Vec<u8>>,
}

impl std::fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitCredentials")
            .field(
                "basic",
                &self.basic.as_ref().map(|(user, _)| (user, "<redacted>")),
            )
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "ssh_identity",
                &self.ssh_identity.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "known_hosts",
                &self
                    .known_hosts
                    .as_ref()
                    .map(|k| format!("{} bytes", k.len())),
            )
            .finish()
    }
}

/// What a git invocation printed.
#[derive(Debug)]
pub struct GitOutput {
    /// Exit status was zero.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// What git's transports may do: which protocols (`GIT_ALLOW_PROTOCOL`) and extra
/// configuration such as `http.curloptResolve` pins (see [`super::transport`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transport {
    /// `:`-separated protocols git may use; `None` leaves git's defaults.
    pub allowed_protocols: Option<String>,
    /// `key=value` configuration passed through the environment.
    pub config: Vec<(String, String)>,
}

/// A `git` runner for one working directory.
#[derive(Clone, Debug)]
pub struct Git {
    dir: std::path::PathBuf,
    credentials: GitCredentials,
    timeout: Duration,
    transport: Transport,
    ssh_command: String,
    ssh_log: Option<std::path::PathBuf>,
}

impl Git {
    /// A runner in `dir` (which must exist) using `credentials` for remotes.
    pub fn new(dir: &Path, credentials: GitCredentials, timeout: Duration) -> Self {
        Git {
            dir: dir.to_path_buf(),
            credentials,
            timeout,
            transport: Transport::default(),
            ssh_command: ssh_command(None, None, None).unwrap_or_default(),
            ssh_log: None,
        }
    }

    /// The same runner with the credentials' ssh identity and known_hosts written (mode
    /// 0600) into `ssh_dir`, which must lie outside the working tree, and used for every ssh
    /// remote; ssh's diagnostics go to a log there, read back into errors. Without
    /// credentials, ssh offers no key and trusts no host.
    pub async fn with_ssh_files(mut self, ssh_dir: &Path) -> Result<Self, Error> {
        tokio::fs::create_dir_all(ssh_dir)
            .await
            .map_err(Error::io("creating", ssh_dir))?;
        let identity = match self.credentials.ssh_identity.clone() {
            Some(mut key) => {
                if !key.ends_with(b"\n") {
                    key.push(b'\n');
                }
                Some(write_private(&ssh_dir.join("identity"), &key).await?)
            }
            None => None,
        };
        let known_hosts = match self.credentials.known_hosts.clone() {
            Some(hosts) => Some(write_private(&ssh_dir.join("known_hosts"), &hosts).await?),
            None => None,
        };
        let log = ssh_dir.join(SSH_LOG);
        self.ssh_command = ssh_command(identity.as_deref(), known_hosts.as_deref(), Some(&log))
            .ok_or_else(|| Error::Git {
                operation: "git ssh setup".to_owned(),
                message: format!(
                    "the storage path {} holds a quote character; ssh files cannot be passed safely",
                    ssh_dir.display()
                ),
            })?;
        self.ssh_log = Some(log);
        Ok(self)
    }

    /// The same runner with `transport` restricting git's transports.
    pub fn with_transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// The working directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `git args…`, failing with the command and its stderr when it exits non-zero.
    pub async fn run(&self, args: &[&str]) -> Result<String, Error> {
        let out = self.output(args, None).await?;
        if out.success {
            Ok(out.stdout)
        } else {
            Err(self.failure(args, &out))
        }
    }

    /// Runs `git args…` with `input` on stdin, failing like [`Git::run`].
    pub async fn run_with_input(&self, args: &[&str], input: &str) -> Result<String, Error> {
        let out = self.output(args, Some(input)).await?;
        if out.success {
            Ok(out.stdout)
        } else {
            Err(self.failure(args, &out))
        }
    }

    /// Runs `git args…` and returns what happened, whatever the exit status.
    pub async fn output(&self, args: &[&str], input: Option<&str>) -> Result<GitOutput, Error> {
        let mut command = Command::new("git");
        command
            .current_dir(&self.dir)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "/bin/false")
            .env("LC_ALL", "C")
            .env("GIT_SSH_COMMAND", &self.ssh_command)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(protocols) = &self.transport.allowed_protocols {
            command.env("GIT_ALLOW_PROTOCOL", protocols);
        }
        let mut config = self.transport.config.clone();
        if let Some(header) = self.authorization() {
            config.push((
                "http.extraHeader".to_owned(),
                format!("Authorization: {header}"),
            ));
        }
        if !config.is_empty() {
            command.env("GIT_CONFIG_COUNT", config.len().to_string());
            for (i, (key, value)) in config.iter().enumerate() {
                command
                    .env(format!("GIT_CONFIG_KEY_{i}"), key)
                    .env(format!("GIT_CONFIG_VALUE_{i}"), value);
            }
        }
        let spawn_error = |e: std::io::Error| Error::Git {
            operation: operation(args),
            message: e.to_string(),
        };
        if let Some(log) = &self.ssh_log {
            // One invocation's diagnostics at a time (a missing log is fine).
            let _ = tokio::fs::remove_file(log).await;
        }
        let mut child = command.spawn().map_err(spawn_error)?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin
                .write_all(input.as_bytes())
                .await
                .map_err(spawn_error)?;
        }
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| Error::Git {
                operation: operation(args),
                message: format!("timed out after {:?}", self.timeout),
            })?
            .map_err(spawn_error)?;
        Ok(GitOutput {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// The error for a failed invocation.
    pub fn failure(&self, args: &[&str], out: &GitOutput) -> Error {
        let mut message = error_line(&out.stderr);
        let ssh = self
            .ssh_log
            .as_ref()
            .and_then(|log| std::fs::read(log).ok())
            .map(|log| {
                ssh_failure_summary(
                    &String::from_utf8_lossy(&log),
                    self.credentials.known_hosts.is_some(),
                )
            })
            .unwrap_or_default();
        if !ssh.is_empty() {
            message = format!("ssh: {ssh}; {message}");
        }
        if ssh.contains("Permission denied") {
            return Error::GitAuthentication {
                operation: operation(args),
                message,
            };
        }
        Error::Git {
            operation: operation(args),
            message,
        }
    }

    fn authorization(&self) -> Option<String> {
        if let Some(token) = &self.credentials.bearer_token {
            return Some(format!("Bearer {token}"));
        }
        let (user, password) = self.credentials.basic.as_ref()?;
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        ))
    }
}

/// Writes `bytes` to `path`, readable by the owner only.
async fn write_private(path: &Path, bytes: &[u8]) -> Result<std::path::PathBuf, Error> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true).mode(0o600);
    let mut file = options
        .open(path)
        .await
        .map_err(Error::io("writing", path))?;
    file.write_all(bytes)
        .await
        .map_err(Error::io("writing", path))?;
    Ok(path.to_path_buf())
}

/// What an invocation does, for errors: `git push to origin (branch main)`. Never the
/// arguments as given (they may hold a URL, and a URL may hold credentials).
pub fn operation(args: &[&str]) -> String {
    let mut rest = args;
    while let ["-c", _, tail @ ..] = rest {
        rest = tail;
    }
    let branch = |prefix: &str| {
        rest.iter().find_map(|a| {
            let (_, after) = a.split_once(prefix)?;
            Some(after.split(':').next().unwrap_or(after).to_owned())
        })
    };
    match rest {
        ["fetch", ..] => match branch("refs/heads/") {
            Some(b) => format!("git fetch from origin (branch {b})"),
            None => "git fetch from origin".to_owned(),
        },
        ["push", ..] => match branch(":refs/heads/") {
            Some(b) => format!("git push to origin (branch {b})"),
            None => "git push to origin".to_owned(),
        },
        ["remote", verb, ..] => format!("git remote {verb} origin"),
        [sub, ..] => format!("git {sub}"),
        [] => "git".to_owned(),
    }
}

/// The line of git's error output that says why (the first `fatal:` or `error:` line, else
/// the first non-empty one), credentials in URLs redacted, at most 300 characters.
pub fn error_line(stderr: &str) -> String {
    let lines = || stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    let line = lines()
        .find(|l| l.starts_with("fatal:") || l.starts_with("error:"))
        .or_else(|| lines().next())
        .unwrap_or("no error output");
    let line = driftless_runtime::url_policy::redact_credentials(line);
    match line.char_indices().nth(300) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_never_show_arguments() {
        let url = "https://bot:s3cret@git.example/r.git";
        assert_eq!(
            operation(&["remote", "add", "origin", url]),
            "git remote add origin"
        );
        assert_eq!(
            operation(&[
                "fetch",
                "--quiet",
                "--no-tags",
                "origin",
                "+refs/heads/main:refs/remotes/origin/main"
            ]),
            "git fetch from origin (branch main)"
        );
        assert_eq!(
            operation(&[
                "push",
                "--quiet",
                "--porcelain",
                "origin",
                "HEAD:refs/heads/image-updates"
            ]),
            "git push to origin (branch image-updates)"
        );
        assert_eq!(
            operation(&[
                "-c",
                "user.name=x",
                "-c",
                "user.email=y",
                "commit",
                "-F",
                "-"
            ]),
            "git commit"
        );
    }

    #[test]
    fn error_lines_are_short_and_redacted() {
        let stderr = "remote: Counting objects\nfatal: unable to access 'https://bot:s3cret@git.example/r.git/': The requested URL returned error: 403\nmore\n";
        assert_eq!(
            error_line(stderr),
            "fatal: unable to access 'https://***@git.example/r.git/': The requested URL returned error: 403"
        );
        assert_eq!(error_line("\n  \n"), "no error output");
        assert_eq!(error_line(&"x".repeat(1000)).chars().count(), 301);
    }
}
