//! The identity a replica writes into the Lease: its host (pod) name plus a random suffix, so
//! that a restarted process never mistakes the previous process's Lease for its own.

use std::hash::{BuildHasher, Hasher};

/// `<hostname>_<16 hex digits>`; the host name comes from `POD_NAME`, `HOSTNAME`, or the
/// kernel, in that order.
pub fn default_identity() -> String {
    format!("{}_{:016x}", hostname(), random_u64())
}

fn hostname() -> String {
    ["POD_NAME", "HOSTNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .chain(std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| String::from("driftless"))
}

/// 64 random bits from the standard library's per-process randomly seeded hasher.
fn random_u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
}

/// A random fraction in `[0, 1)` (for retry jitter).
pub(crate) fn random_fraction() -> f64 {
    // 53 bits fit exactly in an f64 mantissa.
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_differ_between_calls_and_name_the_host() {
        let a = default_identity();
        let b = default_identity();
        assert_ne!(a, b);
        let host = hostname();
        assert!(
            a.starts_with(&format!("{host}_")),
            "{a} starts with {host}_"
        );
        assert_eq!(a.len(), host.len() + 17);
    }

    #[test]
    fn fractions_stay_in_range() {
        for _ in 0..1000 {
            let f = random_fraction();
            assert!((0.0..1.0).contains(&f), "{f}");
        }
    }
}
