//! Provider reconcile: resolve the spec and Secret, start or update the delivery worker.

use std::sync::Arc;
use std::time::Duration;

use driftless_api::Provider;
use driftless_api::notification::ProviderStatus;
use driftless_runtime::object::{apply_status, requested_at};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use crate::controller::Reconciled;
use crate::provider_config::ProviderConfig;
use crate::status::{secret_data, set_ready};
use crate::{Context, Error};
use driftless_runtime::reconcile::Outcome;

/// How often a Provider's Secret is read again (token and address rotation).
const RESYNC: Duration = Duration::from_secs(300);

async fn resolve(provider: &Provider, ctx: &Context, id: &str) -> Result<ProviderConfig, Error> {
    let namespace = provider.namespace().unwrap_or_default();
    let secret = match &provider.spec.secret_ref {
        Some(r) => {
            secret_data(
                &ctx.client,
                &namespace,
                &r.name,
                &format!("Provider {id} spec.secretRef"),
            )
            .await?
        }
        None => Default::default(),
    };
    ProviderConfig::resolve(id, &provider.spec, &secret)
}

impl Reconciled for Provider {
    const KIND: &'static str = "Provider";

    async fn apply(provider: Arc<Self>, ctx: Arc<Context>) -> Result<Outcome, Error> {
        let namespace = provider.namespace().unwrap_or_default();
        let name = provider.name_any();
        let id = format!("{namespace}/{name}");
        if provider.spec.suspend {
            ctx.deliveries.remove(&id);
            ctx.metrics
                .set_object_state(Self::KIND, &namespace, &name, None, true);
            return Ok(Outcome::done(Action::await_change()));
        }
        let outcome = resolve(&provider, &ctx, &id).await;
        let mut status: ProviderStatus = provider.status.clone().unwrap_or_default();
        let generation = provider.metadata.generation;
        match &outcome {
            Ok(config) => {
                ctx.deliveries.upsert(&id, config.clone());
                set_ready(&mut status.conditions, Ok("Initialized"), generation);
            }
            Err(err) => {
                ctx.deliveries.remove(&id);
                set_ready(&mut status.conditions, Err(err), generation);
            }
        }
        status.observed_generation = generation;
        status.reconcile_request.last_handled_reconcile_at = requested_at(provider.as_ref());
        let api: Api<Provider> = Api::namespaced(ctx.client.clone(), &namespace);
        apply_status(&api, &name, &status)
            .await
            .map_err(|source| Error::Kube {
                action: format!("writing status of Provider {id}"),
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

    async fn cleanup(provider: Arc<Self>, ctx: Arc<Context>) -> Result<Action, Error> {
        let namespace = provider.namespace().unwrap_or_default();
        let name = provider.name_any();
        ctx.deliveries.remove(&format!("{namespace}/{name}"));
        ctx.metrics.forget_object(Self::KIND, &namespace, &name);
        Ok(Action::await_change())
    }
}
