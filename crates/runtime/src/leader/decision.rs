//! The pure part of leader election: given what a candidate last saw of the Lease and when,
//! may it take the Lease, renew it, or must it wait?
//!
//! Expiry is judged like client-go does: not by the Lease's `renewTime` (written with the
//! holder's clock) but by when *this* candidate last saw the record change, on its own
//! monotonic clock. Clock skew between nodes can then never make a live leader look expired.

use std::time::{Duration, Instant};

/// What identifies one version of a Lease record: a renewal changes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordVersion {
    /// `spec.holderIdentity` (`None` or empty: nobody holds the Lease).
    pub holder: Option<String>,
    /// `spec.renewTime`, as written by the holder (compared, never used as a clock).
    pub renew_time: Option<String>,
    /// `metadata.resourceVersion`.
    pub resource_version: Option<String>,
}

/// Remembers the last record seen and the local instant it was first seen.
#[derive(Debug, Default)]
pub struct Observer {
    last: Option<(RecordVersion, Instant)>,
}

impl Observer {
    /// Records that `record` was read at `now`; returns the instant this exact record was
    /// first seen (an unchanged record keeps its first sighting, a changed one starts at `now`).
    pub fn observe(&mut self, record: RecordVersion, now: Instant) -> Instant {
        match &self.last {
            Some((seen, at)) if *seen == record => *at,
            _ => {
                self.last = Some((record, now));
                now
            }
        }
    }
}

/// What a candidate should do with the Lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nobody holds the Lease, or the holder stopped renewing: take it.
    Take,
    /// This candidate holds the Lease: renew it.
    Renew,
    /// Another candidate holds a live Lease.
    Wait {
        /// The holder's identity.
        holder: String,
        /// When the Lease expires unless the holder renews it (local clock).
        expires_at: Instant,
    },
}

/// Decides for candidate `me`, given the Lease's holder, the instant the current record was
/// first seen, the record's lease duration, and the current instant.
pub fn decide(
    holder: Option<&str>,
    me: &str,
    observed_at: Instant,
    lease_duration: Duration,
    now: Instant,
) -> Decision {
    match holder {
        None | Some("") => Decision::Take,
        Some(holder) if holder == me => Decision::Renew,
        Some(holder) => {
            let expires_at = observed_at + lease_duration;
            if now >= expires_at {
                Decision::Take
            } else {
                Decision::Wait {
                    holder: holder.to_owned(),
                    expires_at,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(15);

    fn version(holder: &str, renew: &str, rv: &str) -> RecordVersion {
        RecordVersion {
            holder: Some(holder.to_owned()),
            renew_time: Some(renew.to_owned()),
            resource_version: Some(rv.to_owned()),
        }
    }

    #[test]
    fn a_free_lease_is_taken() {
        let t0 = Instant::now();
        assert_eq!(decide(None, "me", t0, LEASE, t0), Decision::Take);
        assert_eq!(decide(Some(""), "me", t0, LEASE, t0), Decision::Take);
    }

    #[test]
    fn my_own_lease_is_renewed_even_when_it_looks_expired() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(60);
        assert_eq!(decide(Some("me"), "me", t0, LEASE, later), Decision::Renew);
    }

    #[test]
    fn another_holders_lease_is_respected_until_it_expires() {
        let t0 = Instant::now();
        let just_before = t0 + LEASE - Duration::from_millis(1);
        assert_eq!(
            decide(Some("other"), "me", t0, LEASE, just_before),
            Decision::Wait {
                holder: "other".to_owned(),
                expires_at: t0 + LEASE
            }
        );
        assert_eq!(
            decide(Some("other"), "me", t0, LEASE, t0 + LEASE),
            Decision::Take
        );
    }

    #[test]
    fn an_unchanged_record_keeps_its_first_sighting() {
        let t0 = Instant::now();
        let mut observer = Observer::default();
        assert_eq!(observer.observe(version("other", "r1", "1"), t0), t0);
        let t1 = t0 + Duration::from_secs(5);
        assert_eq!(observer.observe(version("other", "r1", "1"), t1), t0);
        // After the full lease duration without a change the holder is expired.
        let t2 = t0 + LEASE;
        let seen = observer.observe(version("other", "r1", "1"), t2);
        assert_eq!(decide(Some("other"), "me", seen, LEASE, t2), Decision::Take);
    }

    #[test]
    fn a_renewal_restarts_the_expiry_clock() {
        let t0 = Instant::now();
        let mut observer = Observer::default();
        observer.observe(version("other", "r1", "1"), t0);
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(observer.observe(version("other", "r2", "2"), t1), t1);
        let t2 = t0 + LEASE;
        let seen = observer.observe(version("other", "r2", "2"), t2);
        assert!(
            matches!(
                decide(Some("other"), "me", seen, LEASE, t2),
                Decision::Wait { .. }
            ),
            "renewed at t0+10s, so still held at t0+15s"
        );
    }

    #[test]
    fn a_first_sighting_of_a_stale_record_still_waits_a_full_lease() {
        // A fresh candidate cannot trust the holder's renewTime (other clock): it waits.
        let t0 = Instant::now();
        let mut observer = Observer::default();
        let seen = observer.observe(version("other", "1970-01-01T00:00:00Z", "9"), t0);
        assert!(matches!(
            decide(
                Some("other"),
                "me",
                seen,
                LEASE,
                t0 + Duration::from_secs(1)
            ),
            Decision::Wait { .. }
        ));
    }
}
