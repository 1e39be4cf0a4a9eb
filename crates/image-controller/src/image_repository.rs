//! The ImageRepository controller: scan the registry's tags on an interval, keep them in the
//! [`TagStore`](crate::tag_store::TagStore), report the scan in status.

use std::sync::Arc;
use std::time::Duration;

use driftless_api::ImageRepository;
use driftless_api::duration::parse_duration;
use driftless_api::image::{ImageRepositoryStatus, ScanResult};
use driftless_runtime::events::Severity;
use driftless_runtime::object::{apply_status, requested_at};
use driftless_runtime::reconcile::{Outcome, finalized, retry_after_error};
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource, ResourceExt};

use crate::registry::{ExclusionList, ImageName, TagListRequest, list_tags};
use crate::tag_store::ScannedTags;
use crate::{Context, Error, conditions, secret_credentials};

const KIND: &str = "ImageRepository";
/// Tags shown in `status.lastScanResult.latestTags`.
const LATEST_TAGS: usize = 10;

/// Runs the ImageRepository controller until `shutdown` resolves. `api` chooses the
/// namespaces to watch, `watch` the label selector.
pub async fn run(
    ctx: Arc<Context>,
    api: Api<ImageRepository>,
    watch: watcher::Config,
    ready: impl FnOnce() + Send + 'static,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (stream, reader) = driftless_runtime::watch::trigger_stream(api, watch, ready);
    Controller::for_stream(stream, reader)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, retry_after_error, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

async fn reconcile(repo: Arc<ImageRepository>, ctx: Arc<Context>) -> Result<Action, Error> {
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

async fn apply(repo: Arc<ImageRepository>, ctx: &Context) -> Result<Outcome, Error> {
    let namespace = repo.namespace().unwrap_or_default();
    let name = repo.name_any();
    let interval = parse_duration(&repo.spec.interval).unwrap_or(Duration::from_secs(60));
    let mut status = repo.status.clone().unwrap_or_default();
    if repo.spec.suspend {
        ctx.metrics.set_object_state(
            KIND,
            &namespace,
            &name,
            conditions::ready(&status.conditions),
            true,
        );
        return Ok(Outcome::done(Action::await_change()));
    }
    let generation = repo.meta().generation;
    let requested = requested_at(repo.as_ref());
    let now = Timestamp::now();
    if let Some(wait) = scan_not_due(&repo, &status, ctx, interval, requested.as_deref(), now).await
    {
        // Restarted within the interval: the stored tags still answer policies.
        ctx.metrics.set_object_state(
            KIND,
            &namespace,
            &name,
            conditions::ready(&status.conditions),
            false,
        );
        return Ok(Outcome::done(Action::requeue(wait)));
    }
    let previous_revision = status.last_scan_result.as_ref().map(|s| s.revision.clone());
    let outcome = scan(&repo, ctx, interval).await;
    match &outcome {
        Ok((image, scan)) => {
            tracing::Span::current().record("revision", scan.revision.as_str());
            status.canonical_image_name = Some(image.canonical());
            status.last_scan_result = Some(scan_result(scan, now));
            status.observed_exclusion_list = repo.spec.exclusion_list.clone();
            status.observed_generation = generation;
            let message = format!("successful scan: found {} tags", scan.tags.len());
            conditions::record_ready(&mut status.conditions, &message, generation, now);
        }
        Err(err) => {
            status.observed_generation = generation;
            conditions::record_failure(&mut status.conditions, err, generation, now);
        }
    }
    status.reconcile_request.last_handled_reconcile_at = requested;
    write_status(ctx, &namespace, &name, &status).await?;
    let reference = repo.object_ref(&());
    match &outcome {
        Ok((image, scan)) if previous_revision.as_deref() != Some(scan.revision.as_str()) => {
            let message = format!("found {} tags for '{}'", scan.tags.len(), image.canonical());
            ctx.recorder
                .publish(
                    &reference,
                    Severity::Info,
                    "Succeeded",
                    &message,
                    Some(&scan.revision),
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
        Ok(_) => Action::requeue(interval),
        Err(err) if err.is_stalling() => Action::await_change(),
        Err(_) => Action::requeue(interval.min(Duration::from_secs(60))),
    };
    Ok(Outcome::of(action, &outcome))
}

/// When the last successful scan is younger than the interval, for the same spec and with no
/// new reconcile request, and its tags are in the store: how long until the next scan is due.
async fn scan_not_due(
    repo: &ImageRepository,
    status: &ImageRepositoryStatus,
    ctx: &Context,
    interval: Duration,
    requested: Option<&str>,
    now: Timestamp,
) -> Option<Duration> {
    let last = status.last_scan_result.as_ref()?;
    if status.observed_generation != repo.meta().generation
        || requested
            != status
                .reconcile_request
                .last_handled_reconcile_at
                .as_deref()
        || conditions::ready(&status.conditions) != Some(true)
    {
        return None;
    }
    let scanned: Timestamp = last.scan_time.parse().ok()?;
    let age = Duration::try_from(now.duration_since(scanned)).ok()?;
    let wait = interval.checked_sub(age).filter(|w| !w.is_zero())?;
    let stored = ctx
        .tags
        .get(&repo.namespace().unwrap_or_default(), &repo.name_any())
        .await
        .ok()??;
    (stored.revision == last.revision).then_some(wait)
}

async fn scan(
    repo: &ImageRepository,
    ctx: &Context,
    interval: Duration,
) -> Result<(ImageName, Arc<ScannedTags>), Error> {
    let namespace = repo.namespace().unwrap_or_default();
    let image = ImageName::parse(&repo.spec.image)?;
    let exclusions = ExclusionList::new(&repo.spec.exclusion_list)?;
    let timeout = match &repo.spec.timeout {
        Some(t) => {
            parse_duration(t).map_err(|e| Error::InvalidSpec(format!("spec.timeout: {e}")))?
        }
        None => interval,
    };
    let credentials = match &repo.spec.secret_ref {
        Some(secret) => Some(
            secret_credentials::load(&ctx.client, &namespace, &secret.name, &image.registry)
                .await?,
        ),
        None => None,
    };
    let request = TagListRequest {
        image: &image,
        insecure: repo.spec.insecure,
        credentials: credentials.as_ref(),
        timeout,
        page_size: crate::registry::DEFAULT_PAGE_SIZE,
        policy: &ctx.url_policy,
        max_response_bytes: ctx.max_registry_response_bytes,
    };
    let tags = list_tags(&ctx.http, &request).await?;
    let kept = tags.into_iter().filter(|t| exclusions.keeps(t)).collect();
    let scan = ScannedTags::new(image.canonical(), kept);
    let stored = ctx.tags.put(&namespace, &repo.name_any(), scan).await?;
    Ok((image, stored))
}

/// `status.lastScanResult` for a scan; `latestTags` are the ten greatest in reverse order.
pub fn scan_result(scan: &ScannedTags, now: Timestamp) -> ScanResult {
    ScanResult {
        revision: scan.revision.clone(),
        tag_count: i64::try_from(scan.tags.len()).unwrap_or(i64::MAX),
        scan_time: now.to_string(),
        latest_tags: scan.tags.iter().rev().take(LATEST_TAGS).cloned().collect(),
    }
}

async fn write_status(
    ctx: &Context,
    namespace: &str,
    name: &str,
    status: &ImageRepositoryStatus,
) -> Result<(), Error> {
    let api: Api<ImageRepository> = Api::namespaced(ctx.client.clone(), namespace);
    apply_status(&api, name, status)
        .await
        .map_err(|source| Error::Kube {
            action: format!("writing status of ImageRepository {namespace}/{name}"),
            source,
        })?;
    Ok(())
}

async fn cleanup(repo: Arc<ImageRepository>, ctx: &Context) -> Result<Action, Error> {
    let namespace = repo.namespace().unwrap_or_default();
    let name = repo.name_any();
    ctx.tags.remove(&namespace, &name).await;
    ctx.metrics.forget_object(KIND, &namespace, &name);
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_tags_are_the_ten_greatest_reversed() {
        let tags = (0..25).map(|i| format!("1.0.{i:02}")).collect();
        let scan = ScannedTags::new("r/app".into(), tags);
        let result = scan_result(&scan, Timestamp::from_second(0).unwrap());
        assert_eq!(result.tag_count, 25);
        assert_eq!(result.latest_tags.len(), 10);
        assert_eq!(
            result.latest_tags.first().map(String::as_str),
            Some("1.0.24")
        );
        assert_eq!(
            result.latest_tags.last().map(String::as_str),
            Some("1.0.15")
        );
        assert_eq!(result.scan_time, "1970-01-01T00:00:00Z");
    }
}
