//! The GitRepository controller loop: finalizer dispatch, fetch, status, events, metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use driftless_api::GitRepository;
use driftless_api::duration::parse_duration;
use driftless_api::source::GitRepositoryStatus;
use driftless_runtime::events::Severity;
use driftless_runtime::object::{apply_status, requested_at};
use driftless_runtime::reconcile::{Outcome, finalized, retry_after_error};
use driftless_source::OwnerKey;
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource, ResourceExt};

use crate::{Context, Error, credentials, include, status};

const KIND: &str = "GitRepository";

/// Runs the GitRepository controller until `shutdown` resolves. `api` chooses the
/// namespaces to watch, `watch` the label selector.
pub async fn run(
    ctx: Arc<Context>,
    api: Api<GitRepository>,
    watch: watcher::Config,
    ready: impl FnOnce() + Send + 'static,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    // A change of a GitRepository (its status included, which the trigger filter ignores)
    // requeues the GitRepositories that include it; the watch's store already holds the
    // change when they run, so they see the new artifact.
    let (includers, requeues) = tokio::sync::mpsc::unbounded_channel();
    let published = ctx.published.clone();
    let (stream, reader) = driftless_runtime::watch::observed_trigger_stream(
        api,
        watch,
        ready,
        move |repo: &GitRepository| {
            let namespace = repo.namespace().unwrap_or_default();
            for includer in published.includers_of(&namespace, &repo.name_any()) {
                let _ = includers.send(includer);
            }
        },
    );
    ctx.published.register(reader.clone());
    Controller::for_stream(stream, reader)
        .reconcile_on(futures::stream::unfold(requeues, |mut rx| async move {
            rx.recv().await.map(|next| (next, rx))
        }))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, retry_after_error, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

async fn reconcile(repo: Arc<GitRepository>, ctx: Arc<Context>) -> Result<Action, Error> {
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

async fn apply(repo: Arc<GitRepository>, ctx: &Context) -> Result<Outcome, Error> {
    let namespace = repo.namespace().unwrap_or_default();
    let name = repo.name_any();
    let interval = parse_duration(&repo.spec.interval).unwrap_or(Duration::from_secs(60));
    let mut status = repo.status.clone().unwrap_or_default();
    let ready_before =
        driftless_api::condition::find(&status.conditions, driftless_api::condition::READY)
            .map(|c| c.status == "True");
    if repo.spec.suspend {
        ctx.metrics
            .set_object_state(KIND, &namespace, &name, ready_before, true);
        return Ok(Outcome::done(Action::await_change()));
    }
    let generation = repo.meta().generation;
    let now = Timestamp::now();
    let outcome = fetch_with_includes(&repo, ctx).await;
    let previous_revision = status.artifact.as_ref().map(|a| a.revision.clone());
    let previous_digest = status.artifact.as_ref().and_then(|a| a.digest.clone());
    match &outcome {
        Ok((artifact, included)) => {
            tracing::Span::current().record("revision", artifact.revision.as_str());
            ctx.cache.pin(
                OwnerKey::object(KIND, &namespace, &name),
                artifact.digest.clone(),
            );
            status.included_artifacts = included.iter().map(|i| i.status.clone()).collect();
            let published = status::status_artifact(
                &namespace,
                &name,
                artifact,
                &ctx.artifact_base_url,
                status.artifact.as_ref(),
                now,
            );
            status::record_success(&mut status, published, generation, &repo.spec, now);
            status::record_verification(
                &mut status,
                repo.spec
                    .verify
                    .as_ref()
                    .map(|v| v.mode.unwrap_or_default()),
                artifact.verified.as_deref(),
                generation,
                now,
            );
        }
        Err(err) => status::record_failure(&mut status, err, generation, now),
    }
    status.reconcile_request.last_handled_reconcile_at = requested_at(repo.as_ref());
    // Only when it changed: a poll that found the same revision writes nothing.
    if repo.status.as_ref() != Some(&status) {
        write_status(ctx, &namespace, &name, &status).await?;
    }
    let outcome = outcome.map(|(artifact, _)| artifact);
    publish_outcome(
        ctx,
        &repo,
        &outcome,
        previous_revision.as_deref(),
        previous_digest.as_deref(),
    )
    .await;
    let stats = ctx.cache.stats();
    ctx.metrics.source_cache_hits.set(stats.hits as i64);
    ctx.metrics.source_cache_misses.set(stats.misses as i64);
    ctx.metrics.source_cache_bytes.set(stats.bytes as i64);
    ctx.metrics.source_cache_fetches.set(stats.fetches as i64);
    ctx.metrics
        .source_cache_checkouts
        .set(stats.checkouts as i64);
    ctx.metrics
        .source_cache_ref_lists
        .set(stats.ref_lists as i64);
    ctx.metrics
        .set_object_state(KIND, &namespace, &name, Some(outcome.is_ok()), false);
    let action = match outcome {
        Ok(_) => Action::requeue(interval),
        // Retry sooner than a long interval, but never hammer a failing server.
        Err(_) => Action::requeue(interval.min(Duration::from_secs(60))),
    };
    Ok(Outcome::of(action, &outcome))
}

/// Key of the pin that keeps the checkout an include-composed artifact is built from.
const INCLUDE_BASE: &str = "GitRepository/include-base";

/// The includes first (cheap, from the watch cache, as Flux checks them before cloning),
/// then the fetch, then the includes copied in.
async fn fetch_with_includes(
    repo: &GitRepository,
    ctx: &Context,
) -> Result<(driftless_source::Artifact, Vec<include::Resolved>), Error> {
    let included = include::resolve(repo, &ctx.published)?;
    let base = fetch(repo, ctx).await?;
    let namespace = repo.namespace().unwrap_or_default();
    let base_owner = OwnerKey::object(INCLUDE_BASE, &namespace, &repo.name_any());
    if included.is_empty() {
        ctx.cache.unpin(&base_owner);
        return Ok((base, included));
    }
    // The checkout stays while it is the base, so a poll does not check it out again.
    ctx.cache.pin(base_owner, base.digest.clone());
    let composed = ctx
        .cache
        .compose(driftless_source::ComposeRequest {
            base,
            includes: included.iter().map(|i| i.artifact.clone()).collect(),
            ignore: repo.spec.ignore.clone(),
        })
        .await?;
    Ok((composed, included))
}

async fn fetch(repo: &GitRepository, ctx: &Context) -> Result<driftless_source::Artifact, Error> {
    let namespace = repo.namespace().unwrap_or_default();
    // The URL policy first: a refused URL is never connected to (nor its host resolved
    // when it is refused as written).
    let target = ctx.url_policy.check_git_url("spec.url", &repo.spec.url)?;
    ctx.url_policy
        .resolve("spec.url", &repo.spec.url, &target)
        .await?;
    let auth = match &repo.spec.secret_ref {
        Some(secret) => Some(credentials::load(&ctx.client, &namespace, &secret.name).await?),
        None => None,
    };
    let mut req = status::fetch_request(&repo.spec, auth)?;
    req.owner = Some(OwnerKey::object(KIND, &namespace, &repo.name_any()));
    if req.recurse_submodules {
        req.submodule_url_check = Some(submodule_url_check(ctx));
    }
    if let Some(verify) = &repo.spec.verify {
        let keys = credentials::load_trusted_keys(&ctx.client, &namespace, &verify.secret_ref.name)
            .await?;
        req.verify = Some(driftless_source::Verification {
            mode: status::verify_mode(verify.mode),
            keys,
        });
    }
    let started = Instant::now();
    let artifact = ctx.cache.fetch(req).await?;
    ctx.metrics
        .git_fetch_duration
        .with_label_values(&[KIND])
        .observe(started.elapsed().as_secs_f64());
    Ok(artifact)
}

/// The URL policy of `spec.url`, for submodule URLs: called on the cache's blocking
/// thread, so the `--denied-cidrs` resolution runs on the runtime through a handle.
fn submodule_url_check(ctx: &Context) -> driftless_source::submodules::SubmoduleUrlCheck {
    let policy = ctx.url_policy.clone();
    let handle = tokio::runtime::Handle::current();
    Arc::new(move |url: &str| {
        let field = "submodule url";
        let target = policy
            .check_git_url(field, url)
            .map_err(|e| e.to_string())?;
        handle
            .block_on(policy.resolve(field, url, &target))
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

async fn write_status(
    ctx: &Context,
    namespace: &str,
    name: &str,
    status: &GitRepositoryStatus,
) -> Result<(), Error> {
    let api: Api<GitRepository> = Api::namespaced(ctx.client.clone(), namespace);
    apply_status(&api, name, status)
        .await
        .map_err(|source| Error::Kube {
            action: format!("writing status of GitRepository {namespace}/{name}"),
            source,
        })?;
    Ok(())
}

async fn publish_outcome(
    ctx: &Context,
    repo: &GitRepository,
    outcome: &Result<driftless_source::Artifact, Error>,
    previous_revision: Option<&str>,
    previous_digest: Option<&str>,
) {
    let reference = repo.object_ref(&());
    match outcome {
        // A new commit, or new content at the same commit (an included artifact changed).
        Ok(artifact)
            if previous_revision != Some(artifact.revision.as_str())
                || previous_digest != Some(artifact.digest.to_string().as_str()) =>
        {
            let message = format!("stored artifact for revision '{}'", artifact.revision);
            ctx.recorder
                .publish(
                    &reference,
                    Severity::Info,
                    "NewArtifact",
                    &message,
                    Some(&artifact.revision),
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

async fn cleanup(repo: Arc<GitRepository>, ctx: &Context) -> Result<Action, Error> {
    let namespace = repo.namespace().unwrap_or_default();
    let name = repo.name_any();
    ctx.cache.unpin(&OwnerKey::object(KIND, &namespace, &name));
    ctx.cache
        .unpin(&OwnerKey::object(INCLUDE_BASE, &namespace, &name));
    ctx.metrics.forget_object(KIND, &namespace, &name);
    Ok(Action::await_change())
}
