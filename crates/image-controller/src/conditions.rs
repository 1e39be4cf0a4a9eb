//! The Ready/Reconciling/Stalled conditions every image kind reports.

use driftless_api::condition::{self, Status, reason};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;

use crate::Error;

/// Ready=True with `message`; Reconciling and Stalled removed.
pub fn record_ready(
    conditions: &mut Vec<Condition>,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    condition::set_condition(
        conditions,
        condition::READY,
        Status::True,
        reason::SUCCEEDED,
        message,
        generation,
        now,
    );
    condition::remove_condition(conditions, condition::RECONCILING);
    condition::remove_condition(conditions, condition::STALLED);
}

/// Ready=False with the error; Stalled=True when only a spec change can fix it.
pub fn record_failure(
    conditions: &mut Vec<Condition>,
    err: &Error,
    generation: Option<i64>,
    now: Timestamp,
) {
    let message = err.to_string();
    condition::set_condition(
        conditions,
        condition::READY,
        Status::False,
        err.reason(),
        &message,
        generation,
        now,
    );
    condition::remove_condition(conditions, condition::RECONCILING);
    if err.is_stalling() {
        condition::set_condition(
            conditions,
            condition::STALLED,
            Status::True,
            err.reason(),
            &message,
            generation,
            now,
        );
    } else {
        condition::remove_condition(conditions, condition::STALLED);
    }
}

/// Whether Ready is True.
pub fn ready(conditions: &[Condition]) -> Option<bool> {
    condition::find(conditions, condition::READY).map(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalled_only_for_spec_errors() {
        let now = Timestamp::from_second(1).unwrap();
        let mut c = Vec::new();
        let bad_range = Error::InvalidRange {
            field: "spec.policy.semver.range".into(),
            range: "x".into(),
            reason: "no".into(),
        };
        record_failure(&mut c, &bad_range, Some(2), now);
        assert_eq!(ready(&c), Some(false));
        assert_eq!(
            condition::find(&c, condition::STALLED).map(|s| s.reason.as_str()),
            Some("InvalidSpec")
        );
        let unreachable = Error::Registry {
            url: "https://r/v2".into(),
            reason: "connection refused".into(),
        };
        record_failure(&mut c, &unreachable, Some(2), now);
        assert!(condition::find(&c, condition::STALLED).is_none());
        assert_eq!(
            condition::find(&c, condition::READY).unwrap().reason,
            "ReadOperationFailed"
        );
        record_ready(&mut c, "ok", Some(2), now);
        assert_eq!(ready(&c), Some(true));
    }
}
