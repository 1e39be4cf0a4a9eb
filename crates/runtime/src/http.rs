//! The HTTP server: `/metrics`, `/healthz`, `/readyz`, plus routes other crates merge in.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::{Metrics, Readiness, RuntimeError};

#[derive(Clone)]
struct Probes {
    metrics: Metrics,
    readiness: Readiness,
}

/// Routes for `/metrics`, `/healthz` and `/readyz`.
pub fn probe_routes(metrics: Metrics, readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(Probes { metrics, readiness })
}

async fn render_metrics(State(p): State<Probes>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        p.metrics.render(),
    )
}

async fn ready(State(p): State<Probes>) -> impl IntoResponse {
    if p.readiness.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced yet")
    }
}

/// Binds `addr` and returns a future serving `router` until `shutdown` resolves, and the
/// bound address (useful with port 0).
pub async fn bind(
    addr: SocketAddr,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<
    (
        SocketAddr,
        impl std::future::Future<Output = Result<(), RuntimeError>>,
    ),
    RuntimeError,
> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RuntimeError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(RuntimeError::Serve)?;
    let serve = async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(RuntimeError::Serve)
    };
    Ok((local, serve))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get_path(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn probes_answer_and_readiness_flips() {
        let metrics = Metrics::new().unwrap();
        let readiness = Readiness::new(1);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr, serve) = bind(
            "127.0.0.1:0".parse().unwrap(),
            probe_routes(metrics.clone(), readiness.clone()),
            async {
                let _ = rx.await;
            },
        )
        .await
        .unwrap();
        let server = tokio::spawn(serve);
        assert!(get_path(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
        assert!(get_path(addr, "/readyz").await.starts_with("HTTP/1.1 503"));
        readiness.mark_ready();
        assert!(get_path(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        metrics.observe_reconcile("GitRepository", std::time::Duration::from_millis(1), false);
        let body = get_path(addr, "/metrics").await;
        assert!(
            body.contains(r#"driftless_reconcile_total{kind="GitRepository",result="error"} 1"#),
            "{body}"
        );
        tx.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
