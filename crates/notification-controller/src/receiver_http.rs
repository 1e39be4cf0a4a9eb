//! The webhook endpoint: `POST /hook/<digest>`. The body is read only for a known path,
//! and only up to `--max-webhook-body-bytes`: a larger `Content-Length` is refused before
//! reading, a body that grows past the limit while streaming is refused as soon as it does.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use futures::StreamExt;

use crate::Context;
use crate::receiver_index::Verdict;
use crate::trigger::request_reconciles;

/// Default of `--max-webhook-body-bytes`: 1 MiB (GitHub caps its payloads at 25 MB but
/// push events are a few KiB; the body is only used to check a signature and an event).
pub const DEFAULT_MAX_WEBHOOK_BODY_BYTES: u64 = 1024 * 1024;

/// Routes serving every ready Receiver at its `status.webhookPath`, with bodies up to
/// [`DEFAULT_MAX_WEBHOOK_BODY_BYTES`].
pub fn receiver_routes(ctx: Arc<Context>) -> Router {
    receiver_routes_limited(ctx, DEFAULT_MAX_WEBHOOK_BODY_BYTES)
}

/// Routes serving every ready Receiver, refusing bodies over `max_body_bytes` with 413.
pub fn receiver_routes_limited(ctx: Arc<Context>, max_body_bytes: u64) -> Router {
    Router::new()
        .route("/hook/{digest}", post(hook))
        // The handler enforces the limit itself (naming it); axum's own default is off.
        .layer(DefaultBodyLimit::disable())
        .with_state((ctx, max_body_bytes))
}

fn too_large(limit: u64) -> (StatusCode, String) {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body exceeds the limit of {limit} bytes (--max-webhook-body-bytes)\n"),
    )
}

async fn hook(
    State((ctx, limit)): State<(Arc<Context>, u64)>,
    Path(digest): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> (StatusCode, String) {
    let Some(entry) = ctx.receivers.get(&format!("/hook/{digest}")) else {
        return (
            StatusCode::NOT_FOUND,
            "no receiver at this path\n".to_owned(),
        );
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return too_large(limit);
    }
    let mut stream = body.into_data_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(err) => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("reading the request body: {err}\n"),
                );
            }
        };
        if body.len() as u64 + chunk.len() as u64 > limit {
            return too_large(limit);
        }
        body.extend_from_slice(&chunk);
    }
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
