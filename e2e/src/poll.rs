//! Waiting with a deadline: poll a condition, never sleep as synchronization.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Pause between two polls.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Calls `check` until it returns `Ok(Some(value))`, at most for `timeout`.
///
/// `Ok(None)` means "not yet", an `Err` is remembered as the last observation
/// and polling goes on; on the deadline the error names `what` and the last
/// observation.
pub async fn poll_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => String::from("condition not met"),
            Err(error) => error.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: what.to_owned(),
                timeout,
                last,
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
