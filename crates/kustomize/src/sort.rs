//! Output order: kubectl's legacy kind order (the default) or FIFO.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::error::{Failure, Outcome};
use crate::kustomization::SortOptions;
use crate::resid::{Gvk, ResId};
use crate::resmap::ResMap;

pub(crate) const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

pub(crate) const ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Sorts according to `options` (legacy when absent).
pub(crate) fn sort(resmap: &mut ResMap, options: Option<&SortOptions>) -> Outcome<()> {
    let (first, last): (Vec<String>, Vec<String>) = match options {
        None => (owned(ORDER_FIRST), owned(ORDER_LAST)),
        Some(o) => match o.order.as_str() {
            "fifo" => {
                if o.legacy_sort_options.is_some() {
                    return Err(Failure::new(
                        "the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'",
                    ));
                }
                return Ok(());
            }
            "legacy" => match &o.legacy_sort_options {
                Some(l) => (l.order_first.clone(), l.order_last.clone()),
                None => (owned(ORDER_FIRST), owned(ORDER_LAST)),
            },
            _ => {
                return Err(Failure::new(
                    "the field 'sortOptions.order' must be one of [fifo, legacy]",
                ));
            }
        },
    };
    let mut rank: HashMap<&str, i64> = HashMap::new();
    let n_first = first.len() as i64;
    for (i, k) in first.iter().enumerate() {
        rank.insert(k.as_str(), i as i64 - n_first);
    }
    for (i, k) in last.iter().enumerate() {
        rank.insert(k.as_str(), 1 + i as i64);
    }
    let mut keyed: Vec<(SortKey, crate::resource::Resource)> = std::mem::take(&mut resmap.items)
        .into_iter()
        .map(|r| (SortKey::of(&r.cur_id(), &rank), r))
        .collect();
    keyed.sort_by(|(a, _), (b, _)| a.compare(b));
    resmap.items = keyed.into_iter().map(|(_, r)| r).collect();
    Ok(())
}

/// Everything the legacy comparison looks at, computed once per object.
struct SortKey {
    gvk: Gvk,
    rank: i64,
    gvk_string: String,
    id_string: String,
}

impl SortKey {
    fn of(id: &ResId, rank: &HashMap<&str, i64>) -> SortKey {
        SortKey {
            gvk: id.gvk.clone(),
            rank: rank.get(id.gvk.kind.as_str()).copied().unwrap_or(0),
            gvk_string: gvk_sort_string(&id.gvk),
            id_string: id_sort_string(id),
        }
    }

    /// kubectl's legacy order: kind rank, then group/version/kind, then namespace and name.
    fn compare(&self, other: &SortKey) -> Ordering {
        if self.gvk != other.gvk {
            if self.rank != other.rank {
                return self.rank.cmp(&other.rank);
            }
            if self.gvk.kind == "Namespace"
                && other.gvk.kind == "Namespace"
                && (self.gvk.group.is_empty() || other.gvk.group.is_empty())
            {
                return other.gvk_string.cmp(&self.gvk_string);
            }
            return self.gvk_string.cmp(&other.gvk_string);
        }
        self.id_string.cmp(&other.id_string)
    }
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn gvk_sort_string(g: &Gvk) -> String {
    let or = |s: &str, d: &str| {
        if s.is_empty() {
            d.to_string()
        } else {
            s.to_string()
        }
    };
    format!(
        "{}_{}_{}",
        or(&g.group, "~G"),
        or(&g.version, "~V"),
        or(&g.kind, "~K")
    )
}

fn id_sort_string(id: &ResId) -> String {
    let ns = if id.namespace.is_empty() {
        "~X"
    } else {
        &id.namespace
    };
    let name = if id.name.is_empty() { "~N" } else { &id.name };
    format!("{}|{}|{}", id.gvk.display(), ns, name)
}
