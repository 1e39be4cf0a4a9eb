use thiserror::Error;

/// Errors of the shared runtime.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// A metric could not be registered (a duplicate name is a programming error).
    #[error("registering metric: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The HTTP server could not bind its address.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The HTTP server failed while serving.
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
    /// Reading or writing the leader-election Lease failed.
    #[error("leader election: {action} lease {lease}: {source}")]
    Lease {
        /// `namespace/name` of the Lease.
        lease: String,
        /// What was being done (get, create, update, release).
        action: &'static str,
        /// The API error.
        source: Box<kube::Error>,
    },
    /// Leader-election timings that cannot work together.
    #[error("invalid lease timings {timings}: {reason}")]
    LeaseTimings {
        /// The timings given.
        timings: String,
        /// What is wrong with them.
        reason: String,
    },
}
