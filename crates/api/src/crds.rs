//! The CustomResourceDefinitions of every kind, as `driftless crds` prints them.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::{
    Alert, GitRepository, ImagePolicy, ImageRepository, ImageUpdateAutomation, Kustomization,
    OCIRepository, Provider, Receiver,
};

/// Every CRD, with the file name `make crds` writes it to under `crds/`.
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        (
            "source.driftless.dev_gitrepositories.yaml",
            GitRepository::crd(),
        ),
        (
            "source.driftless.dev_ocirepositories.yaml",
            OCIRepository::crd(),
        ),
        (
            "kustomize.driftless.dev_kustomizations.yaml",
            Kustomization::crd(),
        ),
        (
            "image.driftless.dev_imagerepositories.yaml",
            ImageRepository::crd(),
        ),
        ("image.driftless.dev_imagepolicies.yaml", ImagePolicy::crd()),
        (
            "image.driftless.dev_imageupdateautomations.yaml",
            ImageUpdateAutomation::crd(),
        ),
        ("notification.driftless.dev_providers.yaml", Provider::crd()),
        ("notification.driftless.dev_alerts.yaml", Alert::crd()),
        ("notification.driftless.dev_receivers.yaml", Receiver::crd()),
    ]
}
