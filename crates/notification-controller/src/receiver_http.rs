//! The webhook endpoint: `POST /hook/<digest>`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use crate::Context;
use crate::receiver_index::Verdict;
use crate::trigger::request_reconciles;

/// Routes serving every ready Receiver at its `status.webhookPath`.
pub fn receiver_routes(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/hook/{digest}", post(hook))
        .with_state(ctx)
}

async fn hook(
    State(ctx): State<Arc<Context>>,
    Path(digest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let Some(entry) = ctx.receivers.get(&format!("/hook/{digest}")) else {
        return (
            StatusCode::NOT_FOUND,
            "no receiver at this path\n".to_owned(),
        );
    };
    let receiver = format!("{}/{}", entry.namespace, entry.name);
    match entry.verify(&headers, &body) {
        Verdict::Reject(why) => {
            tracing::warn!(receiver, why, "refused a webhook call");
            (StatusCode::UNAUTHORIZED, "unauthorized\n".to_owned())
        }
        Verdict::Ignore(event) => {
            tracing::debug!(receiver, event, "ignored a webhook event");
            (StatusCode::OK, format!("event {event:?} ignored\n"))
        }
        Verdict::Accept => match request_reconciles(&ctx.client, &entry).await {
            Ok(count) => {
                tracing::info!(receiver, count, "webhook requested reconciles");
                (
                    StatusCode::OK,
                    format!("requested a reconcile of {count} object(s)\n"),
                )
            }
            Err(err) => {
                tracing::warn!(receiver, error = %err, "webhook could not request reconciles");
                (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n"))
            }
        },
    }
}
