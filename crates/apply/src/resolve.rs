//! Kind lookup: which API resource serves a group/version/kind, and is it namespaced.
//! Results are cached; an unknown kind is asked again next time, since CRDs applied in
//! stage one (or by someone else) appear later.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kube::Client;
use kube::discovery::{self, ApiResource, Scope};

use crate::object::ObjectRef;

/// The API resource serving a kind, and its scope.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The resource (plural, api version) to address requests to.
    pub resource: ApiResource,
    /// Whether objects of the kind live in a namespace.
    pub namespaced: bool,
}

type Key = (String, String, String);

/// A discovery cache shared by every apply: cheap to clone, safe to share between
/// reconciles and between clients (discovery results are the same for every user).
#[derive(Clone, Debug, Default)]
pub struct Resolver {
    known: Arc<RwLock<HashMap<Key, Resolved>>>,
}

impl Resolver {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The resource serving `object`'s group/version/kind: from the cache, or asked of the
    /// API server (one request for the group version). `Ok(None)` when the server does not
    /// serve the kind.
    pub async fn resolve(
        &self,
        client: &Client,
        object: &ObjectRef,
    ) -> Result<Option<Resolved>, kube::Error> {
        let key = (
            object.group.clone(),
            object.version.clone(),
            object.kind.clone(),
        );
        if let Some(found) = self.read().get(&key) {
            return Ok(Some(found.clone()));
        }
        match discovery::pinned_kind(client, &object.gvk()).await {
            Ok((resource, capabilities)) => {
                let resolved = Resolved {
                    resource,
                    namespaced: capabilities.scope == Scope::Namespaced,
                };
                self.write().insert(key, resolved.clone());
                Ok(Some(resolved))
            }
            Err(kube::Error::Discovery(_)) => Ok(None),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Forgets a kind, e.g. after the server said its resource is gone.
    pub fn forget(&self, object: &ObjectRef) {
        self.write().remove(&(
            object.group.clone(),
            object.version.clone(),
            object.kind.clone(),
        ));
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Key, Resolved>> {
        self.known
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Key, Resolved>> {
        self.known
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
