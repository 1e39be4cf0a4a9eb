//! The staged server-side apply: resolve, label, dry-run everything, apply CRDs and
//! Namespaces, wait for them, dry-run what needed them, apply the rest.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use driftless_api::kustomize::ResourceRef;
use driftless_api::well_known::FIELD_MANAGER;
use futures::{StreamExt, stream};
use kube::Client;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::Value;

use crate::drift::{Observed, has_drifted, manifest_digest};
use crate::error::{
    ApplyError, Failures, ObjectFailure, is_immutable_field_error, namespace_not_found,
    server_reason,
};
use crate::ignore::{IgnoreRules, has_drifted_ignoring, payload};
use crate::inventory::inventory;
use crate::object::{ObjectRef, describe_manifest};
use crate::owner::Owner;
use crate::policy::SsaPolicy;
use crate::poll::poll_until;
use crate::resolve::{Resolved, Resolver};
use crate::stage::{Stage, defined_kinds};
use crate::target::{api_for, to_json};

/// Options of one apply.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Namespace given to namespaced objects that have none (the Kustomization's
    /// `targetNamespace`, or its own namespace).
    pub default_namespace: String,
    /// `spec.force`: when a change touches an immutable field, delete the object and create
    /// it again instead of failing.
    pub force: bool,
    /// How long to wait for stage one (CRDs Established, Namespaces Active) and for an
    /// object deleted for a recreate to be gone.
    pub wait_timeout: Duration,
    /// How many dry-run requests run at once.
    pub concurrency: usize,
    /// Objects known to be applied as they are now desired: inventory ID → the
    /// [`manifest_digest`] last applied, for objects that have not drifted since (the
    /// caller's drift watch says so). When every object of the set is known with its
    /// current digest, the apply makes no request at all. Otherwise known objects are only
    /// dry-run (the whole set is still dry-run before any write), and only the others are
    /// read, dry-run and written.
    pub known: Arc<HashMap<String, u64>>,
    /// `spec.ignore`: fields left out of drift detection and correction on existing objects
    /// the rules select (see [`IgnoreRules`]).
    pub ignore: Arc<IgnoreRules>,
}

impl ApplyOptions {
    /// Defaults: no recreate, one minute of waiting, eight requests at once.
    pub fn new(default_namespace: impl Into<String>) -> Self {
        Self {
            default_namespace: default_namespace.into(),
            force: false,
            wait_timeout: Duration::from_secs(60),
            concurrency: 8,
            known: Arc::default(),
            ignore: Arc::default(),
        }
    }
}

/// What applying did to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The object did not exist and was created (or was deleted and created again because
    /// of an immutable field change with `force`).
    Created,
    /// The object existed and was changed.
    Configured,
    /// The object already matched the manifest; no request changed it.
    Unchanged,
    /// The object was not applied (`ssa: Ignore`, or `ssa: IfNotPresent` and it exists).
    Skipped,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Skipped => "skipped",
        })
    }
}

/// One applied object and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The object, with its namespace defaulted.
    pub object: ObjectRef,
    /// What was done.
    pub action: Action,
    /// The [`manifest_digest`] of what was applied (or found applied).
    pub digest: u64,
    /// The live object after this apply, when a request returned it (`None` for a known
    /// object that was not read).
    pub live: Option<Observed>,
}

/// The result of a successful apply, in the order of the input manifests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// One entry per manifest.
    pub changes: Vec<Change>,
}

impl ChangeSet {
    /// The inventory of the applied set (skipped objects included: they are part of the
    /// desired state), sorted by ID.
    pub fn inventory(&self) -> Vec<ResourceRef> {
        inventory(self.changes.iter().map(|change| &change.object))
    }

    /// The objects whose action is `action`.
    pub fn with_action(&self, action: Action) -> Vec<&ObjectRef> {
        self.changes
            .iter()
            .filter(|change| change.action == action)
            .map(|change| &change.object)
            .collect()
    }
}

/// The server-side apply engine. Cheap to clone; the [`Resolver`] is meant to be shared by
/// every apply of the process, while the client may be a per-tenant impersonating one:
/// the engine never assumes more rights than the client has, and an object the API server
/// refuses fails the dry-run before anything is applied.
#[derive(Clone)]
pub struct Applier {
    pub(crate) client: Client,
    pub(crate) resolver: Resolver,
    /// Health rules that take precedence over kstatus (CEL `healthCheckExprs`).
    pub(crate) custom_health: Option<std::sync::Arc<dyn crate::health::CustomHealth>>,
}

/// An object to apply, after namespace defaulting and labelling.
pub(crate) struct Desired {
    pub(crate) object: ObjectRef,
    pub(crate) manifest: Value,
    pub(crate) policy: SsaPolicy,
    pub(crate) stage: Stage,
    /// [`manifest_digest`] of `manifest`.
    pub(crate) digest: u64,
    /// `None` while the kind is served only once a CRD of this set is applied.
    pub(crate) resolved: Option<Resolved>,
}

/// What the dry-run decided for one object.
enum Plan {
    Skip,
    /// Matches the live object (whose fingerprint is known when it was read).
    Unchanged {
        live: Option<Observed>,
    },
    Apply {
        created: bool,
        /// What to apply instead of the manifest: without the ignored fields another
        /// manager changed (see [`IgnoreRules`]).
        payload: Option<Value>,
    },
    /// An immutable field changed and `force` is set: delete, then create.
    Recreate,
    /// Its namespace (or kind) comes with stage one: dry-run after stage one.
    Deferred,
}

impl Applier {
    /// An engine using `client` for every request and `resolver` for kind lookups.
    pub fn new(client: Client, resolver: Resolver) -> Self {
        Self {
            client,
            resolver,
            custom_health: None,
        }
    }

    /// Judges health with `custom` first, kstatus for what it does not judge.
    pub fn with_custom_health(
        mut self,
        custom: Option<std::sync::Arc<dyn crate::health::CustomHealth>>,
    ) -> Self {
        self.custom_health = custom;
        self
    }

    /// The client requests are made with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Applies `manifests` for `owner` with server-side apply (field manager `driftless`).
    ///
    /// Every object is labelled with the owner's labels and given `default_namespace` when
    /// namespaced without one (a cluster-scoped object's namespace is dropped, as kubectl
    /// does). Then everything that can be dry-run is: if any object is refused, the error
    /// lists each refused object with the API server's message and nothing is applied.
    /// Objects that need a CRD or Namespace of the same set are dry-run after stage one
    /// (CRDs and Namespaces applied and Established/Active), as Flux does; if one of them
    /// is refused, only stage one has been applied.
    ///
    /// Field ownership is taken from other managers (force), as Flux does, except for
    /// objects annotated `kustomize.driftless.dev/ssa: Merge`. Only objects whose dry-run
    /// result differs from the live object are written, so an unchanged object keeps its
    /// `resourceVersion`. An apply refused after its dry-run passed (a race, a webhook)
    /// stops at that object with [`ApplyError::Request`].
    pub async fn apply(
        &self,
        owner: &Owner,
        manifests: Vec<Value>,
        options: &ApplyOptions,
    ) -> Result<ChangeSet, ApplyError> {
        let (desired, mut failures) = self.prepare(owner, manifests, options).await?;
        let stage_one_namespaces: HashSet<String> = desired
            .iter()
            .filter(|d| d.object.is_namespace())
            .map(|d| d.object.name.clone())
            .collect();

        let known: Vec<bool> = desired.iter().map(|d| is_known(d, options)).collect();
        if failures.is_empty() && known.iter().all(|&k| k) {
            // Nothing changed and nothing drifted: no request at all.
            let changes = desired
                .into_iter()
                .map(|d| Change {
                    action: if d.policy == SsaPolicy::Ignore {
                        Action::Skipped
                    } else {
                        Action::Unchanged
                    },
                    object: d.object,
                    digest: d.digest,
                    live: None,
                })
                .collect();
            return Ok(ChangeSet { changes });
        }

        // Unknown objects first (read and dry-run). Known ones are dry-run too only when
        // something is to be written, so that a write always follows a dry-run of the whole
        // set, and a reconcile that finds nothing to write dry-runs only what it had to read.
        let mut plans: Vec<Option<Plan>> = (0..desired.len()).map(|_| None).collect();
        let unknown: Vec<usize> = (0..desired.len()).filter(|&i| !known[i]).collect();
        self.plan_each(
            &desired,
            &unknown,
            &known,
            options,
            &stage_one_namespaces,
            &mut plans,
            &mut failures,
        )
        .await;
        let writes = failures.is_empty()
            && unknown
                .iter()
                .any(|&i| !matches!(plans[i], Some(Plan::Skip | Plan::Unchanged { .. })));
        let known_indices: Vec<usize> = (0..desired.len()).filter(|&i| known[i]).collect();
        if writes {
            self.plan_each(
                &desired,
                &known_indices,
                &known,
                options,
                &stage_one_namespaces,
                &mut plans,
                &mut failures,
            )
            .await;
        } else {
            for &i in &known_indices {
                plans[i] = Some(if desired[i].policy == SsaPolicy::Ignore {
                    Plan::Skip
                } else {
                    Plan::Unchanged { live: None }
                });
            }
        }
        if !failures.is_empty() {
            return Err(ApplyError::DryRunFailed {
                failures: Failures(failures),
            });
        }

        let mut actions: Vec<Option<(Action, Option<Observed>)>> = vec![None; desired.len()];
        let stage_one: Vec<usize> = (0..desired.len())
            .filter(|&i| desired[i].stage == Stage::One)
            .collect();
        for &index in &stage_one {
            actions[index] = Some(
                self.execute(&desired[index], &plans[index], options)
                    .await?,
            );
        }
        // Wait for what stage one applied or found; an ignored object may not even exist.
        let objects: Vec<ObjectRef> = stage_one
            .iter()
            .filter(|&&i| !matches!(actions[i], Some((Action::Skipped, _))))
            .map(|&i| desired[i].object.clone())
            .collect();
        if !objects.is_empty() {
            self.wait_healthy(&objects, options.wait_timeout).await?;
        }

        let deadline = Instant::now() + options.wait_timeout;
        let mut late = Vec::new();
        for index in 0..desired.len() {
            if !matches!(plans[index], Some(Plan::Deferred)) {
                continue;
            }
            match self.plan_deferred(&desired[index], options, deadline).await {
                Ok(plan) => plans[index] = Some(plan),
                Err(failure) => late.push(failure),
            }
        }
        if !late.is_empty() {
            return Err(ApplyError::DryRunFailed {
                failures: Failures(late),
            });
        }

        for index in 0..desired.len() {
            if desired[index].stage == Stage::Two {
                actions[index] = Some(
                    self.execute(&desired[index], &plans[index], options)
                        .await?,
                );
            }
        }
        let changes = desired
            .into_iter()
            .zip(actions)
            .map(|(d, action)| {
                let (action, live) = action.unwrap_or((Action::Skipped, None));
                Change {
                    object: d.object,
                    action,
                    digest: d.digest,
                    live,
                }
            })
            .collect();
        Ok(ChangeSet { changes })
    }

    /// Parses, resolves, defaults the namespace of and labels every manifest. Unknown kinds
    /// are returned as failures, so that they are reported with the dry-run's.
    pub(crate) async fn prepare(
        &self,
        owner: &Owner,
        manifests: Vec<Value>,
        options: &ApplyOptions,
    ) -> Result<(Vec<Desired>, Vec<ObjectFailure>), ApplyError> {
        let mut defined: HashMap<(String, String, String), bool> = HashMap::new();
        for manifest in &manifests {
            if manifest.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition") {
                for kind in defined_kinds(manifest) {
                    defined.insert((kind.group, kind.version, kind.kind), kind.namespaced);
                }
            }
        }
        let mut desired = Vec::with_capacity(manifests.len());
        let mut failures = Vec::new();
        for (index, mut manifest) in manifests.into_iter().enumerate() {
            let described = describe_manifest(&manifest);
            let invalid = |reason: String| ApplyError::InvalidManifest {
                index,
                object: described.clone(),
                reason,
            };
            let mut object =
                ObjectRef::from_manifest(&manifest).map_err(|r| invalid(r.to_owned()))?;
            let policy = SsaPolicy::of(&manifest).map_err(invalid)?;
            let resolved = match self.resolver.resolve(&self.client, &object).await {
                Ok(resolved) => resolved,
                Err(error) => {
                    failures.push(ObjectFailure {
                        object: object.to_string(),
                        reason: format!("kind lookup failed: {}", server_reason(&error)),
                    });
                    continue;
                }
            };
            let key = (
                object.group.clone(),
                object.version.clone(),
                object.kind.clone(),
            );
            let namespaced = match (&resolved, defined.get(&key)) {
                (Some(resolved), _) => resolved.namespaced,
                (None, Some(&namespaced)) => namespaced,
                (None, None) => {
                    failures.push(ObjectFailure {
                        object: object.to_string(),
                        reason: format!(
                            "no API resource serves kind {} in {} (is its CustomResourceDefinition installed?)",
                            object.kind,
                            object.api_version()
                        ),
                    });
                    continue;
                }
            };
            normalize_namespace(
                &mut object,
                &mut manifest,
                namespaced,
                &options.default_namespace,
            )
            .map_err(invalid)?;
            owner.label(&mut manifest);
            desired.push(Desired {
                stage: Stage::of(&object),
                digest: manifest_digest(&manifest),
                object,
                manifest,
                policy,
                resolved,
            });
        }
        Ok((desired, failures))
    }

    /// Plans the objects at `indices` (at most `options.concurrency` at once) into `plans`;
    /// refusals go to `failures`.
    #[allow(clippy::too_many_arguments)]
    async fn plan_each(
        &self,
        desired: &[Desired],
        indices: &[usize],
        known: &[bool],
        options: &ApplyOptions,
        stage_one_namespaces: &HashSet<String>,
        plans: &mut [Option<Plan>],
        failures: &mut Vec<ObjectFailure>,
    ) {
        // Futures collected first, not built in a stream combinator's closure, so the
        // resulting future is provably `Send` for callers that spawn it.
        let planned: Vec<_> = indices
            .iter()
            .map(|&i| self.plan(&desired[i], options, stage_one_namespaces, known[i]))
            .collect();
        let checked = stream::iter(planned)
            .buffered(options.concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        for (&i, result) in indices.iter().zip(checked) {
            match result {
                Ok(plan) => plans[i] = Some(plan),
                Err(failure) => failures.push(failure),
            }
        }
    }

    /// Reads the live object and dry-runs the apply of one object.
    async fn plan(
        &self,
        desired: &Desired,
        options: &ApplyOptions,
        stage_one_namespaces: &HashSet<String>,
        known: bool,
    ) -> Result<Plan, ObjectFailure> {
        let Some(resolved) = &desired.resolved else {
            return Ok(Plan::Deferred);
        };
        if desired.policy == SsaPolicy::Ignore {
            return Ok(Plan::Skip);
        }
        let failure = |what: &str, error: &kube::Error| ObjectFailure {
            object: desired.object.to_string(),
            reason: format!("{what}: {}", server_reason(error)),
        };
        let api = api_for(&self.client, resolved, &desired.object);
        if known {
            // Applied as it is and not drifted: only the whole-set dry-run, no read.
            let params = apply_params(desired.policy).dry_run();
            return api
                .patch(
                    &desired.object.name,
                    &params,
                    &Patch::Apply(&desired.manifest),
                )
                .await
                .map(|_| Plan::Unchanged { live: None })
                .map_err(|error| failure("dry-run failed", &error));
        }
        let live = api
            .get_opt(&desired.object.name)
            .await
            .map_err(|error| failure("get", &error))?;
        let live_print = live.as_ref().map(|live| {
            Observed::new(
                live.metadata.generation,
                live.metadata.resource_version.as_deref(),
            )
        });
        let live = live.map(|live| to_json(&live));
        if let Some(live) = &live {
            if SsaPolicy::of(live) == Ok(SsaPolicy::Ignore) {
                return Ok(Plan::Skip);
            }
            if desired.policy == SsaPolicy::IfNotPresent {
                return Ok(Plan::Skip);
            }
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
            Ok(result) => Ok(match live {
                None => Plan::Apply {
                    created: true,
                    payload: None,
                },
                Some(live) => {
                    let result = to_json(&result);
                    let ignored = options.ignore.paths_for(&result);
                    if ignored.is_empty() {
                        if has_drifted(&live, &result) {
                            Plan::Apply {
                                created: false,
                                payload: None,
                            }
                        } else {
                            Plan::Unchanged { live: live_print }
                        }
                    } else if has_drifted_ignoring(&live, &result, &ignored) {
                        Plan::Apply {
                            created: false,
                            payload: Some(payload(&desired.manifest, &live, &result, &ignored)),
                        }
                    } else {
                        Plan::Unchanged { live: live_print }
                    }
                }
            }),
            Err(error) if options.force && live.is_some() && is_immutable_field_error(&error) => {
                Ok(Plan::Recreate)
            }
            Err(error)
                if desired.object.namespace.as_ref().is_some_and(|namespace| {
                    stage_one_namespaces.contains(namespace)
                        && namespace_not_found(&error, namespace)
                }) =>
            {
                Ok(Plan::Deferred)
            }
            Err(error) => {
                if matches!(&error, kube::Error::Api(status) if status.code == 404) {
                    // The cached resource may be gone (CRD deleted): look it up again next time.
                    self.resolver.forget(&desired.object);
                }
                Err(failure("dry-run failed", &error))
            }
        }
    }

    /// Dry-runs an object deferred until after stage one, waiting (until `deadline`) for its
    /// kind to be served when a CRD of the set defines it.
    async fn plan_deferred(
        &self,
        desired: &Desired,
        options: &ApplyOptions,
        deadline: Instant,
    ) -> Result<Plan, ObjectFailure> {
        let resolved = match &desired.resolved {
            Some(resolved) => resolved.clone(),
            None => poll_until(deadline, || async {
                self.resolver
                    .resolve(&self.client, &desired.object)
                    .await
                    .ok()
                    .flatten()
            })
            .await
            .ok_or_else(|| ObjectFailure {
                object: desired.object.to_string(),
                reason: format!(
                    "kind {} in {} is still not served {:?} after its CustomResourceDefinition was applied",
                    desired.object.kind,
                    desired.object.api_version(),
                    options.wait_timeout
                ),
            })?,
        };
        let resolved_desired = Desired {
            object: desired.object.clone(),
            manifest: desired.manifest.clone(),
            policy: desired.policy,
            stage: desired.stage,
            digest: desired.digest,
            resolved: Some(resolved),
        };
        match self
            .plan(&resolved_desired, options, &HashSet::new(), false)
            .await?
        {
            Plan::Deferred => Err(ObjectFailure {
                object: desired.object.to_string(),
                reason: "its namespace does not exist after stage one".into(),
            }),
            plan => Ok(plan),
        }
    }

    /// Carries out the plan of one object.
    async fn execute(
        &self,
        desired: &Desired,
        plan: &Option<Plan>,
        options: &ApplyOptions,
    ) -> Result<(Action, Option<Observed>), ApplyError> {
        let object = desired.object.to_string();
        let request = |action: &'static str, error: &kube::Error| ApplyError::Request {
            object: object.clone(),
            action,
            reason: server_reason(error),
        };
        let created = match plan {
            None | Some(Plan::Skip) => return Ok((Action::Skipped, None)),
            Some(Plan::Unchanged { live }) => return Ok((Action::Unchanged, live.clone())),
            Some(Plan::Deferred) => {
                return Err(ApplyError::Request {
                    object,
                    action: "apply",
                    reason: "the object was never dry-run".into(),
                });
            }
            Some(Plan::Apply { created, .. }) => *created,
            Some(Plan::Recreate) => true,
        };
        let manifest = match plan {
            Some(Plan::Apply {
                payload: Some(payload),
                ..
            }) => payload,
            _ => &desired.manifest,
        };
        let resolved = self.resolved_now(desired).await?;
        let api = api_for(&self.client, &resolved, &desired.object);
        if matches!(plan, Some(Plan::Recreate)) {
            tracing::info!(object = %desired.object, "immutable field changed: recreating");
            match api
                .delete(&desired.object.name, &DeleteParams::background())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(request("delete for recreate", &error)),
            }
            let deadline = Instant::now() + options.wait_timeout;
            let gone = poll_until(deadline, || async {
                matches!(api.get_opt(&desired.object.name).await, Ok(None)).then_some(())
            })
            .await;
            if gone.is_none() {
                return Err(ApplyError::Request {
                    object,
                    action: "delete for recreate",
                    reason: format!("still present after {:?}", options.wait_timeout),
                });
            }
        }
        let applied = api
            .patch(
                &desired.object.name,
                &apply_params(desired.policy),
                &Patch::Apply(manifest),
            )
            .await
            .map_err(|error| request("apply", &error))?;
        let live = Observed::new(
            applied.metadata.generation,
            applied.metadata.resource_version.as_deref(),
        );
        let action = if created {
            Action::Created
        } else {
            Action::Configured
        };
        Ok((action, Some(live)))
    }

    async fn resolved_now(&self, desired: &Desired) -> Result<Resolved, ApplyError> {
        if let Some(resolved) = &desired.resolved {
            return Ok(resolved.clone());
        }
        let reason = |text: String| ApplyError::Request {
            object: desired.object.to_string(),
            action: "apply",
            reason: text,
        };
        self.resolver
            .resolve(&self.client, &desired.object)
            .await
            .map_err(|error| reason(server_reason(&error)))?
            .ok_or_else(|| reason(format!("kind {} is not served", desired.object.kind)))
    }
}

/// Whether `desired` is applied as it is and has not drifted (see [`ApplyOptions::known`]);
/// ignored objects never need a request either.
fn is_known(desired: &Desired, options: &ApplyOptions) -> bool {
    desired.resolved.is_some()
        && (desired.policy == SsaPolicy::Ignore
            || options.known.get(&desired.object.to_inventory().id) == Some(&desired.digest))
}

/// Server-side apply parameters for a policy: field manager `driftless`, force ownership
/// unless `Merge`.
pub(crate) fn apply_params(policy: SsaPolicy) -> PatchParams {
    let params = PatchParams::apply(FIELD_MANAGER);
    if policy.force_ownership() {
        params.force()
    } else {
        params
    }
}

/// Gives a namespaced object without namespace the default one, and drops the namespace of
/// a cluster-scoped object (as kubectl does). Errors when no default is available.
fn normalize_namespace(
    object: &mut ObjectRef,
    manifest: &mut Value,
    namespaced: bool,
    default_namespace: &str,
) -> Result<(), String> {
    let metadata = manifest
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or("metadata is not an object")?;
    if namespaced {
        if object.namespace.is_none() {
            if default_namespace.is_empty() {
                return Err("namespaced object without namespace, and no default namespace".into());
            }
            metadata.insert("namespace".into(), default_namespace.into());
            object.namespace = Some(default_namespace.to_owned());
        }
    } else {
        metadata.remove("namespace");
        object.namespace = None;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn namespaces_are_defaulted_or_dropped() {
        let mut manifest =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let mut object = ObjectRef::from_manifest(&manifest).unwrap();
        normalize_namespace(&mut object, &mut manifest, true, "apps").unwrap();
        assert_eq!(object.to_string(), "ConfigMap/apps/c");
        assert_eq!(manifest["metadata"]["namespace"], "apps");

        let mut kept = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "other"}});
        let mut object = ObjectRef::from_manifest(&kept).unwrap();
        normalize_namespace(&mut object, &mut kept, true, "apps").unwrap();
        assert_eq!(object.namespace.as_deref(), Some("other"));

        let mut cluster = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "r", "namespace": "apps"}});
        let mut object = ObjectRef::from_manifest(&cluster).unwrap();
        normalize_namespace(&mut object, &mut cluster, false, "apps").unwrap();
        assert_eq!(object.to_string(), "ClusterRole/r");
        assert!(cluster["metadata"].get("namespace").is_none());

        let mut orphan =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let mut object = ObjectRef::from_manifest(&orphan).unwrap();
        assert!(normalize_namespace(&mut object, &mut orphan, true, "").is_err());
    }

    #[test]
    fn only_merge_applies_without_force() {
        assert!(apply_params(SsaPolicy::Override).force);
        assert!(!apply_params(SsaPolicy::Merge).force);
        assert_eq!(
            apply_params(SsaPolicy::Merge).field_manager.as_deref(),
            Some("driftless")
        );
    }

    #[test]
    fn change_set_inventory_includes_every_object() {
        let object = |name: &str| ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("apps".into()),
            name: name.into(),
        };
        let set = ChangeSet {
            changes: vec![
                Change {
                    object: object("b"),
                    action: Action::Created,
                    digest: 1,
                    live: None,
                },
                Change {
                    object: object("a"),
                    action: Action::Skipped,
                    digest: 2,
                    live: None,
                },
            ],
        };
        let ids: Vec<String> = set.inventory().into_iter().map(|e| e.id).collect();
        assert_eq!(ids, ["apps_a__ConfigMap", "apps_b__ConfigMap"]);
        assert_eq!(set.with_action(Action::Created), [&object("b")]);
    }
}
