//! What an apply would do, without doing it: the same preparation (kind lookup, namespace
//! defaulting, owner labels) and the same server-side dry-run as [`Applier::apply`], returning
//! each object's live state and the server's answer.

use std::collections::HashSet;

use futures::{StreamExt, stream};
use kube::api::Patch;
use serde_json::Value;

use crate::applier::{Action, Applier, ApplyOptions, Desired, apply_params};
use crate::drift::has_drifted;
use crate::error::{ApplyError, Failures, ObjectFailure, namespace_not_found, server_reason};
use crate::ignore::{has_drifted_ignoring, with_live_values};
use crate::object::ObjectRef;
use crate::owner::Owner;
use crate::policy::SsaPolicy;
use crate::target::{api_for, to_json};

/// One object of a previewed apply.
#[derive(Clone, Debug, PartialEq)]
pub struct Preview {
    /// The object, with its namespace defaulted.
    pub object: ObjectRef,
    /// What an apply would do: `Created`, `Configured`, `Unchanged` or `Skipped`.
    pub action: Action,
    /// The object as it is in the cluster, if it exists.
    pub live: Option<Value>,
    /// The object as the server-side dry-run returned it; the labelled manifest itself when
    /// it cannot be dry-run before its CRD or Namespace (of the same set) exists.
    pub desired: Value,
}

impl Applier {
    /// Dry-runs `manifests` for `owner` exactly as [`Applier::apply`] would, and writes
    /// nothing. Objects the server refuses fail the preview with every refused object
    /// named ([`ApplyError::DryRunFailed`]).
    pub async fn preview(
        &self,
        owner: &Owner,
        manifests: Vec<Value>,
        options: &ApplyOptions,
    ) -> Result<Vec<Preview>, ApplyError> {
        let (desired, mut failures) = self.prepare(owner, manifests, options).await?;
        let stage_one_namespaces: HashSet<String> = desired
            .iter()
            .filter(|d| d.object.is_namespace())
            .map(|d| d.object.name.clone())
            .collect();
        let planned: Vec<_> = desired
            .iter()
            .map(|d| self.preview_one(d, &stage_one_namespaces, options))
            .collect();
        let results = stream::iter(planned)
            .buffered(options.concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        let mut previews = Vec::with_capacity(results.len());
        for result in results {
            match result {
                Ok(preview) => previews.push(preview),
                Err(failure) => failures.push(failure),
            }
        }
        if !failures.is_empty() {
            return Err(ApplyError::DryRunFailed {
                failures: Failures(failures),
            });
        }
        Ok(previews)
    }

    async fn preview_one(
        &self,
        desired: &Desired,
        stage_one_namespaces: &HashSet<String>,
        options: &ApplyOptions,
    ) -> Result<Preview, ObjectFailure> {
        let preview = |action, live: Option<Value>, result: Option<Value>| Preview {
            object: desired.object.clone(),
            action,
            live,
            desired: result.unwrap_or_else(|| desired.manifest.clone()),
        };
        let Some(resolved) = &desired.resolved else {
            // Its kind comes with a CRD of this set: nothing of it can exist yet.
            return Ok(preview(Action::Created, None, None));
        };
        let failure = |what: &str, error: &kube::Error| ObjectFailure {
            object: desired.object.to_string(),
            reason: format!("{what}: {}", server_reason(error)),
        };
        let api = api_for(&self.client, resolved, &desired.object);
        let live = api
            .get_opt(&desired.object.name)
            .await
            .map_err(|error| failure("get", &error))?
            .map(|live| to_json(&live));
        if desired.policy == SsaPolicy::Ignore
            || live.as_ref().is_some_and(|live| {
                SsaPolicy::of(live) == Ok(SsaPolicy::Ignore)
                    || desired.policy == SsaPolicy::IfNotPresent
            })
        {
            return Ok(preview(Action::Skipped, live.clone(), live));
        }
        let params = apply_params(desired.policy).dry_run();
        match api
            .patch(
                &desired.object.name,
                &params,
                &Patch::Apply(&desired.manifest),
            )
            .await
        {
            Ok(result) => {
                let mut result = to_json(&result);
                let action = match &live {
                    None => Action::Created,
                    Some(live) => {
                        let ignored = options.ignore.paths_for(&result);
                        let drifted = if ignored.is_empty() {
                            has_drifted(live, &result)
                        } else {
                            let drifted = has_drifted_ignoring(live, &result, &ignored);
                            result = with_live_values(&result, live, &ignored);
                            drifted
                        };
                        if drifted {
                            Action::Configured
                        } else {
                            Action::Unchanged
                        }
                    }
                };
                Ok(preview(action, live, Some(result)))
            }
            Err(error)
                if desired.object.namespace.as_ref().is_some_and(|namespace| {
                    stage_one_namespaces.contains(namespace)
                        && namespace_not_found(&error, namespace)
                }) =>
            {
                Ok(preview(Action::Created, None, None))
            }
            Err(error) => Err(failure("dry-run failed", &error)),
        }
    }
}
