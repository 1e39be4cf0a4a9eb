//! Readiness: `/readyz` answers 200 once every controller's caches have synced.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the components that still have to become ready; ready when none is left.
#[derive(Clone, Debug)]
pub struct Readiness {
    pending: Arc<AtomicUsize>,
}

impl Readiness {
    /// A readiness gate waiting for `components` calls of [`Readiness::mark_ready`].
    pub fn new(components: usize) -> Self {
        Readiness {
            pending: Arc::new(AtomicUsize::new(components)),
        }
    }

    /// Registers one more component to wait for.
    pub fn add_component(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
    }

    /// Marks one component ready (e.g. its watch caches synced).
    pub fn mark_ready(&self) {
        let _ = self
            .pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// Whether every component is ready.
    pub fn is_ready(&self) -> bool {
        self.pending.load(Ordering::SeqCst) == 0
    }
}

/// Resolves once `store` has received its initial list.
///
/// `Store::wait_until_ready` wakes only the last task that polled it (a oneshot receiver
/// behind a mutex), and the kube `Controller` polls it too; so this re-polls on a short
/// period instead of relying on being woken.
pub async fn store_synced<K>(store: &kube::runtime::reflector::Store<K>)
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        let poll = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            store.wait_until_ready(),
        );
        if let Ok(result) = poll.await {
            if result.is_err() {
                tracing::warn!("a watch cache was dropped before it synced");
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_every_component_reported() {
        let r = Readiness::new(2);
        assert!(!r.is_ready());
        r.mark_ready();
        assert!(!r.is_ready());
        r.clone().mark_ready();
        assert!(r.is_ready());
        r.mark_ready();
        assert!(r.is_ready(), "extra calls do not underflow");
        r.add_component();
        assert!(!r.is_ready());
    }
}
