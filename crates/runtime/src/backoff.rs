//! Per-object exponential backoff with jitter, shared by every controller.
//!
//! After an API-server outage every object fails at once; a fixed retry delay would make
//! them all retry in lockstep, forever. Here each object has its own count of consecutive
//! failures: the n-th failure in a row waits `base × factor^(n-1)`, capped, then spread by a
//! random ±jitter, and a success resets the count. Entries of objects that stopped failing
//! long ago (or were deleted without a final reconcile) are swept, so the map stays bounded
//! by the number of objects that failed recently.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The delays of consecutive failures: `base × factor^(n-1)`, at most `cap`, ±`jitter`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Delay after the first failure.
    pub base: Duration,
    /// Growth per further failure.
    pub factor: u32,
    /// Longest delay (before jitter).
    pub cap: Duration,
    /// Relative spread, e.g. 0.2 for ±20 %.
    pub jitter: f64,
}

impl Schedule {
    /// What every controller uses: 5 s, doubling, capped at 5 min, ±20 %.
    pub const DEFAULT: Schedule = Schedule {
        base: Duration::from_secs(5),
        factor: 2,
        cap: Duration::from_secs(300),
        jitter: 0.2,
    };

    /// The delay before jitter after `failures` consecutive failures (1 = the first).
    pub fn nominal(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1);
        let mut delay = self.base;
        for _ in 0..exponent {
            delay = delay.saturating_mul(self.factor);
            if delay >= self.cap {
                return self.cap;
            }
        }
        delay.min(self.cap)
    }

    /// `nominal` spread by jitter: `unit` in [0, 1) picks a point in [-jitter, +jitter).
    pub fn jittered(&self, nominal: Duration, unit: f64) -> Duration {
        let unit = unit.clamp(0.0, 1.0);
        let scale = 1.0 + self.jitter * (2.0 * unit - 1.0);
        nominal.mul_f64(scale.max(0.0))
    }
}

/// A uniformly distributed number in [0, 1) (the leader elector's jitter source: the
/// standard library's randomly keyed hasher; not for cryptography).
pub fn random_unit() -> f64 {
    crate::leader::identity::random_fraction()
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    last: Instant,
}

/// Consecutive failures per object key (an object's uid, or `kind/namespace/name`).
#[derive(Debug)]
pub struct Backoffs {
    schedule: Schedule,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Backoffs {
    /// An empty table using `schedule`.
    pub fn new(schedule: Schedule) -> Self {
        Backoffs {
            schedule,
            entries: Mutex::default(),
        }
    }

    /// The schedule in use.
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// Records one more failure of `key` at `now`; the nominal delay before retrying (no
    /// jitter) and the count of consecutive failures so far.
    pub fn fail_at(&self, key: &str, now: Instant) -> (Duration, u32) {
        let mut entries = self.lock();
        self.sweep(&mut entries, now);
        let entry = entries.entry(key.to_owned()).or_insert(Entry {
            failures: 0,
            last: now,
        });
        entry.failures = entry.failures.saturating_add(1);
        entry.last = now;
        (self.schedule.nominal(entry.failures), entry.failures)
    }

    /// Records a failure of `key` now; the jittered delay before retrying.
    pub fn fail(&self, key: &str) -> Duration {
        let (nominal, _) = self.fail_at(key, Instant::now());
        self.schedule.jittered(nominal, random_unit())
    }

    /// Forgets `key`: it succeeded, or the object is gone.
    pub fn reset(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Consecutive failures of `key` recorded so far.
    pub fn failures(&self, key: &str) -> u32 {
        self.lock().get(key).map_or(0, |e| e.failures)
    }

    /// How many objects have a failure on record.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no object has a failure on record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops entries idle for more than twice the cap: their object has not failed (nor been
    /// retried) since, so it succeeded elsewhere, was deleted, or is no longer watched.
    fn sweep(&self, entries: &mut HashMap<String, Entry>, now: Instant) {
        let idle = self.schedule.cap.saturating_mul(2);
        entries.retain(|_, e| now.saturating_duration_since(e.last) <= idle);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_doubles_from_five_seconds_and_caps_at_five_minutes() {
        let s = Schedule::DEFAULT;
        let secs: Vec<u64> = (1..=9).map(|n| s.nominal(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(s.nominal(0), Duration::from_secs(5));
        assert_eq!(s.nominal(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let s = Schedule::DEFAULT;
        let nominal = Duration::from_secs(100);
        assert_eq!(s.jittered(nominal, 0.0), Duration::from_secs(80));
        assert_eq!(s.jittered(nominal, 0.5), Duration::from_secs(100));
        assert!(s.jittered(nominal, 0.999_999) <= Duration::from_secs(120));
        for _ in 0..1000 {
            let unit = random_unit();
            assert!((0.0..1.0).contains(&unit), "{unit}");
            let d = s.jittered(nominal, unit);
            assert!(
                (Duration::from_secs(80)..=Duration::from_secs(120)).contains(&d),
                "{d:?}"
            );
        }
    }

    #[test]
    fn random_units_spread_out() {
        // Lockstep is what jitter prevents: 200 draws are not all in one tenth of [0, 1).
        let draws: Vec<f64> = (0..200).map(|_| random_unit()).collect();
        let buckets: std::collections::BTreeSet<u32> =
            draws.iter().map(|u| (u * 10.0) as u32).collect();
        assert!(buckets.len() >= 5, "{draws:?}");
    }

    #[test]
    fn failures_grow_per_object_and_reset_on_success() {
        let b = Backoffs::new(Schedule::DEFAULT);
        let t = Instant::now();
        assert_eq!(b.fail_at("a", t), (Duration::from_secs(5), 1));
        assert_eq!(b.fail_at("a", t), (Duration::from_secs(10), 2));
        assert_eq!(b.fail_at("a", t), (Duration::from_secs(20), 3));
        // Another object starts from the base.
        assert_eq!(b.fail_at("b", t), (Duration::from_secs(5), 1));
        b.reset("a");
        assert_eq!(b.failures("a"), 0);
        assert_eq!(b.fail_at("a", t), (Duration::from_secs(5), 1));
        let d = b.fail("b");
        assert!(
            (Duration::from_secs(8)..=Duration::from_secs(12)).contains(&d),
            "{d:?}"
        );
    }

    #[test]
    fn idle_entries_are_swept() {
        let b = Backoffs::new(Schedule::DEFAULT);
        let t = Instant::now();
        for i in 0..100 {
            b.fail_at(&format!("gone-{i}"), t);
        }
        assert_eq!(b.len(), 100);
        // Eleven minutes later (cap 5 min, idle limit 10 min) one new failure sweeps them.
        b.fail_at("fresh", t + Duration::from_secs(660));
        assert_eq!(b.len(), 1);
        assert_eq!(b.failures("fresh"), 1);
    }
}
