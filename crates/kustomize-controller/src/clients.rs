//! Impersonating clients, one per (namespace, ServiceAccount), built once and shared by the
//! Kustomizations that use that account; dropped when the last of them is deleted or moves
//! to another account, so the cache is bounded by the accounts in use.
//!
//! Every impersonating client sends through one transport (the controller's credentials,
//! one connection pool) and only adds its `Impersonate-User` header: 200 tenants share
//! connections instead of keeping 200 pools of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use driftless_runtime::RequestLimit;
use http::{HeaderValue, Request};
use kube::{Client, Config};

use crate::Error;
use crate::identity::Identity;

type AccountKey = (String, String);

#[derive(Default)]
struct Table {
    /// Client per account.
    clients: HashMap<AccountKey, Client>,
    /// The account each Kustomization (by uid) last used.
    users: HashMap<String, AccountKey>,
}

impl Table {
    fn drop_unused(&mut self, key: &AccountKey) {
        if !self.users.values().any(|k| k == key) {
            self.clients.remove(key);
        }
    }
}

/// Hands out clients acting as `system:serviceaccount:<ns>:<sa>`.
#[derive(Clone)]
pub struct ClientCache {
    /// The controller's credentials without any impersonation of its own config: what every
    /// impersonating client sends through.
    transport: Client,
    controller: Client,
    limit: RequestLimit,
    table: Arc<Mutex<Table>>,
}

impl ClientCache {
    /// A cache deriving impersonating clients from `base` (the controller's own config);
    /// every client it builds shares `limit` with the controller's own.
    pub fn new(base: Config, controller: Client, limit: RequestLimit) -> Result<Self, Error> {
        let transport = limit
            .client(transport_config(base))
            .map_err(|source| Error::Kube {
                action: "building the client impersonated ServiceAccounts send through".into(),
                source,
            })?;
        Ok(ClientCache {
            transport,
            controller,
            limit,
            table: Arc::default(),
        })
    }

    /// The process's bound on API requests in flight (for clients built elsewhere, such as
    /// a remote cluster's).
    pub fn limit(&self) -> &RequestLimit {
        &self.limit
    }

    /// The controller's own client (no impersonation).
    pub fn controller(&self) -> &Client {
        &self.controller
    }

    /// The client for `identity`, used by the Kustomization with uid `user` (recorded so the
    /// client is dropped once no Kustomization uses it).
    pub fn for_identity(&self, user: &str, identity: &Identity) -> Result<Client, Error> {
        let Identity::ServiceAccount { namespace, name } = identity else {
            self.release(user);
            return Ok(self.controller.clone());
        };
        let key = (namespace.clone(), name.clone());
        let mut table = self.lock();
        if let Some(previous) = table.users.insert(user.to_owned(), key.clone())
            && previous != key
        {
            table.drop_unused(&previous);
        }
        if let Some(client) = table.clients.get(&key) {
            return Ok(client.clone());
        }
        let client = impersonating(&self.transport, namespace, name)?;
        table.clients.insert(key, client.clone());
        Ok(client)
    }

    /// The Kustomization with uid `user` is gone: its account's client goes too when no other
    /// Kustomization uses it.
    pub fn release(&self, user: &str) {
        let mut table = self.lock();
        if let Some(key) = table.users.remove(user) {
            table.drop_unused(&key);
        }
    }

    /// How many impersonating clients are cached.
    pub fn len(&self) -> usize {
        self.lock().clients.len()
    }

    /// Whether no impersonating client is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A client impersonating the ServiceAccount `namespace/name` through `transport`: the
/// user name only, no `Impersonate-Group` header, so the API server derives the account's
/// groups itself and the controller needs `impersonate` on `serviceaccounts` and nothing
/// else.
fn impersonating(transport: &Client, namespace: &str, name: &str) -> Result<Client, Error> {
    let user = format!("system:serviceaccount:{namespace}:{name}");
    let value = HeaderValue::from_str(&user).map_err(|_| {
        Error::InvalidSpec(format!(
            "ServiceAccount {namespace}/{name}: not a valid user name"
        ))
    })?;
    let default_namespace = transport.default_namespace().to_owned();
    let transport = transport.clone();
    let service = tower::service_fn(move |mut request: Request<kube::client::Body>| {
        let transport = transport.clone();
        request
            .headers_mut()
            .insert(IMPERSONATE_USER, value.clone());
        async move { transport.send(request).await }
    });
    Ok(Client::new(service, default_namespace))
}

const IMPERSONATE_USER: &str = "impersonate-user";

/// The controller's config with no impersonation of its own: impersonating clients add
/// theirs, and nothing else (no groups, no extra) may ride along.
fn transport_config(mut base: Config) -> Config {
    base.auth_info.impersonate = None;
    base.auth_info.impersonate_groups = None;
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> ClientCache {
        let config = Config::new("https://127.0.0.1:1".parse().expect("URL"));
        let limit = RequestLimit::new(4);
        let controller = limit.client(config.clone()).expect("client");
        ClientCache::new(config, controller, limit).expect("cache")
    }

    fn sa(namespace: &str, name: &str) -> Identity {
        Identity::ServiceAccount {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    #[tokio::test]
    async fn clients_are_shared_and_dropped_with_their_last_user() {
        let c = cache();
        c.for_identity("uid-1", &sa("team-a", "deployer")).unwrap();
        c.for_identity("uid-2", &sa("team-a", "deployer")).unwrap();
        c.for_identity("uid-3", &sa("team-b", "default")).unwrap();
        assert_eq!(c.len(), 2);
        c.release("uid-1");
        assert_eq!(c.len(), 2, "uid-2 still uses team-a/deployer");
        c.release("uid-2");
        assert_eq!(c.len(), 1);
        // Moving to another account drops the old one's client.
        c.for_identity("uid-3", &sa("team-b", "other")).unwrap();
        assert_eq!(c.len(), 1);
        // Applying as the controller needs no impersonating client.
        c.for_identity("uid-3", &Identity::Controller).unwrap();
        assert!(c.is_empty());
        c.release("uid-never-seen");
        assert!(c.is_empty());
    }

    /// A loopback HTTP server answering every request with a version document; hands the
    /// lower-cased request headers of each request to the test, and counts connections.
    async fn recording_server() -> (
        String,
        tokio::sync::mpsc::UnboundedReceiver<Vec<(String, String)>>,
        Arc<std::sync::atomic::AtomicUsize>,
    ) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let tx = tx.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let mut headers = Vec::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if line.is_empty() {
                            let _ = tx.send(std::mem::take(&mut headers));
                            let body = r#"{"major":"1","minor":"34","gitVersion":"v1.34.0","gitCommit":"","gitTreeState":"","buildDate":"","goVersion":"","compiler":"","platform":""}"#;
                            let response = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if write.write_all(response.as_bytes()).await.is_err() {
                                return;
                            }
                        } else if let Some((name, value)) = line.split_once(':') {
                            headers.push((name.trim().to_lowercase(), value.trim().to_owned()));
                        }
                    }
                });
            }
        });
        (url, rx, connections)
    }

    #[tokio::test]
    async fn impersonation_sends_the_account_and_no_groups_over_shared_connections() {
        let (url, mut requests, connections) = recording_server().await;
        // Even if the controller's own config impersonated someone with groups, an
        // impersonating client sends its account alone.
        let mut base = Config::new(url.parse().unwrap());
        base.auth_info.impersonate = Some("someone-else".into());
        base.auth_info.impersonate_groups = Some(vec!["system:masters".into()]);
        let limit = RequestLimit::new(4);
        let controller = limit.client(base.clone()).unwrap();
        let cache = ClientCache::new(base, controller, limit).unwrap();
        let tenants: Vec<Client> = (0..20)
            .map(|i| {
                cache
                    .for_identity(&format!("uid-{i}"), &sa(&format!("team-{i}"), "deployer"))
                    .unwrap()
            })
            .collect();
        for (i, client) in tenants.iter().enumerate() {
            client.apiserver_version().await.unwrap();
            let headers = requests.recv().await.unwrap();
            let users: Vec<&str> = headers
                .iter()
                .filter(|(n, _)| n == "impersonate-user")
                .map(|(_, v)| v.as_str())
                .collect();
            let expected = format!("system:serviceaccount:team-{i}:deployer");
            assert_eq!(users, [expected.as_str()], "{headers:?}");
            assert!(
                !headers
                    .iter()
                    .any(|(n, _)| n.starts_with("impersonate-group")
                        || n.starts_with("impersonate-extra")),
                "{headers:?}"
            );
        }
        // One after the other, 20 accounts' requests went over one kept-alive connection.
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
