//! One bound on the Kubernetes API requests a process has in flight, shared by every client
//! it builds (its own, impersonating ones, remote clusters').
//!
//! kube's client speaks HTTP/1.1, one request per connection: without a bound, 100
//! Kustomizations applying at once open hundreds of TLS connections, each with its own
//! buffers, and the pool keeps them. The bound queues requests instead (FIFO, through the
//! client's buffer), so connections stay near the bound whatever the number of objects.

use std::sync::Arc;

use kube::client::ClientBuilder;
use kube::{Client, Config};
use tokio::sync::Semaphore;
use tower::limit::GlobalConcurrencyLimitLayer;

/// Builds clients that share one limit on requests in flight. A request holds its permit
/// until its response headers arrive, so a long watch holds none while it streams.
#[derive(Clone, Debug)]
pub struct RequestLimit {
    permits: Arc<Semaphore>,
    max: usize,
}

impl RequestLimit {
    /// A limit of `max` requests in flight (at least 1).
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        RequestLimit {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// The number of requests allowed in flight.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The requests in flight right now, across every client built from this limit.
    pub fn in_flight(&self) -> usize {
        self.max - self.permits.available_permits()
    }

    /// A client for `config` whose requests count against this limit.
    pub fn client(&self, config: Config) -> Result<Client, kube::Error> {
        let layer = GlobalConcurrencyLimitLayer::with_semaphore(self.permits.clone());
        Ok(ClientBuilder::try_from(config)?.with_layer(&layer).build())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A loopback server that accepts connections and never answers: every request stays
    /// in flight, so the limit is what decides how many are sent.
    async fn silent_server() -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(socket);
            }
        });
        (addr, accepted)
    }

    #[tokio::test]
    async fn requests_beyond_the_limit_wait_and_open_no_connection() {
        let (addr, accepted) = silent_server().await;
        let limit = RequestLimit::new(3);
        let config = Config::new(format!("http://{addr}").parse().unwrap());
        // Two clients (as the controller's and an impersonating one): one shared limit.
        let clients = [
            limit.client(config.clone()).unwrap(),
            limit.client(config).unwrap(),
        ];
        let mut requests = Vec::new();
        for i in 0..10 {
            let client = clients[i % 2].clone();
            requests.push(tokio::spawn(
                async move { client.apiserver_version().await },
            ));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while accepted.load(std::sync::atomic::Ordering::SeqCst) < 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "3 connections expected"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(limit.in_flight(), 3);
        // The others are queued: give them every chance to connect, then check none did.
        for _ in 0..20 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
        for request in requests {
            request.abort();
        }
    }
}
