//! The rate limit: identical events (same provider, object, reason and message) within a
//! window are folded into the first one. Pure.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What makes two notifications identical.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FoldKey {
    /// `<namespace>/<name>` of the provider.
    pub provider: String,
    /// `<Kind>/<namespace>/<name>` of the object.
    pub object: String,
    /// Event reason.
    pub reason: String,
    /// Event message.
    pub message: String,
}

/// Remembers when each notification was last let through.
#[derive(Debug)]
pub struct Folder {
    window: Duration,
    seen: HashMap<FoldKey, Instant>,
}

impl Folder {
    /// A folder with the given window (Flux uses 5 minutes).
    pub fn new(window: Duration) -> Self {
        Folder {
            window,
            seen: HashMap::new(),
        }
    }

    /// Whether a notification with `key` at `now` goes out (true) or is folded (false).
    pub fn admit(&mut self, key: FoldKey, now: Instant) -> bool {
        let window = self.window;
        self.seen
            .retain(|_, at| now.saturating_duration_since(*at) < window);
        if self.seen.contains_key(&key) {
            return false;
        }
        self.seen.insert(key, now);
        true
    }

    /// How many notifications are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(provider: &str, message: &str) -> FoldKey {
        FoldKey {
            provider: provider.into(),
            object: "Kustomization/apps/web".into(),
            reason: "ReconciliationFailed".into(),
            message: message.into(),
        }
    }

    #[test]
    fn identical_events_fold_within_the_window_only() {
        let mut f = Folder::new(Duration::from_secs(300));
        let t0 = Instant::now();
        assert!(f.admit(key("p", "boom"), t0));
        assert!(!f.admit(key("p", "boom"), t0 + Duration::from_secs(299)));
        assert!(f.admit(key("p", "other message"), t0 + Duration::from_secs(1)));
        assert!(
            f.admit(key("q", "boom"), t0 + Duration::from_secs(1)),
            "per provider"
        );
        assert!(
            f.admit(key("p", "boom"), t0 + Duration::from_secs(300)),
            "window passed"
        );
        assert!(f.admit(key("z", "x"), t0 + Duration::from_secs(1000)));
        assert_eq!(f.len(), 1, "expired entries are forgotten");
    }
}
