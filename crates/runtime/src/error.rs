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
    /// A URL in a spec is refused by the URL policy; nothing was connected to.
    #[error("{field} '{url}' is not allowed: {rule}")]
    UrlNotAllowed {
        /// The field holding the URL, e.g. `spec.url`.
        field: String,
        /// The URL, credentials redacted.
        url: String,
        /// The rule that refuses it.
        rule: String,
        /// Refused for an address the host resolved to (DNS may change), not for the URL
        /// as written.
        resolved: bool,
    },
    /// A value of `--allowed-hosts` or `--denied-cidrs` is malformed.
    #[error("{flag} '{value}': {reason}")]
    UrlPolicyFlag {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A host could not be resolved while checking it against `--denied-cidrs`.
    #[error("{field}: resolving host '{host}': {source}")]
    Resolve {
        /// The field holding the URL.
        field: String,
        /// The host.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
}
