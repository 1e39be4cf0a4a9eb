//! The OCIRepository controller loop: finalizer dispatch, pull, status, events, metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use driftless_api::OCIRepository;
use driftless_api::duration::parse_duration;
use driftless_api::meta::Artifact as StatusArtifact;
use driftless_api::oci::OCIRepositoryStatus;
use driftless_runtime::events::Severity;
use driftless_runtime::object::{apply_status, requested_at};
use driftless_runtime::reconcile::{Outcome, finalized, retry_after_error};
use driftless_source::{Digest, OwnerKey};
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource, ResourceExt};

use crate::oci_pull::{Current, Pulled, pull};
use crate::{Context, Error, status};

const KIND: &str = "OCIRepository";

/// Runs the OCIRepository controller until `shutdown` resolves. `api` chooses the
/// namespaces to watch, `watch` the label selector.
pub async fn run_oci(
    ctx: Arc<Context>,
    api: Api<OCIRepository>,
    watch: watcher::Config,
    ready: impl FnOnce() + Send + 'static,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (stream, reader) = driftless_runtime::watch::trigger_stream(api, watch, ready);
    ctx.published.register_oci(reader.clone());
    Controller::for_stream(stream, reader)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, retry_after_error, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

async fn reconcile(repo: Arc<OCIRepository>, ctx: Arc<Context>) -> Result<Action, Error> {
    finalized(
        ctx.client.clone(),
        repo,
        &ctx.metrics,
        Error::Finalizer,
        |repo| apply(repo, &ctx),
        |repo| cleanup(repo, &ctx),
    )
    .await
}

/// What status says the current artifact is.
fn current(repo: &OCIRepository, status: &OCIRepositoryStatus) -> Current {
    let Some(artifact) = &status.artifact else {
        return Current::default();
    };
    Current {
        revision: Some(artifact.revision.clone()),
        digest: artifact.digest.as_deref().and_then(Digest::parse),
        annotations: artifact.metadata.clone(),
        size: artifact
            .size
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(0),
        same_settings: status.observed_ignore == repo.spec.ignore
            && status.observed_layer_selector == repo.spec.layer_selector,
    }
}

async fn apply(repo: Arc<OCIRepository>, ctx: &Context) -> Result<Outcome, Error> {
    let namespace = repo.namespace().unwrap_or_default();
    let name = repo.name_any();
    let interval = parse_duration(&repo.spec.interval).unwrap_or(Duration::from_secs(60));
    let mut status = repo.status.clone().unwrap_or_default();
    if repo.spec.suspend {
        let ready =
            driftless_api::condition::find(&status.conditions, driftless_api::condition::READY)
                .map(|c| c.status == "True");
        ctx.metrics
            .set_object_state(KIND, &namespace, &name, ready, true);
        return Ok(Outcome::done(Action::await_change()));
    }
    let generation = repo.meta().generation;
    let now = Timestamp::now();
    let previous_revision = status.artifact.as_ref().map(|a| a.revision.clone());
    let outcome = match parse_duration(&repo.spec.timeout) {
        Ok(timeout) => {
            let started = Instant::now();
            let pulled = pull(&repo, ctx, &current(&repo, &status), timeout).await;
            ctx.metrics
                .git_fetch_duration
                .with_label_values(&[KIND])
                .observe(started.elapsed().as_secs_f64());
            pulled
        }
        Err(e) => Err(Error::InvalidSpec(format!("spec.timeout: {e}"))),
    };
    match &outcome {
        Ok(pulled) => {
            tracing::Span::current().record("revision", pulled.artifact.revision.as_str());
            ctx.cache.pin(
                OwnerKey::object(KIND, &namespace, &name),
                pulled.artifact.digest.clone(),
            );
            let published = status_artifact(
                &namespace,
                &name,
                pulled,
                ctx,
                status.artifact.as_ref(),
                now,
            );
            let message = format!("stored artifact for revision '{}'", published.revision);
            status::conditions_on_success(&mut status.conditions, &message, generation, now);
            status.artifact = Some(published);
            status.observed_ignore = repo.spec.ignore.clone();
            status.observed_layer_selector = repo.spec.layer_selector.clone();
        }
        Err(err) => status::conditions_on_failure(&mut status.conditions, err, generation, now),
    }
    status.observed_generation = generation;
    status.reconcile_request.last_handled_reconcile_at = requested_at(repo.as_ref());
    let api: Api<OCIRepository> = Api::namespaced(ctx.client.clone(), &namespace);
    apply_status(&api, &name, &status)
        .await
        .map_err(|source| Error::Kube {
            action: format!("writing status of OCIRepository {namespace}/{name}"),
            source,
        })?;
    publish_outcome(ctx, &repo, &outcome, previous_revision.as_deref()).await;
    ctx.metrics
        .set_object_state(KIND, &namespace, &name, Some(outcome.is_ok()), false);
    let action = match &outcome {
        Ok(_) => Action::requeue(interval),
        Err(_) => Action::requeue(interval.min(Duration::from_secs(60))),
    };
    Ok(Outcome::of(action, &outcome))
}

/// The status artifact of a pull; `lastUpdateTime` only moves when the content does.
fn status_artifact(
    namespace: &str,
    name: &str,
    pulled: &Pulled,
    ctx: &Context,
    previous: Option<&StatusArtifact>,
    now: Timestamp,
) -> StatusArtifact {
    let artifact = &pulled.artifact;
    let digest = artifact.digest.to_string();
    let last_update_time = previous
        .filter(|p| p.digest.as_deref() == Some(digest.as_str()) && p.revision == artifact.revision)
        .map(|p| p.last_update_time.clone())
        .unwrap_or_else(|| now.to_string());
    StatusArtifact {
        path: format!(
            "ocirepository/{namespace}/{name}/{}.tar.gz",
            artifact.digest.hex()
        ),
        url: format!(
            "{}/artifacts/ocirepository/{namespace}/{name}/{}.tar.gz",
            ctx.artifact_base_url.trim_end_matches('/'),
            artifact.digest.hex()
        ),
        revision: artifact.revision.clone(),
        digest: Some(digest),
        last_update_time,
        size: i64::try_from(artifact.size).ok(),
        metadata: pulled.annotations.clone(),
    }
}

async fn publish_outcome(
    ctx: &Context,
    repo: &OCIRepository,
    outcome: &Result<Pulled, Error>,
    previous_revision: Option<&str>,
) {
    let reference = repo.object_ref(&());
    match outcome {
        Ok(pulled) if previous_revision != Some(pulled.artifact.revision.as_str()) => {
            let message = format!(
                "stored artifact with revision '{}' from '{}'",
                pulled.artifact.revision, repo.spec.url
            );
            ctx.recorder
                .publish(
                    &reference,
                    Severity::Info,
                    "NewArtifact",
                    &message,
                    Some(&pulled.artifact.revision),
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
                    previous_revision,
                )
                .await;
        }
    }
}

async fn cleanup(repo: Arc<OCIRepository>, ctx: &Context) -> Result<Action, Error> {
    let namespace = repo.namespace().unwrap_or_default();
    let name = repo.name_any();
    ctx.cache.unpin(&OwnerKey::object(KIND, &namespace, &name));
    ctx.metrics.forget_object(KIND, &namespace, &name);
    Ok(Action::await_change())
}
