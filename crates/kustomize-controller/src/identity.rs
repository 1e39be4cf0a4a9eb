//! Who applies a Kustomization: the rule that keeps a tenant from borrowing the controller's
//! own rights.
//!
//! 1. `spec.serviceAccountName` set: that ServiceAccount of the Kustomization's namespace.
//! 2. The namespace is one the admin opted in with `--apply-as-controller-namespace`: the
//!    controller itself (e.g. the cluster's own bootstrap in `driftless-system`).
//! 3. `--insecure-apply-as-controller` (Flux's behaviour): the controller itself, anywhere.
//! 4. `--default-service-account=NAME`: that ServiceAccount of the Kustomization's namespace.
//! 5. Otherwise: refused. Nothing is applied, and the Kustomization says why.

use driftless_api::Kustomization;
use kube::ResourceExt;

use crate::{Error, TenancyOptions};

/// The identity a Kustomization applies (and prunes) with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// Impersonate `system:serviceaccount:<namespace>:<name>`.
    ServiceAccount {
        /// The Kustomization's namespace.
        namespace: String,
        /// The account's name.
        name: String,
    },
    /// The controller's own identity (an admin opted in).
    Controller,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::ServiceAccount { namespace, name } => {
                write!(f, "system:serviceaccount:{namespace}:{name}")
            }
            Identity::Controller => f.write_str("the controller's own identity"),
        }
    }
}

/// The identity `ks` applies with under `tenancy`, or why it may not apply at all.
pub fn identity_of(ks: &Kustomization, tenancy: &TenancyOptions) -> Result<Identity, Error> {
    let namespace = ks.namespace().unwrap_or_default();
    let account = |name: &str| Identity::ServiceAccount {
        namespace: namespace.clone(),
        name: name.to_owned(),
    };
    if let Some(name) = ks
        .spec
        .service_account_name
        .as_deref()
        .filter(|n| !n.is_empty())
    {
        return Ok(account(name));
    }
    if tenancy.apply_as_controller_namespaces.contains(&namespace)
        || tenancy.insecure_apply_as_controller
    {
        return Ok(Identity::Controller);
    }
    if let Some(name) = tenancy.default_service_account.as_deref() {
        return Ok(account(name));
    }
    Err(Error::AccessDenied(format!(
        "Kustomization '{namespace}/{}' has no spec.serviceAccountName and the controller runs \
         without --default-service-account: refusing to apply with the controller's own \
         identity; set spec.serviceAccountName to a ServiceAccount of namespace '{namespace}' \
         (or an admin runs the controller with --default-service-account=NAME, \
         --apply-as-controller-namespace={namespace} or --insecure-apply-as-controller)",
        ks.name_any()
    )))
}

#[cfg(test)]
mod tests {
    use driftless_api::kustomize::KustomizationSpec;

    use super::*;

    fn ks(namespace: &str, account: Option<&str>) -> Kustomization {
        let spec: KustomizationSpec = serde_json::from_value(serde_json::json!({
            "interval": "1m",
            "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            "serviceAccountName": account,
        }))
        .expect("spec parses");
        let mut ks = Kustomization::new("apps", spec);
        ks.metadata.namespace = Some(namespace.to_owned());
        ks
    }

    fn sa(namespace: &str, name: &str) -> Identity {
        Identity::ServiceAccount {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    #[test]
    fn without_any_setting_a_kustomization_without_account_is_refused() {
        let err = identity_of(&ks("team-a", None), &TenancyOptions::default()).unwrap_err();
        assert!(matches!(err, Error::AccessDenied(_)));
        let message = err.to_string();
        assert!(message.contains("team-a/apps"), "{message}");
        assert!(message.contains("spec.serviceAccountName"), "{message}");
        // An empty name is no name.
        assert!(identity_of(&ks("team-a", Some("")), &TenancyOptions::default()).is_err());
    }

    #[test]
    fn an_explicit_account_always_wins() {
        let all = TenancyOptions {
            default_service_account: Some("default".into()),
            insecure_apply_as_controller: true,
            apply_as_controller_namespaces: vec!["team-a".into()],
            ..TenancyOptions::default()
        };
        assert_eq!(
            identity_of(&ks("team-a", Some("deployer")), &all).unwrap(),
            sa("team-a", "deployer")
        );
        assert_eq!(
            identity_of(&ks("team-a", Some("deployer")), &TenancyOptions::default()).unwrap(),
            sa("team-a", "deployer")
        );
    }

    #[test]
    fn default_account_is_in_the_kustomizations_own_namespace() {
        let tenancy = TenancyOptions {
            default_service_account: Some("default".into()),
            ..TenancyOptions::default()
        };
        let who = identity_of(&ks("team-b", None), &tenancy).unwrap();
        assert_eq!(who, sa("team-b", "default"));
        assert_eq!(who.to_string(), "system:serviceaccount:team-b:default");
    }

    #[test]
    fn controller_identity_only_where_an_admin_opted_in() {
        let per_namespace = TenancyOptions {
            default_service_account: Some("default".into()),
            apply_as_controller_namespaces: vec!["driftless-system".into()],
            ..TenancyOptions::default()
        };
        assert_eq!(
            identity_of(&ks("driftless-system", None), &per_namespace).unwrap(),
            Identity::Controller
        );
        assert_eq!(
            identity_of(&ks("team-a", None), &per_namespace).unwrap(),
            sa("team-a", "default")
        );
        let global = TenancyOptions {
            insecure_apply_as_controller: true,
            ..TenancyOptions::default()
        };
        assert_eq!(
            identity_of(&ks("team-a", None), &global).unwrap(),
            Identity::Controller
        );
    }
}
