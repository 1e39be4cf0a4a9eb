use thiserror::Error;

/// Errors raised by the pure helpers of this crate.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ApiError {
    /// A duration string did not match Go's duration syntax (`1m30s`, `500ms`, `2h`).
    #[error("invalid duration {value:?}: {reason}")]
    InvalidDuration {
        /// The string that failed to parse.
        value: String,
        /// Why it failed.
        reason: &'static str,
    },
}
