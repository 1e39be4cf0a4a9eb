//! One persistent working clone per (URL, checkout branch) under
//! `<storage>/image-automation/`, fetched incrementally on every run, reset to the remote
//! branch before updating, committed and pushed with the system `git`.
//!
//! Why the `git` CLI: gix cannot push yet; git2 would add a vendored libgit2 (and for
//! HTTPS an OpenSSL or a second TLS stack) to build and keep patched, and its rebase is
//! not git's. `git` is already what the e2e git server runs, speaks every transport the
//! source controller does, and its push/fetch/rebase are the reference behaviour. It runs
//! with no user or system config and no prompts (see [`Git`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::command::{Git, GitCredentials, Transport};
use crate::Error;

/// Locks working clones so that two automations on the same URL and branch take turns.
#[derive(Debug, Default)]
pub struct WorkingClones {
    locks: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl WorkingClones {
    /// The lock of the clone at `dir`.
    pub fn lock_for(&self, dir: &Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(dir.to_path_buf()).or_default().clone()
    }
}

/// A working clone, checked out on the branch to update.
#[derive(Debug)]
pub struct WorkingClone {
    git: Git,
}

/// Author of the commits.
#[derive(Clone, Debug)]
pub struct Author {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
}

/// The directory of the working clone of `url` at `branch` under `storage`.
pub fn clone_dir(storage: &Path, url: &str, branch: &str) -> PathBuf {
    let key = hex::encode(Sha256::digest(format!("{url}\n{branch}")));
    storage.join("image-automation").join(&key[..24])
}

/// Where the ssh identity and known_hosts of the clone at `dir` are written: beside it,
/// never inside the working tree (where `git add --all` would commit them).
fn ssh_dir(dir: &Path) -> PathBuf {
    dir.with_extension("ssh")
}

impl WorkingClone {
    /// Opens (creating on first use) the clone at `dir` with `url` as `origin`.
    pub async fn open(
        dir: &Path,
        url: &str,
        credentials: GitCredentials,
        timeout: Duration,
    ) -> Result<Self, Error> {
        Self::open_with(dir, url, credentials, timeout, Transport::default()).await
    }

    /// [`WorkingClone::open`] with git's transports restricted by `transport` (the URL
    /// policy: check `url` with it before calling this).
    pub async fn open_with(
        dir: &Path,
        url: &str,
        credentials: GitCredentials,
        timeout: Duration,
        transport: Transport,
    ) -> Result<Self, Error> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(Error::io("creating", dir))?;
        let git = Git::new(dir, credentials, timeout)
            .with_transport(transport)
            .with_ssh_files(&ssh_dir(dir))
            .await?;
        if !tokio::fs::try_exists(dir.join(".git"))
            .await
            .unwrap_or(false)
        {
            git.run(&["init", "--quiet"]).await?;
        }
        let has_origin = git
            .output(&["remote", "get-url", "origin"], None)
            .await?
            .success;
        if has_origin {
            git.run(&["remote", "set-url", "origin", url]).await?;
        } else {
            git.run(&["remote", "add", "origin", url]).await?;
        }
        Ok(WorkingClone { git })
    }

    /// The working tree.
    pub fn dir(&self) -> &Path {
        self.git.dir()
    }

    /// Fetches `checkout` (and `push`, when it differs and exists) and resets the working
    /// tree to the branch the update starts from: the push branch when it exists already
    /// (updates accumulate on a review branch), else the checkout branch. Returns that commit.
    pub async fn reset_to_remote(&self, checkout: &str, push: &str) -> Result<String, Error> {
        self.fetch(checkout).await?;
        let base = if push != checkout && self.fetch_optional(push).await? {
            format!("refs/remotes/origin/{push}")
        } else {
            format!("refs/remotes/origin/{checkout}")
        };
        self.git
            .run(&[
                "checkout",
                "--quiet",
                "--force",
                "-B",
                "driftless-update",
                &base,
            ])
            .await?;
        self.git.run(&["clean", "--quiet", "-fdx"]).await?;
        Ok(self
            .git
            .run(&["rev-parse", "HEAD"])
            .await?
            .trim()
            .to_owned())
    }

    async fn fetch(&self, branch: &str) -> Result<(), Error> {
        let refspec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
        self.git
            .run(&["fetch", "--quiet", "--no-tags", "origin", &refspec])
            .await
            .map(drop)
    }

    /// Fetches `branch` if the remote has it; `false` when it does not.
    async fn fetch_optional(&self, branch: &str) -> Result<bool, Error> {
        let refspec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
        let args = ["fetch", "--quiet", "--no-tags", "origin", refspec.as_str()];
        let out = self.git.output(&args, None).await?;
        if out.success {
            return Ok(true);
        }
        if out.stderr.contains("couldn't find remote ref") {
            return Ok(false);
        }
        Err(self.git.failure(&args, &out))
    }

    /// Commits every change in the working tree; `None` when there is nothing to commit.
    pub async fn commit(&self, author: &Author, message: &str) -> Result<Option<String>, Error> {
        self.git.run(&["add", "--all"]).await?;
        let diff = self
            .git
            .output(&["diff", "--cached", "--quiet"], None)
            .await?;
        if diff.success {
            return Ok(None);
        }
        let name = format!("user.name={}", author.name);
        let email = format!("user.email={}", author.email);
        self.git
            .run_with_input(
                &[
                    "-c",
                    &name,
                    "-c",
                    &email,
                    "commit",
                    "--quiet",
                    "--no-verify",
                    "-F",
                    "-",
                ],
                message,
            )
            .await?;
        Ok(Some(self.head().await?))
    }

    /// Pushes HEAD to `branch`. When the remote moved meanwhile, fetches it, rebases onto it
    /// and pushes once more. Returns the commit pushed.
    pub async fn push(&self, branch: &str, author: &Author) -> Result<String, Error> {
        let target = format!("HEAD:refs/heads/{branch}");
        let args = ["push", "--quiet", "--porcelain", "origin", target.as_str()];
        let first = self.git.output(&args, None).await?;
        if first.success {
            return self.head().await;
        }
        if !is_rejected(&first.stdout, &first.stderr) {
            return Err(self.git.failure(&args, &first));
        }
        tracing::info!(branch, "push rejected, rebasing onto the remote branch");
        self.fetch(branch).await?;
        let name = format!("user.name={}", author.name);
        let email = format!("user.email={}", author.email);
        let onto = format!("refs/remotes/origin/{branch}");
        let rebase = self
            .git
            .output(
                &["-c", &name, "-c", &email, "rebase", "--quiet", &onto],
                None,
            )
            .await?;
        if !rebase.success {
            let _ = self.git.output(&["rebase", "--abort"], None).await;
            return Err(Error::PushRejected {
                branch: branch.to_owned(),
                message: format!(
                    "the remote moved and rebasing onto it failed: {}",
                    super::command::error_line(&rebase.stderr)
                ),
            });
        }
        let second = self.git.output(&args, None).await?;
        if second.success {
            return self.head().await;
        }
        Err(Error::PushRejected {
            branch: branch.to_owned(),
            message: super::command::error_line(&second.stderr),
        })
    }

    async fn head(&self) -> Result<String, Error> {
        Ok(self
            .git
            .run(&["rev-parse", "HEAD"])
            .await?
            .trim()
            .to_owned())
    }
}

fn is_rejected(stdout: &str, stderr: &str) -> bool {
    ["rejected", "non-fast-forward", "fetch first", "stale info"]
        .iter()
        .any(|needle| stdout.contains(needle) || stderr.contains(needle))
}
