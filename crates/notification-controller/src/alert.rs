//! Alert reconcile: validate the spec (regular expressions, namespaces) and report Ready.
//! Matching reads Alerts straight from the watch cache.

use std::sync::Arc;

use driftless_api::Alert;
use driftless_api::notification::AlertStatus;
use driftless_runtime::object::{apply_status, requested_at};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use crate::controller::Reconciled;
use crate::matching::CompiledAlert;
use crate::status::set_ready;
use crate::{Context, Error};
use driftless_runtime::reconcile::Outcome;

impl Reconciled for Alert {
    const KIND: &'static str = "Alert";

    async fn apply(alert: Arc<Self>, ctx: Arc<Context>) -> Result<Outcome, Error> {
        let namespace = alert.namespace().unwrap_or_default();
        let name = alert.name_any();
        let outcome = CompiledAlert::compile(&alert);
        let generation = alert.metadata.generation;
        let mut status: AlertStatus = alert.status.clone().unwrap_or_default();
        set_ready(
            &mut status.conditions,
            outcome.as_ref().map(|_| "Initialized"),
            generation,
        );
        status.observed_generation = generation;
        status.reconcile_request.last_handled_reconcile_at = requested_at(alert.as_ref());
        let api: Api<Alert> = Api::namespaced(ctx.client.clone(), &namespace);
        apply_status(&api, &name, &status)
            .await
            .map_err(|source| Error::Kube {
                action: format!("writing status of Alert {namespace}/{name}"),
                source,
            })?;
        ctx.metrics.set_object_state(
            Self::KIND,
            &namespace,
            &name,
            Some(outcome.is_ok()),
            alert.spec.suspend,
        );
        Ok(Outcome::of(Action::await_change(), &outcome))
    }

    async fn cleanup(alert: Arc<Self>, ctx: Arc<Context>) -> Result<Action, Error> {
        ctx.metrics.forget_object(
            Self::KIND,
            &alert.namespace().unwrap_or_default(),
            &alert.name_any(),
        );
        Ok(Action::await_change())
    }
}
