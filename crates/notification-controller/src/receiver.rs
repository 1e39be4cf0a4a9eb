//! Receiver reconcile: read the token, publish the webhook path, serve it.

use std::sync::Arc;
use std::time::Duration;

use driftless_api::Receiver;
use driftless_api::notification::ReceiverStatus;
use driftless_runtime::object::{apply_status, requested_at};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use crate::controller::Reconciled;
use crate::receiver_index::ReceiverEntry;
use crate::signature::webhook_path;
use crate::status::{secret_data, set_ready};
use crate::{Context, Error, kinds};
use driftless_runtime::reconcile::Outcome;

/// How often a Receiver's Secret is read again (token rotation).
const RESYNC: Duration = Duration::from_secs(300);

async fn resolve(receiver: &Receiver, ctx: &Context) -> Result<ReceiverEntry, Error> {
    let namespace = receiver.namespace().unwrap_or_default();
    let name = receiver.name_any();
    let id = format!("Receiver {namespace}/{name}");
    for (i, r) in receiver.spec.resources.iter().enumerate() {
        if kinds::api_resource(&r.kind).is_none() {
            return Err(Error::InvalidSpec(format!(
                "{id}: spec.resources[{i}].kind {:?} is not a Driftless kind",
                r.kind
            )));
        }
        if let Some(ns) = &r.namespace
            && ns != &namespace
        {
            return Err(Error::InvalidSpec(format!(
                "{id}: spec.resources[{i}].namespace {ns:?}: receivers only reach their own namespace"
            )));
        }
    }
    let secret_name = &receiver.spec.secret_ref.name;
    let data = secret_data(
        &ctx.client,
        &namespace,
        secret_name,
        &format!("{id} spec.secretRef"),
    )
    .await?;
    let token = data
        .get("token")
        .map(|t| String::from_utf8_lossy(t).trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::Secret(format!(
                "{id} spec.secretRef: Secret {namespace}/{secret_name} has no key `token`"
            ))
        })?;
    Ok(ReceiverEntry {
        namespace,
        name,
        type_: receiver.spec.type_,
        events: receiver.spec.events.clone(),
        token,
        resources: receiver.spec.resources.clone(),
    })
}

impl Reconciled for Receiver {
    const KIND: &'static str = "Receiver";

    async fn apply(receiver: Arc<Self>, ctx: Arc<Context>) -> Result<Outcome, Error> {
        let namespace = receiver.namespace().unwrap_or_default();
        let name = receiver.name_any();
        if receiver.spec.suspend {
            ctx.receivers.remove(&namespace, &name);
            ctx.metrics
                .set_object_state(Self::KIND, &namespace, &name, None, true);
            return Ok(Outcome::done(Action::await_change()));
        }
        let outcome = resolve(&receiver, &ctx).await;
        let generation = receiver.metadata.generation;
        let mut status: ReceiverStatus = receiver.status.clone().unwrap_or_default();
        match &outcome {
            Ok(entry) => {
                let path = webhook_path(&entry.token, &name, &namespace);
                ctx.receivers.insert(path.clone(), entry.clone());
                let message = format!("Receiver initialized for path: {path}");
                set_ready(&mut status.conditions, Ok(&message), generation);
                status.webhook_path = Some(path);
            }
            Err(err) => {
                ctx.receivers.remove(&namespace, &name);
                set_ready(&mut status.conditions, Err(err), generation);
                status.webhook_path = None;
            }
        }
        status.observed_generation = generation;
        status.reconcile_request.last_handled_reconcile_at = requested_at(receiver.as_ref());
        let api: Api<Receiver> = Api::namespaced(ctx.client.clone(), &namespace);
        apply_status(&api, &name, &status)
            .await
            .map_err(|source| Error::Kube {
                action: format!("writing status of Receiver {namespace}/{name}"),
                source,
            })?;
        ctx.metrics
            .set_object_state(Self::KIND, &namespace, &name, Some(outcome.is_ok()), false);
        let action = Action::requeue(if outcome.is_ok() {
            RESYNC
        } else {
            Duration::from_secs(30)
        });
        Ok(Outcome::of(action, &outcome))
    }

    async fn cleanup(receiver: Arc<Self>, ctx: Arc<Context>) -> Result<Action, Error> {
        let namespace = receiver.namespace().unwrap_or_default();
        let name = receiver.name_any();
        ctx.receivers.remove(&namespace, &name);
        ctx.metrics.forget_object(Self::KIND, &namespace, &name);
        Ok(Action::await_change())
    }
}
