//! The kinds Receivers may trigger and Alerts may filter by label: the Driftless kinds.

use driftless_api::{
    Alert, GitRepository, ImagePolicy, ImageRepository, ImageUpdateAutomation, Kustomization,
    Provider, Receiver,
};
use kube::discovery::ApiResource;

/// The API resource of Driftless kind `kind`.
pub fn api_resource(kind: &str) -> Option<ApiResource> {
    Some(match kind {
        "GitRepository" => ApiResource::erase::<GitRepository>(&()),
        "Kustomization" => ApiResource::erase::<Kustomization>(&()),
        "ImageRepository" => ApiResource::erase::<ImageRepository>(&()),
        "ImagePolicy" => ApiResource::erase::<ImagePolicy>(&()),
        "ImageUpdateAutomation" => ApiResource::erase::<ImageUpdateAutomation>(&()),
        "Provider" => ApiResource::erase::<Provider>(&()),
        "Alert" => ApiResource::erase::<Alert>(&()),
        "Receiver" => ApiResource::erase::<Receiver>(&()),
        _ => return None,
    })
}
