//! Running the system `git` with a controlled environment: no user or system config, no
//! prompts, credentials passed through environment-provided config (never on the command
//! line, where `ps` would show them).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::Error;

/// Credentials for HTTP(S) remotes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GitCredentials {
    /// Basic auth user name and password.
    pub basic: Option<(String, String)>,
    /// Bearer token.
    pub bearer_token: Option<String>,
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

/// A `git` runner for one working directory.
#[derive(Clone, Debug)]
pub struct Git {
    dir: std::path::PathBuf,
    credentials: GitCredentials,
    timeout: Duration,
}

impl Git {
    /// A runner in `dir` (which must exist) using `credentials` for remotes.
    pub fn new(dir: &Path, credentials: GitCredentials, timeout: Duration) -> Self {
        Git {
            dir: dir.to_path_buf(),
            credentials,
            timeout,
        }
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
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(header) = self.authorization() {
            command
                .env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                .env("GIT_CONFIG_VALUE_0", format!("Authorization: {header}"));
        }
        let spawn_error = |e: std::io::Error| Error::Git {
            command: format!("git {}", args.join(" ")),
            message: e.to_string(),
        };
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
                command: format!("git {}", args.join(" ")),
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
        Error::Git {
            command: format!("git {}", args.join(" ")),
            message: out.stderr.trim().to_owned(),
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
