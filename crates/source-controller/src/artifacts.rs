//! `GET /artifacts/<namespace>/<name>/<digest-hex>.tar.gz`: artifact tarballs for controllers
//! running in other processes.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use driftless_source::{Digest, SourceCache};

/// The artifact routes, backed by `cache`.
pub fn routes(cache: Arc<SourceCache>) -> Router {
    Router::new()
        .route("/artifacts/{namespace}/{name}/{file}", get(serve))
        .with_state(cache)
}

async fn serve(
    State(cache): State<Arc<SourceCache>>,
    Path((_namespace, _name, file)): Path<(String, String, String)>,
) -> Response {
    let Some(hex) = file.strip_suffix(".tar.gz") else {
        return (StatusCode::NOT_FOUND, "expected <digest>.tar.gz").into_response();
    };
    let Some(digest) = Digest::parse(&format!("sha256:{hex}")) else {
        return (StatusCode::BAD_REQUEST, "malformed digest").into_response();
    };
    match cache.tarball(&digest).await {
        Ok(path) => match tokio::fs::read(&path).await {
            Ok(bytes) => {
                ([("content-type", "application/gzip")], Body::from(bytes)).into_response()
            }
            Err(_) => (StatusCode::NOT_FOUND, "artifact not in cache").into_response(),
        },
        Err(driftless_source::Error::ArtifactNotFound(_)) => {
            (StatusCode::NOT_FOUND, "artifact not in cache").into_response()
        }
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}
