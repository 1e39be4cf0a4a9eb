//! Child processes owned by a test: started with a log file, awaited on a
//! port with a deadline, killed on drop (also when the test panics).

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::poll::POLL_INTERVAL;

/// How long a freshly started server gets to accept connections.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running child process, killed and reaped when dropped.
#[derive(Debug)]
pub(crate) struct ManagedProcess {
    name: String,
    child: Child,
    log_path: PathBuf,
}

impl ManagedProcess {
    /// Starts `command` with stdout and stderr appended to `log_path`.
    pub(crate) fn spawn(name: &str, mut command: Command, log_path: &Path) -> Result<Self> {
        let log = File::create(log_path).map_err(Error::io("create", log_path))?;
        let log_err = log.try_clone().map_err(Error::io("open", log_path))?;
        command.stdin(Stdio::null()).stdout(log).stderr(log_err);
        let child = command.spawn().map_err(|source| Error::Spawn {
            program: format!("{name} ({})", command.get_program().to_string_lossy()),
            source,
        })?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log_path: log_path.to_path_buf(),
        })
    }

    /// Polls until 127.0.0.1:`port` accepts a connection; fails with the log
    /// tail when the process exits first, or when [`START_TIMEOUT`] passes.
    pub(crate) fn wait_for_port(&mut self, port: u16) -> Result<()> {
        self.wait_for_address(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    /// Polls until `address` accepts a connection, as [`ManagedProcess::wait_for_port`].
    pub(crate) fn wait_for_address(&mut self, address: SocketAddr) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok() {
                return Ok(());
            }
            let exited = self
                .child
                .try_wait()
                .map_err(Error::io("wait for", &self.log_path))?;
            if exited.is_some() {
                return Err(Error::ProcessExited {
                    process: self.name.clone(),
                    log_path: self.log_path.clone(),
                    log: log_tail(&self.log_path),
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("{} listening on {address}", self.name),
                    timeout: START_TIMEOUT,
                    last: log_tail(&self.log_path),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl ManagedProcess {
    /// The OS process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls until the process exits, at most `timeout`; its exit code (`None` when killed
    /// by a signal).
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Result<Option<i32>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(Error::io("wait for", &self.log_path))?
            {
                return Ok(status.code());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("{} to exit", self.name),
                    timeout,
                    last: log_tail(&self.log_path),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        // Already exited is fine; there is nobody to report a failure to here.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago (bound to 0, then released).
pub(crate) fn free_port() -> Result<u16> {
    free_port_on(Ipv4Addr::LOCALHOST)
}

/// A port on `address` that was free a moment ago (bound to 0, then released).
pub(crate) fn free_port_on(address: Ipv4Addr) -> Result<u16> {
    let listener = TcpListener::bind((address, 0))
        .map_err(Error::io("bind a free port on", address.to_string()))?;
    let port = listener
        .local_addr()
        .map_err(Error::io("read the address of", address.to_string()))?
        .port();
    Ok(port)
}

/// `n` distinct ports on 127.0.0.1 that were free a moment ago: all are held until every one
/// is chosen, so the kernel cannot hand the same port out twice.
pub(crate) fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let mut listeners = Vec::with_capacity(N);
    let mut ports = [0u16; N];
    for port in &mut ports {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(Error::io("bind a free port on", "127.0.0.1:0"))?;
        *port = listener
            .local_addr()
            .map_err(Error::io("read the address of", "127.0.0.1:0"))?
            .port();
        listeners.push(listener);
    }
    Ok(ports)
}

/// The last lines of a log file, for error messages.
pub(crate) fn log_tail(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(20)..].join("\n")
        }
        Err(error) => format!("(cannot read {}: {error})", path.display()),
    }
}

/// Runs `command` to completion; its stdout on success, an error with the
/// command line and everything it printed otherwise.
pub(crate) fn run_to_completion(command: &mut Command) -> Result<String> {
    let line = describe(command);
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            program: line.clone(),
            source,
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(Error::Command {
            command: line,
            status: output.status.to_string(),
            output: format!("{}{stdout}", String::from_utf8_lossy(&output.stderr)),
        })
    }
}

/// `program arg arg...` for messages.
fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
