//! `driftless diff kustomization NAME --path DIR`: what applying DIR would change.
//!
//! DIR is built as the controller builds the Kustomization's source ([`local_build`]), then
//! dry-run with server-side apply as the Kustomization's identity (the controller's rule:
//! `spec.serviceAccountName`, else `--default-service-account`), and each object that would
//! be created, changed or pruned (its inventory entries no longer built) is printed as a
//! unified diff of YAML. Secret values are masked. The exit status is 1 when something would
//! change, 0 when nothing would, 2 on error (as `diff(1)`).
//!
//! [`local_build`]: crate::cmd::local_build

use std::collections::BTreeMap;

use anyhow::Context as _;
use driftless_api::Kustomization;
use driftless_api::well_known::{DISABLED, PRUNE_ANNOTATION};
use driftless_apply::{Action, Applier, ApplyOptions, ObjectRef, Owner, Preview, Resolver};
use driftless_kustomize_controller::{Identity, TenancyOptions, identity_of};
use kube::{Client, ResourceExt};
use serde_json::Value;

use crate::cmd::exit::ExitStatus;
use crate::cmd::kube_args::{Cluster, KubeArgs};
use crate::cmd::local_build::{LocalSourceArgs, build, read_kustomization};

/// Arguments of `driftless diff`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Diff a local directory, built with a Kustomization's spec, against the cluster.
    #[command(alias = "ks")]
    Kustomization(KustomizationArgs),
}

#[derive(clap::Args, Debug)]
struct KustomizationArgs {
    /// Name of the Kustomization.
    name: String,
    #[command(flatten)]
    source: LocalSourceArgs,
    #[command(flatten)]
    kube: KubeArgs,
    /// The controller's `--default-service-account`: the ServiceAccount impersonated when the
    /// Kustomization has no `spec.serviceAccountName` (the default install uses `default`).
    #[arg(long, value_name = "NAME", default_value = "default")]
    default_service_account: String,
    /// Dry-run with your own identity when the Kustomization has no
    /// `spec.serviceAccountName` (as a controller run with `--insecure-apply-as-controller`
    /// would apply with its own).
    #[arg(long)]
    insecure_apply_as_controller: bool,
}

/// Runs the subcommand: `Ok` when nothing would change, [`ExitStatus`] 1 when something would.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let What::Kustomization(args) = &args.what;
    let cluster = args.kube.connect().await?;
    let ks = read_kustomization(&cluster.client, &cluster.namespace, &args.name).await?;
    let tenancy = TenancyOptions {
        default_service_account: (!args.insecure_apply_as_controller)
            .then(|| args.default_service_account.clone()),
        insecure_apply_as_controller: args.insecure_apply_as_controller,
        ..TenancyOptions::default()
    };
    let identity = identity_of(&ks, &tenancy).map_err(|e| anyhow::anyhow!("{e}"))?;
    let client = client_for(&cluster, &identity)?;
    let built = build(ks, &args.source, &client).await?;
    let ks = &built.kustomization;
    let namespace = ks.namespace().unwrap_or_default();
    let owner = Owner::new(ks.name_any(), namespace.clone());
    let applier = Applier::new(client, Resolver::new());
    let mut options = ApplyOptions::new(ks.spec.target_namespace.clone().unwrap_or(namespace));
    options.force = ks.spec.force;
    options.ignore = std::sync::Arc::new(
        driftless_apply::IgnoreRules::compile(&ks.spec.ignore)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let previews = applier
        .preview(&owner, built.objects, &options)
        .await
        .with_context(|| format!("server-side dry-run as {identity}"))?;
    let mut changes = 0;
    for preview in &previews {
        if let Some(text) = render_preview(preview)? {
            print!("{text}");
            changes += 1;
        }
    }
    if ks.spec.prune {
        changes += print_pruned(&applier, ks, &previews).await?;
    }
    if changes > 0 {
        return Err(ExitStatus(1).into());
    }
    eprintln!("no changes");
    Ok(())
}

fn client_for(cluster: &Cluster, identity: &Identity) -> anyhow::Result<Client> {
    match identity {
        Identity::ServiceAccount { namespace, name } => {
            let mut config = cluster.config.clone();
            config.auth_info.impersonate =
                Some(format!("system:serviceaccount:{namespace}:{name}"));
            config.auth_info.impersonate_groups = None;
            Client::try_from(config).context("building a client impersonating the ServiceAccount")
        }
        Identity::Controller => {
            eprintln!("note: dry-run with your own identity (--insecure-apply-as-controller)");
            Ok(cluster.client.clone())
        }
    }
}

/// The header and unified diff of one object, `None` when it would not change.
fn render_preview(preview: &Preview) -> anyhow::Result<Option<String>> {
    let (verb, before) = match (preview.action, &preview.live) {
        (Action::Created, _) => ("created", None),
        (Action::Configured, Some(live)) => ("configured", Some(live)),
        _ => return Ok(None),
    };
    let secret = is_secret(&preview.object);
    let (before, after) = masked(secret, before.map(clean), Some(clean(&preview.desired)));
    Ok(Some(unified(
        &preview.object,
        verb,
        before.as_ref(),
        after.as_ref(),
    )?))
}

/// Inventory entries no longer built, that exist and may be pruned: printed as deletions.
async fn print_pruned(
    applier: &Applier,
    ks: &Kustomization,
    previews: &[Preview],
) -> anyhow::Result<usize> {
    let old = ks
        .status
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .map(|i| i.entries.clone())
        .unwrap_or_default();
    let new = driftless_apply::inventory(previews.iter().map(|p| &p.object));
    let resolver = Resolver::new();
    let mut count = 0;
    for entry in driftless_apply::diff(&old, &new) {
        let Some(object) = ObjectRef::from_inventory(&entry) else {
            continue;
        };
        let Ok(Some(resolved)) = resolver.resolve(applier.client(), &object).await else {
            continue;
        };
        let api = match &object.namespace {
            Some(ns) if resolved.namespaced => {
                kube::Api::<kube::api::DynamicObject>::namespaced_with(
                    applier.client().clone(),
                    ns,
                    &resolved.resource,
                )
            }
            _ => kube::Api::all_with(applier.client().clone(), &resolved.resource),
        };
        let Some(live) = api
            .get_opt(&object.name)
            .await
            .with_context(|| format!("reading {object} (pruned)"))?
        else {
            continue;
        };
        let live = serde_json::to_value(live)?;
        let opted_out = live
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(PRUNE_ANNOTATION))
            .and_then(Value::as_str)
            == Some(DISABLED);
        if opted_out {
            continue;
        }
        let (before, _) = masked(is_secret(&object), Some(clean(&live)), None);
        print!("{}", unified(&object, "pruned", before.as_ref(), None)?);
        count += 1;
    }
    Ok(count)
}

fn is_secret(object: &ObjectRef) -> bool {
    object.group.is_empty() && object.kind == "Secret"
}

/// The object without what the server manages (status, managedFields, resourceVersion…).
fn clean(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "managedFields",
            "resourceVersion",
            "uid",
            "generation",
            "creationTimestamp",
            "selfLink",
        ] {
            meta.remove(field);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    object
}

/// Masks a Secret's values: `***` when equal on both sides, `*** (before)` / `*** (after)`
/// when the value changes, so a diff shows which keys change and never what they hold.
fn masked(
    secret: bool,
    before: Option<Value>,
    after: Option<Value>,
) -> (Option<Value>, Option<Value>) {
    if !secret {
        return (before, after);
    }
    let values = |v: &Option<Value>, field: &str| -> BTreeMap<String, Value> {
        v.as_ref()
            .and_then(|v| v.get(field))
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    let mut before = before;
    let mut after = after;
    for field in ["data", "stringData"] {
        let old = values(&before, field);
        let new = values(&after, field);
        let mask = |side: &mut Option<Value>,
                    mine: &BTreeMap<String, Value>,
                    other: &BTreeMap<String, Value>,
                    label: &str| {
            let Some(map) = side
                .as_mut()
                .and_then(|v| v.get_mut(field))
                .and_then(Value::as_object_mut)
            else {
                return;
            };
            for (key, value) in map.iter_mut() {
                let same = other.get(key) == mine.get(key);
                *value = Value::String(if same {
                    String::from("***")
                } else {
                    format!("*** ({label})")
                });
            }
        };
        mask(&mut before, &old, &new, "before");
        mask(&mut after, &new, &old, "after");
    }
    (before, after)
}

fn unified(
    object: &ObjectRef,
    verb: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> anyhow::Result<String> {
    let yaml = |v: Option<&Value>| -> anyhow::Result<String> {
        Ok(match v {
            Some(v) => serde_norway::to_string(v)?,
            None => String::new(),
        })
    };
    let (old, new) = (yaml(before)?, yaml(after)?);
    let diff = similar::TextDiff::from_lines(&old, &new);
    let name = object.to_string();
    let body = diff
        .unified_diff()
        .context_radius(3)
        .header(
            &if before.is_some() {
                format!("live/{name}")
            } else {
                String::from("/dev/null")
            },
            &if after.is_some() {
                format!("merged/{name}")
            } else {
                String::from("/dev/null")
            },
        )
        .to_string();
    Ok(format!("► {name} {verb}\n{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_values_are_masked_but_changes_show() {
        let before =
            json!({"kind": "Secret", "data": {"same": "YQ==", "changed": "Yg==", "gone": "Yw=="}});
        let after =
            json!({"kind": "Secret", "data": {"same": "YQ==", "changed": "ZA==", "new": "ZQ=="}});
        let (b, a) = masked(true, Some(before), Some(after));
        let (b, a) = (b.unwrap(), a.unwrap());
        assert_eq!(b["data"]["same"], "***");
        assert_eq!(a["data"]["same"], "***");
        assert_eq!(b["data"]["changed"], "*** (before)");
        assert_eq!(a["data"]["changed"], "*** (after)");
        assert_eq!(b["data"]["gone"], "*** (before)");
        assert_eq!(a["data"]["new"], "*** (after)");
        let text = serde_json::to_string(&(b, a)).unwrap();
        for secret in ["YQ==", "Yg==", "Yw==", "ZA==", "ZQ=="] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    #[test]
    fn server_fields_are_dropped() {
        let live = json!({"metadata": {"name": "a", "uid": "u", "resourceVersion": "1",
            "managedFields": [], "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "status": {"x": 1}, "data": {"k": "v"}});
        assert_eq!(
            clean(&live),
            json!({"metadata": {"name": "a"}, "data": {"k": "v"}})
        );
    }
}
