//! An OpenSSH server on loopback serving a [`GitServer`]'s repositories over `ssh://`.
//!
//! Debian's `sshd` runs as the user running the tests (no system account is created or
//! changed), on a free 127.0.0.1 port, with a host key generated for this server only,
//! public-key authentication only (no passwords, no keyboard-interactive, no PAM), and
//! `ForceCommand git-shell`: a client may run `git-upload-pack`/`git-receive-pack` on a
//! repository path and nothing else (no shell, no forwarding, no TTY). Keys are accepted
//! from an `authorized_keys` file of its own, which tests append to with
//! [`SshServer::authorize`]; sshd reads it at every login, so a key works from the moment
//! it is added.
//!
//! URLs carry the repository's real path: `ssh://<user>@127.0.0.1:<port>/<dir>/public/<name>.git`.
//! [`SshServer::start_on`] listens on another address of this machine instead (the node's
//! bridge address, where pods reach it).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::error::{Error, Result};
use crate::git_server::GitServer;
use crate::node::assert_local_route;
use crate::process::{ManagedProcess, free_port_on, run_to_completion};

/// Where Debian installs sshd (sshd refuses to start from a relative path).
const SSHD: &str = "/usr/sbin/sshd";
/// Where Debian installs git-shell.
const GIT_SHELL: &str = "/usr/bin/git-shell";
/// The privilege-separation directory sshd needs when started as root (Debian's unit
/// makes it with `RuntimeDirectory=sshd`; nothing started it here).
const PRIVSEP_DIR: &str = "/run/sshd";

/// A running sshd; the process stops and its directory is removed on drop.
#[derive(Debug)]
pub struct SshServer {
    // Fields drop in order: the process stops before its directory goes.
    process: Option<ManagedProcess>,
    address: Ipv4Addr,
    port: u16,
    user: String,
    dir: TempDir,
}

impl SshServer {
    /// Starts sshd for the repositories of `git` on a free loopback port and waits until it
    /// accepts connections.
    pub fn start(git: &GitServer) -> Result<Self> {
        Self::start_on(git, Ipv4Addr::LOCALHOST)
    }

    /// Starts sshd for the repositories of `git` on a free port of `address`, an address of
    /// this machine (checked: its route must be loopback or the node's bridge), say the
    /// node's InternalIP, where pods reach it; URLs and `known_hosts` then name `address`.
    pub fn start_on(git: &GitServer, address: Ipv4Addr) -> Result<Self> {
        assert_local_route(IpAddr::V4(address))?;
        let dir = tempfile::Builder::new()
            .prefix("driftless-sshd-")
            .tempdir_in(git.dir())
            .map_err(Error::io("create a temporary directory in", git.dir()))?;
        let user = run_to_completion(Command::new("id").arg("-un"))?
            .trim()
            .to_owned();
        let authorized = dir.path().join("authorized_keys");
        write_private(&authorized, b"")?;
        if is_root()? {
            std::fs::create_dir_all(PRIVSEP_DIR).map_err(Error::io("create", PRIVSEP_DIR))?;
        }
        let mut server = Self {
            process: None,
            address,
            port: free_port_on(address)?,
            user,
            dir,
        };
        server.generate_host_key()?;
        server.spawn()?;
        Ok(server)
    }

    /// `ssh://<user>@<address>:<port><path>` for the bare repository at `repository` (as
    /// returned by [`GitServer::create_repo`]).
    pub fn url(&self, repository: &Path) -> String {
        format!(
            "ssh://{}@{}:{}{}",
            self.user,
            self.address,
            self.port,
            repository.display()
        )
    }

    /// The port sshd listens on (at [`SshServer::address`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address sshd listens on (127.0.0.1 unless started with [`SshServer::start_on`]).
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The user that logs in (the one running the tests and sshd).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Lets the holder of `public_key` (one `authorized_keys` line, e.g. `ssh-ed25519 AAAA…
    /// comment`) log in: appended to the server's `authorized_keys`.
    pub fn authorize(&self, public_key: &str) -> Result<()> {
        let line = public_key.trim();
        if line.is_empty() || line.contains('\n') {
            return Err(Error::Document {
                document: "public key".into(),
                detail: format!("expected one authorized_keys line, got {line:?}"),
            });
        }
        let path = self.dir.path().join("authorized_keys");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(Error::io("open", &path))?;
        writeln!(file, "{line}").map_err(Error::io("write", &path))
    }

    /// The server's current host key as one `known_hosts` line:
    /// `[<address>]:<port> ssh-ed25519 AAAA…`.
    pub fn known_hosts(&self) -> Result<String> {
        let path = self.host_key_path().with_extension("pub");
        let public = std::fs::read_to_string(&path).map_err(Error::io("read", &path))?;
        let mut fields = public.split_whitespace();
        let (Some(kind), Some(key)) = (fields.next(), fields.next()) else {
            return Err(Error::Document {
                document: path.display().to_string(),
                detail: "not an OpenSSH public key".into(),
            });
        };
        Ok(format!("[{}]:{} {kind} {key}\n", self.address, self.port))
    }

    /// Stops sshd, generates a new host key and starts it again on the same port: what a
    /// client with the old `known_hosts` sees as a changed host (or a man in the middle).
    pub fn replace_host_key(&mut self) -> Result<()> {
        self.process = None;
        self.generate_host_key()?;
        self.spawn()
    }

    /// The directory holding the configuration, host key and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn host_key_path(&self) -> PathBuf {
        self.dir.path().join("ssh_host_ed25519_key")
    }

    fn generate_host_key(&self) -> Result<()> {
        let key = self.host_key_path();
        for stale in [key.clone(), key.with_extension("pub")] {
            if stale.exists() {
                std::fs::remove_file(&stale).map_err(Error::io("remove", &stale))?;
            }
        }
        generate_key(&key, "driftless-e2e-host").map(drop)
    }

    fn spawn(&mut self) -> Result<()> {
        let config_path = self.dir.path().join("sshd_config");
        let config = sshd_config(self.dir.path(), self.address, self.port, &self.user);
        std::fs::write(&config_path, config).map_err(Error::io("write", &config_path))?;
        let mut command = Command::new(SSHD);
        command.arg("-D").arg("-e").arg("-f").arg(&config_path);
        let mut process =
            ManagedProcess::spawn("sshd", command, &self.dir.path().join("sshd.log"))?;
        process.wait_for_address(SocketAddr::from((self.address, self.port)))?;
        self.process = Some(process);
        Ok(())
    }
}

/// Generates an unencrypted ed25519 key pair at `path` and `path.pub` with `ssh-keygen`;
/// returns the public key line.
pub fn generate_key(path: &Path, comment: &str) -> Result<String> {
    run_to_completion(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(path),
    )?;
    let public = path.with_extension("pub");
    std::fs::read_to_string(&public).map_err(Error::io("read", public))
}

fn is_root() -> Result<bool> {
    Ok(run_to_completion(Command::new("id").arg("-u"))?.trim() == "0")
}

fn write_private(path: &Path, content: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io("create", path))?;
    file.write_all(content).map_err(Error::io("write", path))
}

/// Key-only, git-shell only. `StrictModes no`: the directory lives under the world-writable
/// temporary directory, which strict modes refuse for `authorized_keys`.
fn sshd_config(dir: &Path, address: Ipv4Addr, port: u16, user: &str) -> String {
    let dir = dir.display();
    format!(
        r#"ListenAddress {address}:{port}
HostKey {dir}/ssh_host_ed25519_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
AllowUsers {user}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
UsePAM no
StrictModes no
DisableForwarding yes
PermitTTY no
PermitUserEnvironment no
LogLevel VERBOSE
ForceCommand {GIT_SHELL} -c "$SSH_ORIGINAL_COMMAND"
"#
    )
}
