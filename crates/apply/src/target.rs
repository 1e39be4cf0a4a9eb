//! Addressing one object on the API server: the dynamic `Api` for its resource and scope.

use kube::Client;
use kube::api::{Api, DynamicObject};

use crate::object::ObjectRef;
use crate::resolve::Resolved;

/// The `Api` serving `object`: namespaced when its resource is (using its namespace),
/// cluster-wide otherwise.
pub(crate) fn api_for(
    client: &Client,
    resolved: &Resolved,
    object: &ObjectRef,
) -> Api<DynamicObject> {
    match (&object.namespace, resolved.namespaced) {
        (Some(namespace), true) => {
            Api::namespaced_with(client.clone(), namespace, &resolved.resource)
        }
        _ => Api::all_with(client.clone(), &resolved.resource),
    }
}

/// An object as JSON, for comparison and health rules.
pub(crate) fn to_json(object: &DynamicObject) -> serde_json::Value {
    serde_json::to_value(object).unwrap_or_default()
}
