//! The repository side of bootstrap, through the system `git` (as image automation pushes:
//! gix cannot push yet): a throw-away clone of the branch, the files written, a commit only
//! when something changed, a push.
//!
//! git runs with no user or system configuration, never prompting; over ssh with only the
//! deploy key offered and the host key checked strictly against the gathered `known_hosts`.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tempfile::TempDir;

use super::layout::File;

/// How git reaches the remote.
#[derive(Default)]
pub struct Credentials {
    /// OpenSSH private key (ssh://).
    pub identity: Option<String>,
    /// The host's keys (ssh://).
    pub known_hosts: Option<String>,
    /// Basic auth (https://), sent as a header through the environment.
    pub basic: Option<(String, String)>,
}

/// Who commits.
pub struct Author {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
}

/// A remote branch and a private scratch directory for its clone and ssh files.
pub struct Remote {
    url: String,
    branch: String,
    ssh_command: String,
    ssh_log: PathBuf,
    known_hosts: bool,
    basic_header: Option<String>,
    scratch: TempDir,
}

impl Remote {
    /// Prepares access to `branch` of `url` with `credentials`.
    pub fn new(url: &str, branch: &str, credentials: &Credentials) -> anyhow::Result<Self> {
        let scratch = tempfile::Builder::new()
            .prefix("driftless-bootstrap-")
            .tempdir()
            .context("creating a scratch directory")?;
        let write_private = |name: &str, content: &str| -> anyhow::Result<PathBuf> {
            let path = scratch.path().join(name);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            file.write_all(content.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(path)
        };
        let identity = match &credentials.identity {
            Some(key) => Some(write_private("identity", key)?),
            None => None,
        };
        let known_hosts = match &credentials.known_hosts {
            Some(hosts) => Some(write_private("known_hosts", hosts)?),
            None => None,
        };
        let ssh_log = scratch.path().join(driftless_source::ssh::SSH_LOG);
        let ssh_command = driftless_source::ssh::ssh_command(
            identity.as_deref(),
            known_hosts.as_deref(),
            Some(&ssh_log),
        )
        .context("the temporary directory's path holds a quote character")?;
        let basic_header = credentials.basic.as_ref().map(|(user, password)| {
            use base64::Engine as _;
            format!(
                "Authorization: Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        });
        Ok(Self {
            url: url.to_owned(),
            branch: branch.to_owned(),
            ssh_command,
            ssh_log,
            known_hosts: known_hosts.is_some(),
            basic_header,
            scratch,
        })
    }

    fn git(&self, dir: Option<&Path>) -> Command {
        let mut command = Command::new("git");
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.scratch.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "/bin/false")
            .env("GIT_SSH_COMMAND", &self.ssh_command)
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        if let Some(header) = &self.basic_header {
            command
                .env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                .env("GIT_CONFIG_VALUE_0", header);
        }
        command
    }

    fn run(&self, dir: Option<&Path>, args: &[&str]) -> anyhow::Result<String> {
        // One invocation's ssh diagnostics at a time (a missing log is fine).
        let _ = std::fs::remove_file(&self.ssh_log);
        let output = self
            .git(dir)
            .args(args)
            .output()
            .context("running git (is it installed?)")?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let what = args.first().copied().unwrap_or("git");
        let mut why =
            driftless_image_controller::git::error_line(&String::from_utf8_lossy(&output.stderr));
        if let Ok(log) = std::fs::read(&self.ssh_log) {
            let ssh = driftless_source::ssh::ssh_failure_summary(
                &String::from_utf8_lossy(&log),
                self.known_hosts,
            );
            if !ssh.is_empty() {
                why = format!("ssh: {ssh}; {why}");
            }
        }
        bail!("git {what} with {} failed: {why}", self.url)
    }

    /// Whether the remote answers with these credentials (`git ls-remote`).
    pub fn check_access(&self) -> anyhow::Result<()> {
        self.run(None, &["ls-remote", "--heads", &self.url])
            .map(drop)
    }

    /// Polls [`Remote::check_access`] until it succeeds or `timeout` passes (a new deploy
    /// key waits for the user to add it to the repository).
    pub fn wait_for_access(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.check_access() {
                Ok(()) => return Ok(()),
                Err(err) if Instant::now() >= deadline => {
                    return Err(err.context(format!(
                        "the deploy key was not granted access within {timeout:?}"
                    )));
                }
                Err(_) => std::thread::sleep(Duration::from_secs(2)),
            }
        }
    }

    /// Writes `files` on top of the branch and commits and pushes them when anything
    /// changed; the new commit, or `None` when the branch already holds exactly these files.
    pub fn commit_files(
        &self,
        files: &[File],
        message: &str,
        author: &Author,
    ) -> anyhow::Result<Option<String>> {
        let work = self.scratch.path().join("work");
        self.run(
            None,
            &[
                "clone",
                "--quiet",
                "--no-checkout",
                &self.url,
                &path_arg(&work)?,
            ],
        )?;
        let heads = self.run(
            Some(&work),
            &["ls-remote", "--heads", "origin", &self.branch],
        )?;
        if heads.trim().is_empty() {
            self.run(
                Some(&work),
                &["checkout", "--quiet", "--orphan", &self.branch],
            )?;
        } else {
            let start = format!("origin/{}", self.branch);
            self.run(
                Some(&work),
                &["checkout", "--quiet", "-B", &self.branch, &start],
            )?;
        }
        let mut paths = Vec::new();
        for (path, content) in files {
            let target = safe_target(&work, path)?;
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&target, content)
                .with_context(|| format!("writing {}", target.display()))?;
            paths.push(path.as_str());
        }
        let mut add = vec!["add", "--"];
        add.extend(paths.iter().copied());
        self.run(Some(&work), &add)?;
        let unchanged = self
            .git(Some(&work))
            .args(["diff", "--cached", "--quiet"])
            .status()
            .context("running git diff")?
            .success();
        if unchanged {
            return Ok(None);
        }
        let name = format!("user.name={}", author.name);
        let email = format!("user.email={}", author.email);
        self.run(
            Some(&work),
            &[
                "-c",
                &name,
                "-c",
                &email,
                "commit",
                "--quiet",
                "--no-verify",
                "-m",
                message,
            ],
        )?;
        let target = format!("HEAD:refs/heads/{}", self.branch);
        self.run(Some(&work), &["push", "--quiet", "origin", &target])?;
        Ok(Some(
            self.run(Some(&work), &["rev-parse", "HEAD"])?
                .trim()
                .to_owned(),
        ))
    }
}

fn path_arg(path: &Path) -> anyhow::Result<String> {
    path.to_str()
        .map(str::to_owned)
        .context("the scratch directory's path is not UTF-8")
}

/// `root/path`, refusing a path that leaves the work tree or passes through a symlink the
/// repository holds (a hostile repository could point `clusters` anywhere on this machine).
fn safe_target(root: &Path, path: &str) -> anyhow::Result<PathBuf> {
    let relative = Path::new(path);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        bail!("refusing to write {path}: not a plain relative path");
    }
    let mut current = root.to_path_buf();
    for component in relative.components() {
        current.push(component);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => bail!(
                "refusing to write {path}: {} is a symlink in the repository",
                current.strip_prefix(root).unwrap_or(&current).display()
            ),
            Ok(_) | Err(_) => {}
        }
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_and_escapes_in_the_work_tree_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("clusters")).unwrap();
        let err = safe_target(dir.path(), "clusters/prod/x.yaml").unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(safe_target(dir.path(), "../x").is_err());
        assert!(safe_target(dir.path(), "/etc/x").is_err());
        assert_eq!(
            safe_target(dir.path(), "apps/x.yaml").unwrap(),
            dir.path().join("apps/x.yaml")
        );
    }
}
