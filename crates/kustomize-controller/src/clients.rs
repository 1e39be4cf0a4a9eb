//! Impersonating clients, one per (namespace, ServiceAccount), built once and shared by the
//! Kustomizations that use that account; dropped when the last of them is deleted or moves
//! to another account, so the cache is bounded by the accounts in use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use driftless_runtime::RequestLimit;
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
    base: Config,
    controller: Client,
    limit: RequestLimit,
    table: Arc<Mutex<Table>>,
}

impl ClientCache {
    /// A cache deriving impersonating clients from `base` (the controller's own config);
    /// every client it builds shares `limit` with the controller's own.
    pub fn new(base: Config, controller: Client, limit: RequestLimit) -> Self {
        ClientCache {
            base,
            controller,
            limit,
            table: Arc::default(),
        }
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
        let client = impersonating(&self.limit, &self.base, namespace, name)?;
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

/// A client impersonating the ServiceAccount `namespace/name`: the user name only, no
/// `Impersonate-Group` header, so the API server derives the account's groups itself and
/// the controller needs `impersonate` on `serviceaccounts` and nothing else.
fn impersonating(
    limit: &RequestLimit,
    base: &Config,
    namespace: &str,
    name: &str,
) -> Result<Client, Error> {
    limit
        .client(impersonation_config(base, namespace, name))
        .map_err(|source| Error::Kube {
            action: format!("building a client impersonating ServiceAccount {namespace}/{name}"),
            source,
        })
}

fn impersonation_config(base: &Config, namespace: &str, name: &str) -> Config {
    let mut config = base.clone();
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{namespace}:{name}"));
    config.auth_info.impersonate_groups = None;
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> ClientCache {
        let config = Config::new("https://127.0.0.1:1".parse().expect("URL"));
        let limit = RequestLimit::new(4);
        let controller = limit.client(config.clone()).expect("client");
        ClientCache::new(config, controller, limit)
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

    #[test]
    fn impersonation_sends_the_account_and_no_groups() {
        // Even if the controller's own config carried groups, none are sent.
        let mut base = Config::new("https://127.0.0.1:1".parse().expect("URL"));
        base.auth_info.impersonate_groups = Some(vec!["system:masters".into()]);
        let config = impersonation_config(&base, "team-a", "deployer");
        assert_eq!(
            config.auth_info.impersonate.as_deref(),
            Some("system:serviceaccount:team-a:deployer")
        );
        assert_eq!(config.auth_info.impersonate_groups, None);
    }
}
