//! Condition types and reasons (Flux's names), and a pure helper to set a condition.
//!
//! Conditions use the standard `metav1.Condition` shape, stored as a list-map keyed on `type`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// `Ready`: the object's last reconcile fully succeeded.
pub const READY: &str = "Ready";
/// `Reconciling`: work is in progress.
pub const RECONCILING: &str = "Reconciling";
/// `Stalled`: the object cannot make progress until its spec changes.
pub const STALLED: &str = "Stalled";
/// `Healthy`: the applied objects passed their health checks.
pub const HEALTHY: &str = "Healthy";
/// `FetchFailed`: the last fetch of a source failed.
pub const FETCH_FAILED: &str = "FetchFailed";
/// `ArtifactInStorage`: an artifact for the object is in the source cache.
pub const ARTIFACT_IN_STORAGE: &str = "ArtifactInStorage";
/// Condition type: the signatures `spec.verify` asks for were verified.
pub const SOURCE_VERIFIED: &str = "SourceVerified";
/// Flux's abnormal-true condition type on a GitRepository one of whose `spec.include`
/// repositories does not exist or has no artifact.
pub const INCLUDE_UNAVAILABLE: &str = "IncludeUnavailable";

/// Condition reasons, as Flux names them.
pub mod reason {
    /// The reconcile succeeded.
    pub const SUCCEEDED: &str = "Succeeded";
    /// Work is in progress.
    pub const PROGRESSING: &str = "Progressing";
    /// The object is suspended.
    pub const SUSPENDED: &str = "Suspended";
    /// A source or `dependsOn` dependency is not ready.
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    /// A referenced object is not allowed (e.g. cross-namespace reference when locked down).
    pub const ACCESS_DENIED: &str = "AccessDenied";
    /// Credentials were refused.
    pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
    /// A git operation failed.
    pub const GIT_OPERATION_FAILED: &str = "GitOperationFailed";
    /// The URL is invalid.
    pub const URL_INVALID: &str = "URLInvalid";
    /// The artifact is stored and up to date.
    pub const ARTIFACT_UP_TO_DATE: &str = "ArtifactUpToDate";
    /// Building the manifests failed.
    pub const BUILD_FAILED: &str = "BuildFailed";
    /// The path given in the spec is invalid or missing.
    pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
    /// Server-side dry-run or apply failed.
    pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
    /// Pruning failed.
    pub const PRUNE_FAILED: &str = "PruneFailed";
    /// Health checks failed or timed out.
    pub const HEALTH_CHECK_FAILED: &str = "HealthCheckFailed";
    /// A registry operation failed.
    pub const REGISTRY_OPERATION_FAILED: &str = "ReadOperationFailed";
    /// The spec is invalid (bad regex, bad range).
    pub const INVALID_SPEC: &str = "InvalidSpec";
}

/// Condition status `True`/`False`/`Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known yet.
    Unknown,
}

impl Status {
    /// The string Kubernetes uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }
}

/// Sets (or replaces) the condition of type `type_` in `conditions`.
///
/// `lastTransitionTime` only moves when the status changes, as the API conventions ask.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: Status,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: Timestamp,
) {
    let message = truncate(message, 32 * 1024);
    if let Some(existing) = conditions.iter_mut().find(|c| c.type_ == type_) {
        if existing.status != status.as_str() {
            existing.last_transition_time = Time(now);
        }
        existing.status = status.as_str().to_owned();
        existing.reason = reason.to_owned();
        existing.message = message;
        existing.observed_generation = observed_generation;
        return;
    }
    conditions.push(Condition {
        type_: type_.to_owned(),
        status: status.as_str().to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation,
        last_transition_time: Time(now),
    });
}

/// Removes the condition of type `type_`, if present.
pub fn remove_condition(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

/// Finds the condition of type `type_`.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the `Ready` condition is `True`.
pub fn is_ready(conditions: &[Condition]) -> bool {
    find(conditions, READY).is_some_and(|c| c.status == "True")
}

/// Truncates `s` to at most `max` bytes on a char boundary, marking the cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut conds = Vec::new();
        set_condition(&mut conds, READY, Status::False, "A", "m1", Some(1), t(10));
        set_condition(&mut conds, READY, Status::False, "B", "m2", Some(2), t(20));
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].last_transition_time, Time(t(10)));
        assert_eq!(conds[0].reason, "B");
        assert_eq!(conds[0].observed_generation, Some(2));
        set_condition(&mut conds, READY, Status::True, "C", "m3", Some(2), t(30));
        assert_eq!(conds[0].last_transition_time, Time(t(30)));
        assert!(is_ready(&conds));
        remove_condition(&mut conds, READY);
        assert!(conds.is_empty());
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        let s = "ééééé";
        let cut = truncate(s, 6);
        assert!(cut.len() <= 6, "{cut}");
        assert!(cut.ends_with("..."));
        assert_eq!(truncate("short", 10), "short");
    }
}
