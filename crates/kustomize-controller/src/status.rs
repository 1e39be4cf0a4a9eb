//! Pure status transitions of a Kustomization.

use driftless_api::condition::{self, Status, reason};
use driftless_api::kustomize::{KustomizationStatus, ResourceInventory, ResourceRef};
use k8s_openapi::jiff::Timestamp;

use crate::Error;

/// The apply succeeded and the objects are healthy.
pub fn record_applied(
    status: &mut KustomizationStatus,
    revision: &str,
    checked_health: bool,
    generation: Option<i64>,
    now: Timestamp,
) {
    let message = format!("Applied revision: {revision}");
    let c = &mut status.conditions;
    condition::set_condition(
        c,
        condition::READY,
        Status::True,
        reason::SUCCEEDED,
        &message,
        generation,
        now,
    );
    if checked_health {
        condition::set_condition(
            c,
            condition::HEALTHY,
            Status::True,
            reason::SUCCEEDED,
            "Health check passed",
            generation,
            now,
        );
    } else {
        condition::remove_condition(c, condition::HEALTHY);
    }
    condition::remove_condition(c, condition::RECONCILING);
    condition::remove_condition(c, condition::STALLED);
    status.last_applied_revision = Some(revision.to_owned());
    status.last_attempted_revision = Some(revision.to_owned());
    status.observed_generation = generation;
}

/// Replaces the inventory (after a successful apply and prune).
pub fn record_inventory(status: &mut KustomizationStatus, entries: Vec<ResourceRef>) {
    status.inventory = Some(ResourceInventory { entries });
}

/// Applied and pruned, health checks pending: the new inventory and the attempted revision
/// are recorded now (and written before the wait), so a crash or restart during a long wait
/// still knows what was applied and prunes it later. lastAppliedRevision stays until the
/// objects are healthy; Ready is Unknown meanwhile, as Flux reports it.
pub fn record_progressing(
    status: &mut KustomizationStatus,
    revision: &str,
    entries: Vec<ResourceRef>,
    generation: Option<i64>,
    now: Timestamp,
) {
    record_inventory(status, entries);
    status.last_attempted_revision = Some(revision.to_owned());
    let message = format!("Applied revision {revision}; health checks in progress");
    let c = &mut status.conditions;
    for type_ in [condition::READY, condition::RECONCILING] {
        let state = if type_ == condition::READY {
            Status::Unknown
        } else {
            Status::True
        };
        condition::set_condition(
            c,
            type_,
            state,
            reason::PROGRESSING,
            &message,
            generation,
            now,
        );
    }
}

/// The reconcile failed or is waiting. Inventory and lastAppliedRevision stay as they were.
pub fn record_failure(
    status: &mut KustomizationStatus,
    revision: Option<&str>,
    err: &Error,
    generation: Option<i64>,
    now: Timestamp,
) {
    let why = err.reason();
    let message = err.to_string();
    let c = &mut status.conditions;
    condition::set_condition(
        c,
        condition::READY,
        Status::False,
        why,
        &message,
        generation,
        now,
    );
    match err {
        Error::Apply(driftless_apply::ApplyError::Unhealthy { .. }) => {
            condition::set_condition(
                c,
                condition::HEALTHY,
                Status::False,
                why,
                &message,
                generation,
                now,
            );
        }
        Error::DependencyNotReady(_) => {}
        _ => condition::remove_condition(c, condition::HEALTHY),
    }
    // Stalled: nothing but a spec change helps (a missing path may come with a commit).
    if matches!(
        err,
        Error::InvalidSpec(_) | Error::InvalidIgnoreRule(_) | Error::AccessDenied(_)
    ) {
        condition::set_condition(
            c,
            condition::STALLED,
            Status::True,
            why,
            &message,
            generation,
            now,
        );
    } else {
        condition::remove_condition(c, condition::STALLED);
    }
    condition::remove_condition(c, condition::RECONCILING);
    if let Some(revision) = revision {
        status.last_attempted_revision = Some(revision.to_owned());
    }
    status.observed_generation = generation;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_keeps_inventory_and_last_applied_revision() {
        let now = Timestamp::from_second(1).unwrap();
        let mut s = KustomizationStatus::default();
        record_inventory(
            &mut s,
            vec![ResourceRef::new("apps", "web", "apps", "Deployment", "v1")],
        );
        record_applied(&mut s, "main@sha1:aaa", true, Some(1), now);
        assert!(condition::is_ready(&s.conditions));
        assert_eq!(
            condition::find(&s.conditions, condition::READY)
                .unwrap()
                .message,
            "Applied revision: main@sha1:aaa"
        );
        record_failure(
            &mut s,
            Some("main@sha1:bbb"),
            &Error::Build("broken.yaml: bad".into()),
            Some(2),
            now,
        );
        assert!(!condition::is_ready(&s.conditions));
        assert_eq!(s.last_applied_revision.as_deref(), Some("main@sha1:aaa"));
        assert_eq!(s.last_attempted_revision.as_deref(), Some("main@sha1:bbb"));
        assert_eq!(s.inventory.as_ref().unwrap().entries.len(), 1);
        let ready = condition::find(&s.conditions, condition::READY).unwrap();
        assert_eq!(ready.reason, "BuildFailed");
        assert!(ready.message.contains("broken.yaml"));
    }

    #[test]
    fn progress_records_inventory_before_health_and_keeps_last_applied() {
        let now = Timestamp::from_second(1).unwrap();
        let mut s = KustomizationStatus::default();
        record_applied(&mut s, "main@sha1:aaa", false, Some(1), now);
        record_progressing(
            &mut s,
            "main@sha1:bbb",
            vec![
                ResourceRef::new("apps", "web", "apps", "Deployment", "v1"),
                ResourceRef::new("apps", "doomed", "", "ConfigMap", "v1"),
            ],
            Some(2),
            now,
        );
        assert_eq!(s.inventory.as_ref().unwrap().entries.len(), 2);
        assert_eq!(s.last_attempted_revision.as_deref(), Some("main@sha1:bbb"));
        assert_eq!(s.last_applied_revision.as_deref(), Some("main@sha1:aaa"));
        let ready = condition::find(&s.conditions, condition::READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("Unknown", "Progressing")
        );
        assert!(ready.message.contains("main@sha1:bbb"));
        // A failed health check afterwards keeps the persisted inventory.
        record_failure(
            &mut s,
            Some("main@sha1:bbb"),
            &Error::InvalidSpec("x".into()),
            Some(2),
            now,
        );
        assert_eq!(s.inventory.as_ref().unwrap().entries.len(), 2);
        assert!(condition::find(&s.conditions, condition::RECONCILING).is_none());
    }

    #[test]
    fn only_spec_problems_stall() {
        let now = Timestamp::from_second(1).unwrap();
        let stalled = |err: Error| {
            let mut s = KustomizationStatus::default();
            record_failure(&mut s, None, &err, Some(1), now);
            condition::find(&s.conditions, condition::STALLED).is_some_and(|c| c.status == "True")
        };
        assert!(stalled(Error::InvalidSpec(
            "spec.path '../x' points outside".into()
        )));
        assert!(stalled(Error::AccessDenied("cross-namespace".into())));
        let bad_rule =
            driftless_apply::IgnoreRules::compile(&[driftless_api::kustomize::IgnoreRule {
                paths: vec!["spec/replicas".into()],
                target: None,
            }])
            .unwrap_err();
        let error = Error::from(bad_rule);
        assert_eq!(error.reason(), "InvalidSpec");
        assert!(
            error
                .to_string()
                .starts_with("invalid ignore rule: spec.ignore[0].paths[0]: "),
            "{error}"
        );
        assert!(stalled(error));
        assert!(!stalled(Error::MissingPath(
            "spec.path 'apps' not found".into()
        )));
        assert!(!stalled(Error::Build("broken.yaml".into())));
    }
}
