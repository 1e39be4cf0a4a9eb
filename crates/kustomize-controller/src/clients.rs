//! Impersonating clients, one per (namespace, ServiceAccount), built once and reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::{Client, Config};

use crate::Error;

/// Hands out clients acting as `system:serviceaccount:<ns>:<sa>`.
#[derive(Clone)]
pub struct ClientCache {
    base: Config,
    controller: Client,
    clients: Arc<Mutex<HashMap<(String, String), Client>>>,
}

impl ClientCache {
    /// A cache deriving impersonating clients from `base` (the controller's own config).
    pub fn new(base: Config, controller: Client) -> Self {
        ClientCache {
            base,
            controller,
            clients: Arc::default(),
        }
    }

    /// The controller's own client (no impersonation).
    pub fn controller(&self) -> &Client {
        &self.controller
    }

    /// The client for `service_account` in `namespace`, or the controller's own when `None`.
    pub fn for_account(
        &self,
        namespace: &str,
        service_account: Option<&str>,
    ) -> Result<Client, Error> {
        let Some(sa) = service_account else {
            return Ok(self.controller.clone());
        };
        let key = (namespace.to_owned(), sa.to_owned());
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let mut config = self.base.clone();
        config.auth_info.impersonate = Some(format!("system:serviceaccount:{namespace}:{sa}"));
        config.auth_info.impersonate_groups = None;
        let client = Client::try_from(config).map_err(|source| Error::Kube {
            action: format!("building a client impersonating ServiceAccount {namespace}/{sa}"),
            source,
        })?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// How many impersonating clients are cached.
    pub fn len(&self) -> usize {
        self.clients.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no impersonating client is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
