//! The ImagePolicy controller: pick the newest tag of an ImageRepository's stored scan by the
//! policy, report it in `status.latestRef`. Reconciles again whenever the repository's
//! status changes (a new scan), so new tags flow through without waiting for an interval.

use std::sync::Arc;
use std::time::Duration;

use driftless_api::image::{ImagePolicySpec, ImagePolicyStatus, ImageRef};
use driftless_api::{ImagePolicy, ImageRepository};
use driftless_runtime::events::Severity;
use driftless_runtime::object::{apply_status, requested_at};
use driftless_runtime::reconcile::{Outcome, finalized, retry_after_error};
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource, ResourceExt};

use crate::policy::Selector;
use crate::{Context, Error, conditions};

const KIND: &str = "ImagePolicy";
/// A safety net: policies are re-evaluated on every repository status change anyway.
const RESYNC: Duration = Duration::from_secs(600);

/// Runs the ImagePolicy controller until `shutdown` resolves. `api` chooses the namespaces
/// to watch (ImageRepositories are watched in the same scope), `watch` the label selector.
pub async fn run(
    ctx: Arc<Context>,
    api: Api<ImagePolicy>,
    watch: watcher::Config,
    ready: impl FnOnce() + Send + 'static,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let repositories: Api<ImageRepository> = match api.namespace() {
        Some(namespace) => Api::namespaced(ctx.client.clone(), namespace),
        None => Api::all(ctx.client.clone()),
    };
    let (stream, reader) = driftless_runtime::watch::trigger_stream(api, watch, ready);
    let policies = reader.clone();
    Controller::for_stream(stream, reader)
        .watches(
            repositories,
            watcher::Config::default(),
            move |repo: ImageRepository| {
                let namespace = repo.namespace().unwrap_or_default();
                let name = repo.name_any();
                policies
                    .state()
                    .into_iter()
                    .filter(|p| {
                        let (ref_ns, ref_name) = repository_of(p);
                        ref_ns == namespace && ref_name == name
                    })
                    .map(|p| ObjectRef::from_obj(p.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, retry_after_error, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// `(namespace, name)` of the policy's ImageRepository.
fn repository_of(policy: &ImagePolicy) -> (String, String) {
    let reference = &policy.spec.image_repository_ref;
    let namespace = reference
        .namespace
        .clone()
        .unwrap_or_else(|| policy.namespace().unwrap_or_default());
    (namespace, reference.name.clone())
}

async fn reconcile(policy: Arc<ImagePolicy>, ctx: Arc<Context>) -> Result<Action, Error> {
    finalized(
        ctx.client.clone(),
        policy,
        &ctx.metrics,
        Error::Finalizer,
        |policy| apply(policy, &ctx),
        |policy| std::future::ready(cleanup(policy, &ctx)),
    )
    .await
}

async fn apply(policy: Arc<ImagePolicy>, ctx: &Context) -> Result<Outcome, Error> {
    let namespace = policy.namespace().unwrap_or_default();
    let name = policy.name_any();
    let generation = policy.meta().generation;
    let now = Timestamp::now();
    let mut status = policy.status.clone().unwrap_or_default();
    let previous = status.latest_ref.clone();
    let outcome = choose(&policy, ctx).await;
    match &outcome {
        Ok(latest) => {
            if previous.as_ref().is_some_and(|p| p != latest) {
                status.observed_previous_ref = previous.clone();
            }
            status.latest_ref = Some(latest.clone());
            let message = format!(
                "latest image tag for '{}' resolved to {}",
                latest.name, latest.tag
            );
            conditions::record_ready(&mut status.conditions, &message, generation, now);
        }
        Err(err) => conditions::record_failure(&mut status.conditions, err, generation, now),
    }
    status.observed_generation = generation;
    status.reconcile_request.last_handled_reconcile_at = requested_at(policy.as_ref());
    write_status(ctx, &namespace, &name, &status).await?;
    let reference = policy.object_ref(&());
    match &outcome {
        Ok(latest) if previous.as_ref() != Some(latest) => {
            let message = match &previous {
                Some(p) => format!(
                    "latest image tag for '{}' updated from {} to {}",
                    latest.name, p.tag, latest.tag
                ),
                None => format!(
                    "latest image tag for '{}' resolved to {}",
                    latest.name, latest.tag
                ),
            };
            ctx.recorder
                .publish(
                    &reference,
                    Severity::Info,
                    "Succeeded",
                    &message,
                    Some(&latest.tag),
                )
                .await;
        }
        Ok(_) => {}
        Err(err) => {
            ctx.recorder
                .publish(
                    &reference,
                    Severity::Error,
                    err.reason(),
                    &err.to_string(),
                    None,
                )
                .await
        }
    }
    ctx.metrics
        .set_object_state(KIND, &namespace, &name, Some(outcome.is_ok()), false);
    let action = match &outcome {
        Err(err) if err.is_stalling() => Action::await_change(),
        Err(Error::DependencyNotReady(_)) => Action::requeue(Duration::from_secs(30)),
        _ => Action::requeue(RESYNC),
    };
    Ok(Outcome::of(action, &outcome))
}

async fn choose(policy: &ImagePolicy, ctx: &Context) -> Result<ImageRef, Error> {
    let selector = Selector::from_spec(&policy.spec)?;
    let (repo_ns, repo_name) = repository_of(policy);
    ctx.check_reference(
        "spec.imageRepositoryRef",
        &policy.namespace().unwrap_or_default(),
        &repo_ns,
    )?;
    let repositories: Api<ImageRepository> = Api::namespaced(ctx.client.clone(), &repo_ns);
    let repository = repositories
        .get_opt(&repo_name)
        .await
        .map_err(|source| Error::Kube {
            action: format!("reading ImageRepository {repo_ns}/{repo_name}"),
            source,
        })?
        .ok_or_else(|| {
            Error::DependencyNotReady(format!("ImageRepository '{repo_ns}/{repo_name}' not found"))
        })?;
    let scan = ctx.tags.get(&repo_ns, &repo_name).await?.ok_or_else(|| {
        Error::DependencyNotReady(format!(
            "ImageRepository '{repo_ns}/{repo_name}' has not been scanned yet"
        ))
    })?;
    latest_ref(&policy.spec, &selector, &repository.spec.image, &scan.tags)
}

/// The image the policy picks from `tags` of `image`; an error when none qualifies.
pub fn latest_ref(
    spec: &ImagePolicySpec,
    selector: &Selector,
    image: &str,
    tags: &[String],
) -> Result<ImageRef, Error> {
    let tag = selector.latest(tags)?.ok_or_else(|| {
        let by = match (&spec.policy.semver, &spec.filter_tags) {
            (Some(semver), _) => format!("semver range '{}'", semver.range),
            (None, Some(filter)) => format!("filterTags pattern '{}'", filter.pattern),
            (None, None) => "the policy".to_owned(),
        };
        Error::DependencyNotReady(format!(
            "no tag of '{image}' ({} scanned) matches {by}",
            tags.len()
        ))
    })?;
    Ok(ImageRef {
        name: image.to_owned(),
        tag: tag.to_owned(),
        digest: None,
    })
}

async fn write_status(
    ctx: &Context,
    namespace: &str,
    name: &str,
    status: &ImagePolicyStatus,
) -> Result<(), Error> {
    let api: Api<ImagePolicy> = Api::namespaced(ctx.client.clone(), namespace);
    apply_status(&api, name, status)
        .await
        .map_err(|source| Error::Kube {
            action: format!("writing status of ImagePolicy {namespace}/{name}"),
            source,
        })?;
    Ok(())
}

fn cleanup(policy: Arc<ImagePolicy>, ctx: &Context) -> Result<Action, Error> {
    ctx.metrics.forget_object(
        KIND,
        &policy.namespace().unwrap_or_default(),
        &policy.name_any(),
    );
    Ok(Action::await_change())
}
