//! The ImageUpdateAutomation controller: on its interval and whenever a policy in its
//! namespace changes, bring the working clone of the GitRepository to the remote branch,
//! rewrite the setter markers under `update.path` to what the policies chose, and when
//! something changed commit and push. Nothing changed: no commit, no push.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use driftless_api::duration::parse_duration;
use driftless_api::image::{ImageRef, ImageUpdateAutomationStatus};
use driftless_api::{GitRepository, ImagePolicy, ImageUpdateAutomation};
use driftless_runtime::events::Severity;
use driftless_runtime::object::{apply_status, requested_at};
use driftless_runtime::reconcile::{Outcome, finalized, retry_after_error};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource, ResourceExt};

use crate::git::{Author, GitCredentials, WorkingClone, clone_dir, transport_for};
use crate::setters::{Change, PolicyKey, PolicyLookup, update_tree};
use crate::{Context, Error, commit_message, conditions, label_selector};

const KIND: &str = "ImageUpdateAutomation";
/// The branch Flux uses when neither the automation nor the GitRepository names one.
const DEFAULT_BRANCH: &str = "master";
/// Timeout of each git command.
const GIT_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the ImageUpdateAutomation controller until `shutdown` resolves. `api` chooses the
/// namespaces to watch (ImagePolicies are watched in the same scope), `watch` the label selector.
pub async fn run(
    ctx: Arc<Context>,
    api: Api<ImageUpdateAutomation>,
    watch: watcher::Config,
    ready: impl FnOnce() + Send + 'static,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let policies: Api<ImagePolicy> = match api.namespace() {
        Some(namespace) => Api::namespaced(ctx.client.clone(), namespace),
        None => Api::all(ctx.client.clone()),
    };
    let (stream, reader) = driftless_runtime::watch::trigger_stream(api, watch, ready);
    let automations = reader.clone();
    Controller::for_stream(stream, reader)
        .watches(
            policies,
            watcher::Config::default(),
            move |policy: ImagePolicy| {
                let namespace = policy.namespace();
                automations
                    .state()
                    .into_iter()
                    .filter(|a| a.namespace() == namespace)
                    .map(|a| ObjectRef::from_obj(a.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, retry_after_error, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

async fn reconcile(
    automation: Arc<ImageUpdateAutomation>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    finalized(
        ctx.client.clone(),
        automation,
        &ctx.metrics,
        Error::Finalizer,
        |automation| apply(automation, &ctx),
        |automation| std::future::ready(cleanup(automation, &ctx)),
    )
    .await
}

/// What one run did.
struct RunOutcome {
    /// The commit pushed, if any.
    pushed: Option<String>,
    /// The branch pushed to.
    branch: String,
    /// The values rewritten.
    changes: Vec<Change>,
    /// The selected policies and their images, by name.
    observed: BTreeMap<String, ImageRef>,
}

async fn apply(automation: Arc<ImageUpdateAutomation>, ctx: &Context) -> Result<Outcome, Error> {
    let namespace = automation.namespace().unwrap_or_default();
    let name = automation.name_any();
    let interval = parse_duration(&automation.spec.interval).unwrap_or(Duration::from_secs(60));
    let mut status = automation.status.clone().unwrap_or_default();
    if automation.spec.suspend {
        ctx.metrics.set_object_state(
            KIND,
            &namespace,
            &name,
            conditions::ready(&status.conditions),
            true,
        );
        return Ok(Outcome::done(Action::await_change()));
    }
    let generation = automation.meta().generation;
    let outcome = run_once(&automation, ctx).await;
    let now = Timestamp::now();
    status.last_automation_run_time = Some(now.to_string());
    match &outcome {
        Ok(run) => {
            let message = match &run.pushed {
                Some(commit) => format!(
                    "pushed commit '{}' to branch '{}'",
                    short(commit),
                    run.branch
                ),
                None => format!("no updates made; branch '{}' is up to date", run.branch),
            };
            if let Some(commit) = &run.pushed {
                tracing::Span::current().record("revision", commit.as_str());
                status.last_push_commit = Some(commit.clone());
                status.last_push_time = Some(now.to_string());
            }
            status.observed_policies = run.observed.clone();
            conditions::record_ready(&mut status.conditions, &message, generation, now);
        }
        Err(err) => conditions::record_failure(&mut status.conditions, err, generation, now),
    }
    status.observed_generation = generation;
    status.reconcile_request.last_handled_reconcile_at = requested_at(automation.as_ref());
    write_status(ctx, &namespace, &name, &status).await?;
    let reference = automation.object_ref(&());
    match &outcome {
        Ok(RunOutcome {
            pushed: Some(commit),
            branch,
            changes,
            ..
        }) => {
            let listed: Vec<String> = changes.iter().map(|c| format!("- {c}")).collect();
            let message = format!(
                "pushed commit '{}' to branch '{branch}'\n{}",
                short(commit),
                listed.join("\n")
            );
            ctx.recorder
                .publish(
                    &reference,
                    Severity::Info,
                    "Succeeded",
                    &message,
                    Some(commit),
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
        Err(_) => Action::requeue(interval.min(Duration::from_secs(60))),
        Ok(_) => Action::requeue(interval),
    };
    Ok(Outcome::of(action, &outcome))
}

async fn run_once(automation: &ImageUpdateAutomation, ctx: &Context) -> Result<RunOutcome, Error> {
    let namespace = automation.namespace().unwrap_or_default();
    let spec = &automation.spec;
    let source = &spec.source_ref;
    if source.kind != driftless_api::meta::SourceKind::GitRepository {
        return Err(Error::InvalidSpec(format!(
            "spec.sourceRef.kind: an ImageUpdateAutomation pushes to a GitRepository, not a {}",
            source.kind.as_str()
        )));
    }
    let source_ns = source
        .namespace
        .clone()
        .unwrap_or_else(|| namespace.clone());
    ctx.check_reference("spec.sourceRef", &namespace, &source_ns)?;
    let repository = Api::<GitRepository>::namespaced(ctx.client.clone(), &source_ns)
        .get_opt(&source.name)
        .await
        .map_err(|e| Error::Kube {
            action: format!("reading GitRepository {source_ns}/{}", source.name),
            source: e,
        })?
        .ok_or_else(|| {
            Error::DependencyNotReady(format!(
                "GitRepository '{source_ns}/{}' not found",
                source.name
            ))
        })?;
    // The URL pushed to is the GitRepository's: it passes the URL policy here, whatever
    // the source controller (maybe not running, maybe with other flags) made of it.
    let url = &repository.spec.url;
    let field = format!("GitRepository {source_ns}/{} spec.url", source.name);
    let target = ctx.url_policy.check_git_url(&field, url)?;
    let addrs = ctx
        .url_policy
        .resolve(&field, url, &target)
        .await
        .map_err(|e| match e {
            driftless_runtime::RuntimeError::Resolve { .. } => Error::Git {
                operation: "git fetch from origin".to_owned(),
                message: e.to_string(),
            },
            refusal => Error::from(refusal),
        })?;
    let transport = transport_for(&ctx.url_policy, &target, &addrs);
    let checkout = checkout_branch(automation, &repository)?;
    let push = spec
        .git
        .push
        .as_ref()
        .and_then(|p| p.branch.clone())
        .unwrap_or_else(|| checkout.clone());
    let credentials = match &repository.spec.secret_ref {
        Some(secret) => git_credentials(ctx, &source_ns, &secret.name).await?,
        None => GitCredentials::default(),
    };
    let (images, known) = policies(automation, ctx, &namespace).await?;
    let observed = images
        .iter()
        .map(|(k, v)| (k.name.clone(), v.clone()))
        .collect();
    let author = Author {
        name: spec
            .git
            .commit
            .author
            .name
            .clone()
            .unwrap_or_else(|| "driftless".to_owned()),
        email: spec.git.commit.author.email.clone(),
    };
    // Validate the template before touching the clone: a bad template is a spec error.
    commit_message::render(spec.git.commit.message_template.as_deref(), "", &[])?;

    let dir = clone_dir(&ctx.storage, url, &checkout);
    let lock = ctx.clones.lock_for(&dir);
    let _guard = lock.lock().await;
    let clone = WorkingClone::open_with(&dir, url, credentials, GIT_TIMEOUT, transport).await?;
    clone.reset_to_remote(&checkout, &push).await?;
    let path = spec.update.as_ref().and_then(|u| u.path.clone());
    let (root, default_ns) = (clone.dir().to_path_buf(), namespace.clone());
    let changes = tokio::task::spawn_blocking(move || {
        // Markers naming another namespace belong to that namespace's automations.
        let lookup = |key: &PolicyKey| match images.get(key) {
            Some(image) => PolicyLookup::Image(image),
            None if key.namespace != default_ns || known.contains(&key.name) => PolicyLookup::Skip,
            None => PolicyLookup::Missing,
        };
        update_tree(&root, path.as_deref(), &default_ns, &lookup)
    })
    .await
    .map_err(|e| Error::Io {
        action: "rewriting setters in",
        path: dir.display().to_string(),
        source: std::io::Error::other(e),
    })??;
    if changes.is_empty() {
        return Ok(RunOutcome {
            pushed: None,
            branch: push,
            changes,
            observed,
        });
    }
    let automation_name = format!("{namespace}/{}", automation.name_any());
    let message = commit_message::render(
        spec.git.commit.message_template.as_deref(),
        &automation_name,
        &changes,
    )?;
    let pushed = match clone.commit(&author, &message).await? {
        Some(_) => Some(clone.push(&push, &author).await?),
        None => None,
    };
    Ok(RunOutcome {
        pushed,
        branch: push,
        changes,
        observed,
    })
}

/// The branch to check out: the automation's, else the GitRepository's, else `master`.
fn checkout_branch(
    automation: &ImageUpdateAutomation,
    repository: &GitRepository,
) -> Result<String, Error> {
    if let Some(checkout) = &automation.spec.git.checkout {
        return checkout.reference.branch.clone().ok_or_else(|| {
            Error::InvalidSpec(
                "spec.git.checkout.ref: only a branch can be checked out for updates".to_owned(),
            )
        });
    }
    Ok(repository
        .spec
        .reference
        .as_ref()
        .and_then(|r| r.branch.clone())
        .unwrap_or_else(|| DEFAULT_BRANCH.to_owned()))
}

/// The selected policies with a chosen image, and the names of every policy in the namespace.
async fn policies(
    automation: &ImageUpdateAutomation,
    ctx: &Context,
    namespace: &str,
) -> Result<(BTreeMap<PolicyKey, ImageRef>, BTreeSet<String>), Error> {
    let api: Api<ImagePolicy> = Api::namespaced(ctx.client.clone(), namespace);
    let list_error = |source| Error::Kube {
        action: format!("listing ImagePolicies in {namespace}"),
        source,
    };
    let all = api.list(&ListParams::default()).await.map_err(list_error)?;
    let known = all.items.iter().map(ResourceExt::name_any).collect();
    let selected = match &automation.spec.policy_selector {
        Some(selector) => {
            let query = label_selector::to_query(selector, "spec.policySelector")?;
            api.list(&ListParams::default().labels(&query))
                .await
                .map_err(list_error)?
                .items
        }
        None => all.items,
    };
    let images = selected
        .into_iter()
        .filter_map(|p| {
            let latest = p.status.as_ref()?.latest_ref.clone()?;
            Some((
                PolicyKey {
                    namespace: namespace.to_owned(),
                    name: p.name_any(),
                },
                latest,
            ))
        })
        .collect();
    Ok((images, known))
}

/// Git credentials from the GitRepository's secret (`username`/`password`, `bearerToken`, or
/// `identity` with `known_hosts` for ssh).
async fn git_credentials(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<GitCredentials, Error> {
    let secret_name = format!("{namespace}/{name}");
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|source| Error::Kube {
            action: format!("reading Secret {secret_name}"),
            source,
        })?
        .ok_or_else(|| Error::Credentials {
            secret: secret_name.clone(),
            reason: "not found (named by the GitRepository's spec.secretRef)".into(),
        })?;
    let data = secret.data.unwrap_or_default();
    let text = |key: &str| {
        data.get(key)
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
    };
    let credentials = GitCredentials {
        basic: text("username").zip(text("password")),
        bearer_token: text("bearerToken"),
        ssh_identity: data.get("identity").map(|v| v.0.clone()),
        known_hosts: data.get("known_hosts").map(|v| v.0.clone()),
    };
    if credentials == GitCredentials::default() {
        return Err(Error::Credentials {
            secret: secret_name,
            reason: "has none of username/password, bearerToken, identity (ssh)".into(),
        });
    }
    Ok(credentials)
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

async fn write_status(
    ctx: &Context,
    namespace: &str,
    name: &str,
    status: &ImageUpdateAutomationStatus,
) -> Result<(), Error> {
    let api: Api<ImageUpdateAutomation> = Api::namespaced(ctx.client.clone(), namespace);
    apply_status(&api, name, status)
        .await
        .map_err(|source| Error::Kube {
            action: format!("writing status of ImageUpdateAutomation {namespace}/{name}"),
            source,
        })?;
    Ok(())
}

fn cleanup(automation: Arc<ImageUpdateAutomation>, ctx: &Context) -> Result<Action, Error> {
    ctx.metrics.forget_object(
        KIND,
        &automation.namespace().unwrap_or_default(),
        &automation.name_any(),
    );
    Ok(Action::await_change())
}
