//! Finalizing a deleted Kustomization: prune its inventory (with `prune: true`) as the
//! identity it applied with, and never hang.
//!
//! Deleting a namespace deletes its RoleBindings, ServiceAccounts and Kustomizations in no
//! particular order, so the tenant's identity may have lost its rights by the time the
//! finalizer runs; retrying a 403 forever would keep the Kustomization (and the namespace)
//! Terminating forever. So:
//!
//! - an object the identity may not delete (the API server's own access review says no, or
//!   the identity cannot be impersonated at all) is **orphaned** at once;
//! - any other failure (API server unreachable, a webhook refusing) is retried with backoff
//!   for [`GIVE_UP_AFTER`] after the deletion started, then orphaned too;
//! - orphans are named in a Warning event `OrphanedOnDeletion` on the Kustomization, or, when
//!   its namespace no longer accepts events (it is terminating), on the Namespace (events
//!   of cluster-scoped objects live in `default`); then the finalizer is removed.
//!
//! Flux's kustomize-controller orphans only when the ServiceAccount is missing and retries
//! any other error (a deleted RoleBinding included) without end.

use std::sync::Arc;
use std::time::Duration;

use driftless_api::Kustomization;
use driftless_api::kustomize::ResourceRef;
use driftless_apply::{Applier, ApplyError, ObjectRef, Owner, Resolver};
use driftless_runtime::events::Severity;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::runtime::controller::Action;
use kube::{Api, Client, Resource, ResourceExt};

use crate::identity::identity_of;
use crate::{Context, Error};

const KIND: &str = "Kustomization";

/// How long after the deletion started failures other than "may not delete" are retried
/// before the objects are orphaned.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(300);

/// Event reason naming what a deletion left in the cluster.
pub const ORPHANED_REASON: &str = "OrphanedOnDeletion";

/// On delete: prune the whole inventory when `prune` is true (as the Kustomization's
/// identity), else orphan; see the module documentation for what is never waited on.
pub async fn cleanup(ks: Arc<Kustomization>, ctx: &Context) -> Result<Action, Error> {
    let namespace = ks.namespace().unwrap_or_default();
    let name = ks.name_any();
    ctx.metrics.forget_object(KIND, &namespace, &name);
    prune_inventory(&ks, ctx).await?;
    ctx.clients.release(&ks.uid().unwrap_or_default());
    Ok(Action::await_change())
}

async fn prune_inventory(ks: &Kustomization, ctx: &Context) -> Result<(), Error> {
    if !ks.spec.prune || ks.spec.suspend {
        return Ok(());
    }
    let entries: Vec<ResourceRef> = ks
        .status
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .map(|i| i.entries.clone())
        .unwrap_or_default();
    if entries.is_empty() {
        return Ok(());
    }
    let identity = match identity_of(ks, &ctx.tenancy) {
        Ok(identity) => identity,
        Err(refused) => {
            let all: Vec<String> = entries.iter().map(describe).collect();
            orphan(
                ks,
                ctx,
                &all,
                &format!("no identity may prune them: {refused}"),
            )
            .await;
            return Ok(());
        }
    };
    // A remote cluster's objects are deleted there (its kubeconfig read again now); the
    // resolver is a fresh one, as kinds served there may differ from here.
    let (client, resolver) = match crate::remote::remote_client(ks, &ctx.clients, &identity).await {
        Ok(Some(remote)) => (remote.client, Resolver::new()),
        Ok(None) => (
            ctx.clients
                .for_identity(&ks.uid().unwrap_or_default(), &identity)?,
            ctx.resolver.clone(),
        ),
        Err(unusable) => {
            let all: Vec<String> = entries.iter().map(describe).collect();
            orphan(
                ks,
                ctx,
                &all,
                &format!("the remote cluster cannot be reached: {unusable}"),
            )
            .await;
            return Ok(());
        }
    };
    let applier = Applier::new(client.clone(), resolver.clone());
    let owner = Owner::new(ks.name_any(), ks.namespace().unwrap_or_default());
    let failures = match applier.prune(&owner, &entries).await {
        Ok(pruned) => {
            crate::reconcile::count_pruned(&ctx.metrics, &pruned);
            return Ok(());
        }
        Err(ApplyError::PruneFailed { failures }) => failures.0,
        Err(other) => return Err(other.into()),
    };
    let mut denied = Vec::new();
    let mut transient = Vec::new();
    for failure in failures {
        let object = entries
            .iter()
            .filter_map(ObjectRef::from_inventory)
            .find(|o| o.to_string() == failure.object);
        let verdict = match &object {
            Some(object) => may_delete(&client, &resolver, object).await,
            None => Verdict::Denied(String::from("malformed inventory entry")),
        };
        match verdict {
            Verdict::Denied(why) => denied.push(format!("{} ({why})", failure.object)),
            Verdict::Allowed => transient.push(failure),
        }
    }
    if !transient.is_empty() {
        let started = ks
            .meta()
            .deletion_timestamp
            .as_ref()
            .map_or(Timestamp::now(), |t| t.0);
        let waited = Timestamp::now().duration_since(started).unsigned_abs();
        if waited < GIVE_UP_AFTER {
            return Err(Error::Apply(ApplyError::PruneFailed {
                failures: driftless_apply::Failures(transient),
            }));
        }
        denied.extend(transient.into_iter().map(|f| f.to_string()));
        let why = format!("pruning as {identity} kept failing for {GIVE_UP_AFTER:?}");
        orphan(ks, ctx, &denied, &why).await;
        return Ok(());
    }
    orphan(ks, ctx, &denied, &format!("{identity} may not delete them")).await;
    Ok(())
}

/// Whether a failed delete is worth retrying.
enum Verdict {
    /// The identity may not get or delete the object (or cannot be impersonated): retrying
    /// cannot help.
    Denied(String),
    /// RBAC allows it; the failure was something else.
    Allowed,
}

/// Asks the API server, as `client`'s identity, whether it may get and delete `object`.
async fn may_delete(client: &Client, resolver: &Resolver, object: &ObjectRef) -> Verdict {
    let resolved = match resolver.resolve(client, object).await {
        Ok(Some(resolved)) => resolved,
        Ok(None) => return Verdict::Allowed,
        Err(kube::Error::Api(status)) if matches!(status.code, 401 | 403) => {
            return Verdict::Denied(status.message);
        }
        Err(_) => return Verdict::Allowed,
    };
    for verb in ["get", "delete"] {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.to_owned()),
                    group: Some(object.group.clone()),
                    version: Some(object.version.clone()),
                    resource: Some(resolved.resource.plural.clone()),
                    namespace: object.namespace.clone().filter(|_| resolved.namespaced),
                    name: Some(object.name.clone()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        match Api::<SelfSubjectAccessReview>::all(client.clone())
            .create(&PostParams::default(), &review)
            .await
        {
            Ok(answer) => {
                let status = answer.status.unwrap_or_default();
                if !status.allowed {
                    return Verdict::Denied(format!("may not {verb} it"));
                }
            }
            // The identity cannot even be impersonated (or ask): nothing will change that.
            Err(kube::Error::Api(status)) if matches!(status.code, 401 | 403) => {
                return Verdict::Denied(status.message);
            }
            Err(_) => return Verdict::Allowed,
        }
    }
    Verdict::Allowed
}

fn describe(entry: &ResourceRef) -> String {
    ObjectRef::from_inventory(entry).map_or_else(|| entry.id.clone(), |o| o.to_string())
}

/// Logs and records a Warning event naming every object left in the cluster.
async fn orphan(ks: &Kustomization, ctx: &Context, objects: &[String], why: &str) {
    if objects.is_empty() {
        return;
    }
    let namespace = ks.namespace().unwrap_or_default();
    let name = ks.name_any();
    let message = format!(
        "Kustomization {namespace}/{name} deleted; {} object(s) left in the cluster, not pruned ({why}):\n{}",
        objects.len(),
        objects.join("\n")
    );
    tracing::warn!(namespace, name, orphaned = ?objects, why, "deleted without pruning");
    let revision = ks
        .status
        .as_ref()
        .and_then(|s| s.last_applied_revision.as_deref());
    let reference = ks.object_ref(&());
    if let Err(err) = ctx
        .recorder
        .try_publish(
            &reference,
            Severity::Error,
            ORPHANED_REASON,
            &message,
            revision,
        )
        .await
    {
        tracing::debug!(error = %err, "the namespace refused the event; recording it on the Namespace");
        let on_namespace = ObjectReference {
            api_version: Some(String::from("v1")),
            kind: Some(String::from("Namespace")),
            name: Some(namespace),
            ..ObjectReference::default()
        };
        ctx.recorder
            .publish(
                &on_namespace,
                Severity::Error,
                ORPHANED_REASON,
                &message,
                revision,
            )
            .await;
    }
}
