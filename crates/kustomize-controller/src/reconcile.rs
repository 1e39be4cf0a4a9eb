//! The Kustomization controller loop: source → build → substitute → dry-run and apply →
//! prune → health → status, with finalizer-driven pruning on delete.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use driftless_api::condition;
use driftless_api::duration::parse_duration;
use driftless_api::kustomize::{KustomizationStatus, ResourceRef, SubstituteKind};
use driftless_api::meta::{Artifact as StatusArtifact, SourceKind};
use driftless_api::{GitRepository, Kustomization, OCIRepository};
use driftless_apply::{
    Action as ApplyAction, Applier, ApplyOptions, ChangeSet, ObjectRef, Owner, PruneAction,
    PruneEntry,
};
use driftless_runtime::events::Severity;
use driftless_runtime::object::{apply_status, requested_at};
use driftless_runtime::reconcile::{Outcome, Retry, finalized, retry_after_error};
use driftless_source::Digest;
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::reflector::{ObjectRef as KubeRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio_stream_compat::UnboundedReceiverStream;

use crate::applied::{AppliedRecords, Full};
use crate::drift::DriftWatch;
use crate::health_exprs::HealthExprs;
use crate::identity::identity_of;
use crate::written::WrittenStatuses;
use crate::{Context, Error, build, decryption, deletion, remote, status, substitute};

const KIND: &str = "Kustomization";
/// How soon to look again while a dependency or the source is not ready.
const DEPENDENCY_REQUEUE: Duration = Duration::from_secs(5);

/// Runs the Kustomization controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    api: Api<Kustomization>,
    repos: Api<GitRepository>,
    oci_repos: Api<OCIRepository>,
    watch: watcher::Config,
    ready: impl FnOnce() + Send + 'static,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (stream, reader) = driftless_runtime::watch::trigger_stream(api, watch.clone(), ready);
    let (drift, requeues) = DriftWatch::new(ctx.clients.controller().clone());
    // Sources (GitRepositories and OCIRepositories) are read from these watches' stores,
    // never with a GET per reconcile; a change of one requeues the Kustomizations that use it.
    let (repo_store, repo_users) = source_cache(repos, watch.clone(), &reader);
    let (oci_store, oci_users) = source_cache(oci_repos, watch.clone(), &reader);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let config = ControllerConfig::default()
        .debounce(Duration::from_millis(200))
        .concurrency(ctx.concurrent);
    let shutdown = shutdown.boxed().shared();
    let state = Arc::new(State {
        records: AppliedRecords::new(ctx.full_resync),
        written: WrittenStatuses::default(),
        ctx,
        drift,
        builds: tokio::sync::Semaphore::new(cores * 2),
        shutdown: shutdown.clone(),
        kustomizations: reader.clone(),
        repos: repo_store,
        oci_repos: oci_store,
    });
    let requeues = futures::stream::select(
        UnboundedReceiverStream::new(requeues),
        futures::stream::select(repo_users, oci_users),
    );
    Controller::for_stream(stream, reader)
        .with_config(config)
        .reconcile_on(requeues)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, retry_after_error, state)
        .for_each(|_| futures::future::ready(()))
        .await;
}

struct State {
    ctx: Arc<Context>,
    drift: DriftWatch,
    /// Bounds concurrent kustomize builds (CPU-bound, on blocking threads) to twice the
    /// cores: more only adds threads, memory and contention.
    builds: tokio::sync::Semaphore,
    /// Resolves when the process shuts down: a health wait stops early (the inventory is
    /// already in status, so nothing is forgotten).
    shutdown: Shared<BoxFuture<'static, ()>>,
    /// What each Kustomization last applied (skips unchanged, undrifted objects).
    records: AppliedRecords,
    /// The status each Kustomization was last written with (skips writing it again).
    written: WrittenStatuses,
    /// The controller's own watch cache of Kustomizations (dependsOn is read from it).
    kustomizations: Store<Kustomization>,
    /// A watch cache of GitRepositories (sources are read from it).
    repos: Store<GitRepository>,
    /// A watch cache of OCIRepositories (sources are read from it).
    oci_repos: Store<OCIRepository>,
}

/// A source kind that a Kustomization's sourceRef names.
trait Source:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
    /// The sourceRef kind naming this type.
    const KIND: SourceKind;
}

impl Source for GitRepository {
    const KIND: SourceKind = SourceKind::GitRepository;
}

impl Source for OCIRepository {
    const KIND: SourceKind = SourceKind::OCIRepository;
}

/// A reflector store of the sources of one kind, and the stream of Kustomizations to
/// requeue when one of them changes (the stream drives the watch).
fn source_cache<S: Source>(
    api: Api<S>,
    watch: watcher::Config,
    kustomizations: &Store<Kustomization>,
) -> (
    Store<S>,
    impl futures::Stream<Item = KubeRef<Kustomization>> + Send + 'static,
) {
    let (store, writer) = kube::runtime::reflector::store();
    let users = kustomizations.clone();
    let requeues = watcher(api, watch)
        .default_backoff()
        .reflect(writer)
        .touched_objects()
        .filter_map(|source| futures::future::ready(source.ok()))
        .flat_map(move |source| futures::stream::iter(users_of(&users, S::KIND, &source)));
    (store, requeues)
}

/// A source from the watch cache once it has listed; a GET only for a source it does not
/// hold (another namespace than this controller's scope, or not created yet). The wait for
/// the first list is bounded: a watch that cannot list (e.g. for lack of rights) falls back
/// to GETs.
async fn cached_source<S: Source>(
    store: &Store<S>,
    client: Client,
    namespace: &str,
    name: &str,
) -> Result<Option<S>, kube::Error> {
    let _ = tokio::time::timeout(Duration::from_secs(10), store.wait_until_ready()).await;
    match store.get(&KubeRef::new(name).within(namespace)) {
        Some(source) => Ok(Some(S::clone(&source))),
        None => Api::<S>::namespaced(client, namespace).get_opt(name).await,
    }
}

/// The Kustomizations whose sourceRef names `repo` of `kind`.
fn users_of<K: Resource>(
    store: &Store<Kustomization>,
    kind: SourceKind,
    repo: &K,
) -> Vec<KubeRef<Kustomization>> {
    let repo_ns = repo.namespace().unwrap_or_default();
    let repo_name = repo.name_any();
    store
        .state()
        .iter()
        .filter(|ks| {
            let ns = ks.namespace().unwrap_or_default();
            let source = &ks.spec.source_ref;
            source.kind == kind
                && source.name == repo_name
                && source.namespace.as_deref().unwrap_or(&ns) == repo_ns
        })
        .map(|ks| KubeRef::from_obj(ks.as_ref()))
        .collect()
}

async fn reconcile(ks: Arc<Kustomization>, state: Arc<State>) -> Result<Action, Error> {
    let ctx = &state.ctx;
    finalized(
        ctx.clients.controller().clone(),
        ks,
        &ctx.metrics,
        Error::Finalizer,
        |ks| apply(ks, &state),
        |ks| {
            let uid = ks.uid().unwrap_or_default();
            state.records.forget(&uid);
            state.written.forget(&uid);
            deletion::cleanup(ks, ctx)
        },
    )
    .await
}

fn intervals(ks: &Kustomization) -> (Duration, Duration, Duration) {
    let interval = parse_duration(&ks.spec.interval).unwrap_or(Duration::from_secs(600));
    let retry = ks
        .spec
        .retry_interval
        .as_deref()
        .and_then(|r| parse_duration(r).ok())
        .unwrap_or(interval);
    let timeout = ks
        .spec
        .timeout
        .as_deref()
        .and_then(|t| parse_duration(t).ok())
        .unwrap_or(interval);
    (interval, retry, timeout)
}

async fn apply(ks: Arc<Kustomization>, state: &State) -> Result<Outcome, Error> {
    let ctx = &state.ctx;
    let namespace = ks.namespace().unwrap_or_default();
    let name = ks.name_any();
    let (interval, retry, timeout) = intervals(&ks);
    let mut st = ks.status.clone().unwrap_or_default();
    if ks.spec.suspend {
        let ready = condition::find(&st.conditions, condition::READY).map(|c| c.status == "True");
        ctx.metrics
            .set_object_state(KIND, &namespace, &name, ready, true);
        return Ok(Outcome::done(Action::await_change()));
    }
    let generation = ks.meta().generation;
    let mut revision = None;
    let outcome = sync(&ks, state, &mut st, &mut revision, timeout).await;
    let now = Timestamp::now();
    st.reconcile_request.last_handled_reconcile_at = requested_at(ks.as_ref());
    if let Err(Error::Interrupted) = &outcome {
        // Shutting down mid-wait: the status written before the wait stays as it is.
        return Ok(Outcome::of(Action::await_change(), &outcome)
            .with_retry(Retry::Fixed(DEPENDENCY_REQUEUE)));
    }
    let retry_policy = match &outcome {
        Ok(changes) => {
            let rev = revision.as_deref().unwrap_or_default();
            tracing::Span::current().record("revision", rev);
            status::record_applied(&mut st, rev, changes.checked_health, generation, now);
            Retry::Backoff
        }
        Err(err) => {
            status::record_failure(&mut st, revision.as_deref(), err, generation, now);
            match err {
                // Waiting for another object is not a failure to back off from.
                Error::DependencyNotReady(_) => Retry::Fixed(DEPENDENCY_REQUEUE),
                // The user chose how often to retry.
                _ if ks.spec.retry_interval.is_some() => Retry::Fixed(retry),
                // Back off from 5 s, but never wait longer than the interval (Flux's default).
                _ => Retry::BackoffAtMost(retry),
            }
        }
    };
    // Written once, and only when it changed: a periodic reconcile that found nothing to
    // do writes nothing.
    let uid = ks.uid().unwrap_or_default();
    let cached_version = ks.meta().resource_version.as_deref();
    if !state
        .written
        .unchanged(&uid, cached_version, ks.status.as_ref(), &st)
    {
        write_status(state, &uid, &namespace, &name, &st).await?;
    }
    ctx.metrics
        .set_object_state(KIND, &namespace, &name, Some(outcome.is_ok()), false);
    publish(ctx, &ks, &outcome, revision.as_deref()).await;
    Ok(Outcome::of(Action::requeue(interval), &outcome).with_retry(retry_policy))
}

/// What a successful sync did.
struct Synced {
    applied: ChangeSet,
    pruned: Vec<PruneEntry>,
    checked_health: bool,
}

async fn sync(
    ks: &Kustomization,
    state: &State,
    st: &mut KustomizationStatus,
    revision: &mut Option<String>,
    timeout: Duration,
) -> Result<Synced, Error> {
    let ctx = &state.ctx;
    let namespace = ks.namespace().unwrap_or_default();
    // Refused before anything else: no source is read for a Kustomization that may not apply.
    let uid = ks.uid().unwrap_or_default();
    let identity = identity_of(ks, &ctx.tenancy).inspect_err(|_| ctx.clients.release(&uid))?;
    // Refused before anything is read or applied: an expression that does not compile.
    let health_exprs = HealthExprs::compile(&ks.spec.health_check_exprs)?;
    // Likewise a `spec.ignore` rule that is not a valid JSON Pointer, regex or selector.
    let ignore = driftless_apply::IgnoreRules::compile(&ks.spec.ignore)?;
    check_dependencies(ks, state).await?;
    let (root, rev) = source_artifact(ks, state).await?;
    *revision = Some(rev);
    // Before building: an unreachable or refused remote fails here, naming it.
    let remote = remote::remote_client(ks, &ctx.clients, &identity).await?;

    let spec = ks.spec.clone();
    let build_root = root.clone();
    let lim = ctx.build_limits;
    let sops = decryption::keyring(ks, ctx.clients.controller())
        .await?
        .map(|k| Arc::new(decryption::SopsFilter::new(k)));
    let permit = state
        .builds
        .acquire()
        .await
        .map_err(|e| Error::Build(format!("build queue closed: {e}")))?;
    let started = Instant::now();
    let mut objects = tokio::task::spawn_blocking(move || {
        let filter = sops
            .clone()
            .map(|f| f as Arc<dyn driftless_kustomize::InputFilter>);
        let mut objects = build::build_filtered(&build_root, &spec, &lim, filter)?;
        decryption::decrypt_objects(&mut objects, sops.as_deref().map(|f| f.keyring()))?;
        Ok::<_, Error>(objects)
    })
    .await
    .map_err(|e| Error::Build(format!("build task failed: {e}")))??;
    ctx.metrics
        .kustomize_build_duration
        .with_label_values(&[KIND])
        .observe(started.elapsed().as_secs_f64());
    drop(permit);

    let client = ctx.clients.for_identity(&uid, &identity)?;
    if let Some(post_build) = &ks.spec.post_build {
        let vars = substitution_vars(&client, &namespace, post_build).await?;
        substitute::substitute_all(&mut objects, &vars)?;
    }

    let owner = Owner::new(ks.name_any(), namespace.clone());
    // Remote: objects go to the other cluster, whose kinds get a resolver of their own.
    let (client, resolver) = match &remote {
        Some(remote) => (remote.client.clone(), driftless_apply::Resolver::new()),
        None => (client, ctx.resolver.clone()),
    };
    let applier = Applier::new(client, resolver)
        .with_custom_health(health_exprs.map(|e| e as Arc<dyn driftless_apply::CustomHealth>));
    let mut options = ApplyOptions::new(
        ks.spec
            .target_namespace
            .clone()
            .unwrap_or_else(|| namespace.clone()),
    );
    options.force = ks.spec.force;
    options.wait_timeout = timeout;
    options.ignore = Arc::new(ignore);
    // The record holds for these ignore rules only: removing a rule must correct the fields
    // it let drift at the next reconcile, not at the next full resync.
    let identity_key = format!("{identity:?}/ignore:{}", ignore_key(&ks.spec.ignore));
    let requested = requested_at(ks);
    let full = if requested.is_some() && requested != st.reconcile_request.last_handled_reconcile_at
    {
        Full::Requested
    } else {
        Full::No
    };
    let known = state.records.known(&uid, &identity_key, full, |o, live| {
        state.drift.confirms(o, live)
    });
    let read_all = known.is_empty();
    options.known = Arc::new(known);
    let applied = match applier.apply(&owner, objects, &options).await {
        Ok(applied) => applied,
        Err(err) => {
            // Some objects may be written, some not: read them all next time.
            state.records.forget(&uid);
            return Err(err.into());
        }
    };
    state
        .records
        .record(&uid, &identity_key, &applied, read_all);
    if remote.is_none() {
        state.drift.expect(&applied);
    }
    count(ctx, &applied);
    if remote.is_none() {
        // Drift in a remote cluster is corrected at each interval (no watch there).
        watch_kinds(state, &applier, &applied).await;
    }

    let old: Vec<ResourceRef> = st
        .inventory
        .as_ref()
        .map(|i| i.entries.clone())
        .unwrap_or_default();
    let new = applied.inventory();
    let pruned = if ks.spec.prune {
        let stale = driftless_apply::diff(&old, &new);
        let pruned = applier.prune(&owner, &stale).await?;
        count_pruned(&ctx.metrics, &pruned);
        pruned
    } else {
        Vec::new()
    };
    let to_check: Vec<ObjectRef> = if ks.spec.wait {
        applied.changes.iter().map(|c| c.object.clone()).collect()
    } else {
        ks.spec
            .health_checks
            .iter()
            .map(|h| ObjectRef {
                group: driftless_apply::split_api_version(h.api_version.as_deref().unwrap_or("v1"))
                    .0
                    .to_owned(),
                version: driftless_apply::split_api_version(
                    h.api_version.as_deref().unwrap_or("v1"),
                )
                .1
                .to_owned(),
                kind: h.kind.clone(),
                namespace: Some(h.namespace.clone().unwrap_or_else(|| namespace.clone())),
                name: h.name.clone(),
            })
            .collect()
    };
    let checked_health = !to_check.is_empty();
    let rev = revision.clone().unwrap_or_default();
    let unchanged = st.inventory.as_ref().is_some_and(|i| i.entries == new)
        && st.last_attempted_revision.as_deref() == Some(rev.as_str());
    if checked_health && !unchanged {
        // Persist what was applied before a possibly long health wait: a crash or restart
        // during the wait must not forget objects that a later revision has to prune.
        status::record_progressing(st, &rev, new, ks.meta().generation, Timestamp::now());
        st.reconcile_request.last_handled_reconcile_at = requested_at(ks);
        let uid = ks.uid().unwrap_or_default();
        write_status(state, &uid, &namespace, &ks.name_any(), st).await?;
    } else {
        status::record_inventory(st, new);
    }
    if checked_health {
        tokio::select! {
            healthy = applier.wait_healthy(&to_check, timeout) => healthy?,
            () = state.shutdown.clone() => return Err(Error::Interrupted),
        }
    }
    Ok(Synced {
        applied,
        pruned,
        checked_health,
    })
}

/// A digest of `spec.ignore`, part of the applied record's key.
fn ignore_key(rules: &[driftless_api::kustomize::IgnoreRule]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(rules)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
}

fn count(ctx: &Context, applied: &ChangeSet) {
    for (action, label) in [
        (ApplyAction::Created, "created"),
        (ApplyAction::Configured, "configured"),
        (ApplyAction::Unchanged, "unchanged"),
    ] {
        let n = applied.with_action(action).len() as u64;
        if n > 0 {
            ctx.metrics
                .apply_objects_total
                .with_label_values(&[label])
                .inc_by(n);
        }
    }
}

async fn watch_kinds(state: &State, applier: &Applier, applied: &ChangeSet) {
    let mut kinds: Vec<&ObjectRef> = Vec::new();
    for change in &applied.changes {
        if !kinds.iter().any(|k| {
            k.group == change.object.group
                && k.version == change.object.version
                && k.kind == change.object.kind
        }) {
            kinds.push(&change.object);
        }
    }
    for object in kinds {
        if let Ok(Some(resolved)) = state.ctx.resolver.resolve(applier.client(), object).await {
            state.drift.ensure(&resolved.resource);
        }
    }
}

async fn check_dependencies(ks: &Kustomization, state: &State) -> Result<(), Error> {
    let ctx = &state.ctx;
    let namespace = ks.namespace().unwrap_or_default();
    for dep in &ks.spec.depends_on {
        let dep_ns = dep.namespace.clone().unwrap_or_else(|| namespace.clone());
        if ctx.tenancy.no_cross_namespace_refs && dep_ns != namespace {
            return Err(Error::AccessDenied(format!(
                "can't depend on Kustomization '{dep_ns}/{}': cross-namespace references are disabled",
                dep.name
            )));
        }
        // From the watch cache; a GET only for one it does not hold (another namespace
        // than this controller's scope).
        let found = match state
            .kustomizations
            .get(&KubeRef::new(&dep.name).within(&dep_ns))
        {
            Some(found) => Some(Kustomization::clone(&found)),
            None => {
                let api: Api<Kustomization> =
                    Api::namespaced(ctx.clients.controller().clone(), &dep_ns);
                api.get_opt(&dep.name).await.map_err(|source| Error::Kube {
                    action: format!("reading dependency Kustomization {dep_ns}/{}", dep.name),
                    source,
                })?
            }
        };
        let ready = found.as_ref().is_some_and(|d| {
            let st = d.status.clone().unwrap_or_default();
            condition::is_ready(&st.conditions) && st.observed_generation == d.meta().generation
        });
        if !ready {
            return Err(Error::DependencyNotReady(format!(
                "dependency 'Kustomization/{dep_ns}/{}' is not ready",
                dep.name
            )));
        }
    }
    Ok(())
}

/// The artifact directory and revision of the Kustomization's source.
async fn source_artifact(
    ks: &Kustomization,
    state: &State,
) -> Result<(std::path::PathBuf, String), Error> {
    let ctx = &state.ctx;
    let namespace = ks.namespace().unwrap_or_default();
    let source = &ks.spec.source_ref;
    let source_ns = source
        .namespace
        .clone()
        .unwrap_or_else(|| namespace.clone());
    let what = format!("{}/{source_ns}/{}", source.kind.as_str(), source.name);
    if ctx.tenancy.no_cross_namespace_refs && source_ns != namespace {
        return Err(Error::AccessDenied(format!(
            "can't access '{what}': cross-namespace references are disabled"
        )));
    }
    let client = ctx.clients.controller().clone();
    let read_error = |source| Error::Kube {
        action: format!("reading source {what}"),
        source,
    };
    let artifact: Option<Option<StatusArtifact>> = match source.kind {
        SourceKind::GitRepository => cached_source(&state.repos, client, &source_ns, &source.name)
            .await
            .map_err(read_error)?
            .map(|repo| repo.status.and_then(|s| s.artifact)),
        SourceKind::OCIRepository => {
            cached_source(&state.oci_repos, client, &source_ns, &source.name)
                .await
                .map_err(read_error)?
                .map(|repo| repo.status.and_then(|s| s.artifact))
        }
    };
    let artifact = artifact
        .ok_or_else(|| Error::DependencyNotReady(format!("source '{what}' not found")))?
        .ok_or_else(|| {
            Error::DependencyNotReady(format!("source '{what}' is not ready: no artifact yet"))
        })?;
    let digest = artifact
        .digest
        .as_deref()
        .and_then(Digest::parse)
        .ok_or_else(|| {
            Error::DependencyNotReady(format!("source '{what}' has an artifact without a digest"))
        })?;
    let dir = ctx.cache.artifact_dir(&digest).ok_or_else(|| {
        Error::DependencyNotReady(format!(
            "artifact {digest} of source '{what}' (revision '{}') is not in the source cache yet",
            artifact.revision
        ))
    })?;
    Ok((dir, artifact.revision))
}

/// Variables from `substituteFrom` (read as the tenant), overridden by inline `substitute`.
pub async fn substitution_vars(
    client: &Client,
    namespace: &str,
    post_build: &driftless_api::kustomize::PostBuild,
) -> Result<BTreeMap<String, String>, Error> {
    let mut vars = BTreeMap::new();
    for reference in &post_build.substitute_from {
        let what = format!("{:?} '{namespace}/{}'", reference.kind, reference.name);
        let data: Option<BTreeMap<String, String>> = match reference.kind {
            SubstituteKind::ConfigMap => {
                let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
                api.get_opt(&reference.name)
                    .await
                    .map_err(|e| Error::SubstituteFrom(format!("substituteFrom {what}: {e}")))?
                    .map(|cm| cm.data.unwrap_or_default())
            }
            SubstituteKind::Secret => {
                let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
                match api
                    .get_opt(&reference.name)
                    .await
                    .map_err(|e| Error::SubstituteFrom(format!("substituteFrom {what}: {e}")))?
                {
                    Some(secret) => Some(
                        secret
                            .data
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(k, v)| {
                                String::from_utf8(v.0).map(|v| (k.clone(), v)).map_err(|_| {
                                    Error::SubstituteFrom(format!(
                                        "substituteFrom {what}: key '{k}' is not UTF-8"
                                    ))
                                })
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                    None => None,
                }
            }
        };
        match data {
            Some(data) => vars.extend(data),
            None if reference.optional => {}
            None => {
                return Err(Error::SubstituteFrom(format!(
                    "substituteFrom {what} not found (set optional: true to tolerate it)"
                )));
            }
        }
    }
    vars.extend(post_build.substitute.clone());
    Ok(vars)
}

async fn write_status(
    state: &State,
    uid: &str,
    namespace: &str,
    name: &str,
    st: &KustomizationStatus,
) -> Result<(), Error> {
    let api: Api<Kustomization> =
        Api::namespaced(state.ctx.clients.controller().clone(), namespace);
    let written = apply_status(&api, name, st)
        .await
        .map_err(|source| Error::Kube {
            action: format!("writing status of Kustomization {namespace}/{name}"),
            source,
        })?;
    state
        .written
        .record(uid, written.meta().resource_version.as_deref(), st);
    Ok(())
}

/// Events: one per sync that changed something (listing the objects), one per failure.
async fn publish(
    ctx: &Context,
    ks: &Kustomization,
    outcome: &Result<Synced, Error>,
    revision: Option<&str>,
) {
    let reference = ks.object_ref(&());
    match outcome {
        Ok(synced) => {
            let mut lines = Vec::new();
            for action in [ApplyAction::Created, ApplyAction::Configured] {
                for object in synced.applied.with_action(action) {
                    lines.push(format!("{object} {action}"));
                }
            }
            for entry in &synced.pruned {
                if entry.action == PruneAction::Deleted {
                    lines.push(format!("{} pruned", entry.object));
                }
            }
            if !lines.is_empty() {
                ctx.recorder
                    .publish(
                        &reference,
                        Severity::Info,
                        "ReconciliationSucceeded",
                        &lines.join("\n"),
                        revision,
                    )
                    .await;
            }
        }
        Err(Error::DependencyNotReady(_)) => {}
        Err(err) => {
            ctx.recorder
                .publish(
                    &reference,
                    Severity::Error,
                    err.reason(),
                    &err.to_string(),
                    revision,
                )
                .await;
        }
    }
}

/// A `Stream` over an unbounded receiver (what `tokio-stream`'s wrapper does, in a few lines).
mod tokio_stream_compat {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::sync::mpsc::UnboundedReceiver;

    /// Adapts an [`UnboundedReceiver`] to a `Stream`.
    pub struct UnboundedReceiverStream<T>(UnboundedReceiver<T>);

    impl<T> UnboundedReceiverStream<T> {
        /// Wraps `rx`.
        pub fn new(rx: UnboundedReceiver<T>) -> Self {
            Self(rx)
        }
    }

    impl<T> futures::Stream for UnboundedReceiverStream<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
}

/// Counts what `pruned` deleted in `driftless_apply_objects_total{action="pruned"}`.
pub(crate) fn count_pruned(metrics: &driftless_runtime::Metrics, pruned: &[PruneEntry]) {
    let deleted = pruned
        .iter()
        .filter(|p| p.action == PruneAction::Deleted)
        .count();
    metrics
        .apply_objects_total
        .with_label_values(&["pruned"])
        .inc_by(deleted as u64);
}
