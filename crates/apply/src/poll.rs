//! Polling with a deadline: the engine's only way of waiting.

use std::future::Future;
use std::time::{Duration, Instant};

/// Pause between two polls.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Calls `check` until it returns `Some`, at most until `deadline`; `None` when the deadline
/// passed first. `check` runs at least once.
pub(crate) async fn poll_until<T, F, Fut>(deadline: Instant, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
    }
}
