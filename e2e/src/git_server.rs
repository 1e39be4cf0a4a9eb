//! A git server on loopback: `git daemon` for git:// (push enabled) and
//! `git http-backend` behind lighttpd for smart HTTP, with anonymous
//! read-only access under `/git/` and basic auth (read and push) under
//! `/private/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::error::{Error, Result};
use crate::process::{ManagedProcess, free_port, run_to_completion};

/// The user allowed under `/private/`.
const USERNAME: &str = "driftless";

/// A git daemon and a lighttpd serving bare repositories from a temporary
/// directory; both processes stop and the directory is removed on drop.
///
/// Repositories made by [`GitServer::create_repo`] are served over git://
/// (read and push) and anonymously over HTTP under `/git/` (read only: git
/// http-backend refuses pushes without an authenticated user). Repositories
/// made by [`GitServer::create_private_repo`] are served only over HTTP under
/// `/private/`, to [`GitServer::username`] with [`GitServer::password`], who
/// may also push.
#[derive(Debug)]
pub struct GitServer {
    // Fields drop in order: the processes stop before their directory goes.
    _daemon: ManagedProcess,
    _http: ManagedProcess,
    git_port: u16,
    http_port: u16,
    password: String,
    dir: TempDir,
}

impl GitServer {
    /// Starts both servers on free loopback ports and waits until they accept
    /// connections.
    pub fn start() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("driftless-git-")
            .tempdir()
            .map_err(Error::io(
                "create a temporary directory in",
                std::env::temp_dir(),
            ))?;
        let root = dir.path();
        for sub in ["public", "private", "www", "home", "uploads"] {
            let path = root.join(sub);
            std::fs::create_dir_all(&path).map_err(Error::io("create", path))?;
        }
        let password = generated_password();
        write_htpasswd(root, &password)?;

        let exec_path = git_exec_path()?;
        let git_port = free_port()?;
        let daemon_command = daemon_command(&exec_path, root, git_port);
        let mut daemon =
            ManagedProcess::spawn("git daemon", daemon_command, &root.join("git-daemon.log"))?;
        daemon.wait_for_port(git_port)?;

        let http_port = free_port()?;
        let config_path = root.join("lighttpd.conf");
        let config = lighttpd_config(root, http_port, &exec_path);
        std::fs::write(&config_path, config).map_err(Error::io("write", &config_path))?;
        let mut lighttpd = Command::new("lighttpd");
        lighttpd.arg("-D").arg("-f").arg(&config_path);
        let mut http = ManagedProcess::spawn("lighttpd", lighttpd, &root.join("lighttpd.log"))?;
        http.wait_for_port(http_port)?;

        Ok(Self {
            _daemon: daemon,
            _http: http,
            git_port,
            http_port,
            password,
            dir,
        })
    }

    /// Creates an empty bare repository `name` (`.git` is appended) served
    /// over git:// and anonymously over HTTP; returns its path on disk.
    pub fn create_repo(&self, name: &str) -> Result<PathBuf> {
        self.init_bare(&self.dir.path().join("public"), name)
    }

    /// Creates an empty bare repository `name` served only over HTTP with
    /// basic auth; returns its path on disk.
    pub fn create_private_repo(&self, name: &str) -> Result<PathBuf> {
        self.init_bare(&self.dir.path().join("private"), name)
    }

    fn init_bare(&self, area: &Path, name: &str) -> Result<PathBuf> {
        let path = area.join(repo_file_name(name));
        run_to_completion(
            self.git_command()
                .args(["init", "--quiet", "--bare", "--initial-branch=main"])
                .arg(&path),
        )?;
        Ok(path)
    }

    /// `git://127.0.0.1:<port>/<name>.git` for a repository made by [`GitServer::create_repo`].
    pub fn git_url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{}", self.git_port, repo_file_name(name))
    }

    /// Anonymous, read-only `http://127.0.0.1:<port>/git/<name>.git` for a
    /// repository made by [`GitServer::create_repo`].
    pub fn http_url(&self, name: &str) -> String {
        format!(
            "http://127.0.0.1:{}/git/{}",
            self.http_port,
            repo_file_name(name)
        )
    }

    /// `http://127.0.0.1:<port>/private/<name>.git` (no credentials in it)
    /// for a repository made by [`GitServer::create_private_repo`].
    pub fn private_http_url(&self, name: &str) -> String {
        format!(
            "http://127.0.0.1:{}/private/{}",
            self.http_port,
            repo_file_name(name)
        )
    }

    /// [`GitServer::private_http_url`] with `username:password@` in it, for
    /// the git CLI.
    pub fn private_http_url_with_credentials(
        &self,
        name: &str,
        username: &str,
        password: &str,
    ) -> String {
        format!(
            "http://{username}:{password}@127.0.0.1:{}/private/{}",
            self.http_port,
            repo_file_name(name)
        )
    }

    /// The user allowed under `/private/`.
    pub fn username(&self) -> &str {
        USERNAME
    }

    /// That user's password (generated per server).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// A `git` command isolated from the developer's configuration (own
    /// HOME, no system config, no credential helper, never prompting), with
    /// an author identity set.
    pub fn git_command(&self) -> Command {
        let mut command = Command::new("git");
        command
            .env("HOME", self.dir.path().join("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "/bin/false")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .env_remove("SSH_ASKPASS")
            .args([
                "-c",
                "credential.helper=",
                "-c",
                "user.name=Driftless E2E",
                "-c",
                "user.email=e2e@driftless.dev",
            ])
            .args(["-c", "init.defaultBranch=main", "-c", "protocol.version=2"]);
        command
    }

    /// Commits `files` (path, content) on top of `branch` of the repository
    /// at `url` (creating the branch in an empty repository) and pushes;
    /// returns the new commit's id.
    pub fn push_files(
        &self,
        url: &str,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> Result<String> {
        self.push_change(url, branch, files, &[], message)
    }

    /// Like [`GitServer::push_files`], and also deletes `removed` paths (files or
    /// directories) in the same commit.
    pub fn push_change(
        &self,
        url: &str,
        branch: &str,
        files: &[(&str, &str)],
        removed: &[&str],
        message: &str,
    ) -> Result<String> {
        let work = tempfile::Builder::new()
            .prefix("work-")
            .tempdir_in(self.dir.path())
            .map_err(Error::io("create a work tree in", self.dir.path()))?;
        let tree = work.path();
        run_to_completion(
            self.git_command()
                .arg("clone")
                .arg("--quiet")
                .arg(url)
                .arg(tree),
        )?;
        run_to_completion(
            self.git_command()
                .current_dir(tree)
                .args(["checkout", "--quiet", "-B", branch]),
        )?;
        let has_branch = run_to_completion(self.git_command().current_dir(tree).args([
            "ls-remote",
            "origin",
            branch,
        ]))?;
        if !has_branch.trim().is_empty() {
            run_to_completion(
                self.git_command()
                    .current_dir(tree)
                    .args(["reset", "--quiet", "--hard"])
                    .arg(format!("origin/{branch}")),
            )?;
        }
        for (path, content) in files {
            let file = tree.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(Error::io("create", parent))?;
            }
            std::fs::write(&file, content).map_err(Error::io("write", &file))?;
        }
        for path in removed {
            let target = tree.join(path);
            let removal = if target.is_dir() {
                std::fs::remove_dir_all(&target)
            } else {
                std::fs::remove_file(&target)
            };
            removal.map_err(Error::io("remove", &target))?;
        }
        run_to_completion(self.git_command().current_dir(tree).args(["add", "--all"]))?;
        run_to_completion(self.git_command().current_dir(tree).args([
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            message,
        ]))?;
        run_to_completion(
            self.git_command()
                .current_dir(tree)
                .args(["push", "--quiet", "origin"])
                .arg(format!("HEAD:refs/heads/{branch}")),
        )?;
        let commit = run_to_completion(
            self.git_command()
                .current_dir(tree)
                .args(["rev-parse", "HEAD"]),
        )?;
        Ok(commit.trim().to_owned())
    }

    /// The directory holding repositories, configuration and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn repo_file_name(name: &str) -> String {
    if name.ends_with(".git") {
        name.to_owned()
    } else {
        format!("{name}.git")
    }
}

fn generated_password() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let digest = Sha256::digest(format!("{}-{nanos}", std::process::id()));
    hex::encode(&digest[..8])
}

/// An htpasswd file for [`USERNAME`], hashed by `openssl passwd -apr1`.
fn write_htpasswd(root: &Path, password: &str) -> Result<()> {
    let hash = run_to_completion(Command::new("openssl").args(["passwd", "-apr1", password]))?;
    let path = root.join("htpasswd");
    std::fs::write(&path, format!("{USERNAME}:{}\n", hash.trim())).map_err(Error::io("write", path))
}

/// `git-daemon` itself rather than `git daemon`, which would run it as a
/// child that outlives a kill of the `git` wrapper.
fn daemon_command(git_exec_path: &Path, root: &Path, port: u16) -> Command {
    let public = root.join("public");
    let mut command = Command::new(git_exec_path.join("git-daemon"));
    command
        .env("HOME", root.join("home"))
        .args([
            "--reuseaddr",
            "--listen=127.0.0.1",
            "--export-all",
            "--enable=receive-pack",
            "--informative-errors",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", public.display()))
        .arg(&public);
    command
}

/// `git --exec-path`, where git-http-backend lives.
fn git_exec_path() -> Result<PathBuf> {
    let path = run_to_completion(Command::new("git").arg("--exec-path"))?;
    Ok(PathBuf::from(path.trim()))
}

fn lighttpd_config(root: &Path, port: u16, git_exec_path: &Path) -> String {
    let root = root.display();
    let backend = git_exec_path.join("git-http-backend");
    let backend = backend.display();
    format!(
        r#"server.modules = ("mod_auth", "mod_authn_file", "mod_alias", "mod_setenv", "mod_cgi")
server.document-root = "{root}/www"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{root}/lighttpd-error.log"
server.upload-dirs = ("{root}/uploads")
server.stream-request-body = 2
auth.backend = "htpasswd"
auth.backend.htpasswd.userfile = "{root}/htpasswd"
alias.url = ("/git/" => "{backend}/", "/private/" => "{backend}/")
$HTTP["url"] =^ "/git/" {{
    cgi.assign = ("" => "")
    setenv.set-environment = ("GIT_PROJECT_ROOT" => "{root}/public", "GIT_HTTP_EXPORT_ALL" => "", "HOME" => "{root}/home")
}}
$HTTP["url"] =^ "/private/" {{
    cgi.assign = ("" => "")
    setenv.set-environment = ("GIT_PROJECT_ROOT" => "{root}/private", "GIT_HTTP_EXPORT_ALL" => "", "HOME" => "{root}/home")
    auth.require = ("" => ("method" => "basic", "realm" => "driftless-e2e", "require" => "valid-user"))
}}
"#
    )
}
