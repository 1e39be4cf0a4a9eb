//! Name references: after renames (prefix, suffix, hash, namespace), fields
//! that name another object (ConfigMap volumes, roleRef, subjects, …) are
//! updated to the referred object's new name (kustomize's nameref filter).

use std::collections::HashMap;

use serde_json::Value;

use crate::builtin_specs::NameBackReference;
use crate::error::{Failure, Outcome};
use crate::fieldspec::{self, CreateKind, FieldSpec};
use crate::resid::{CLUSTER_NAMESPACE, Gvk, ResId};
use crate::resmap::ResMap;
use crate::resource::Resource;

/// What the filter needs to know about every object, computed once.
struct Candidate {
    cur: ResId,
    cur_ns: String,
    org_ns: String,
    prev: Vec<ResId>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
    kind: String,
    name: String,
    namespace: String,
}

impl Candidate {
    fn of(r: &Resource) -> Candidate {
        let cur = r.cur_id();
        Candidate {
            cur_ns: cur.effective_namespace().to_string(),
            org_ns: r.org_id().effective_namespace().to_string(),
            prev: r.prev_ids.clone(),
            prefixes: r.prefixes.clone(),
            suffixes: r.suffixes.clone(),
            kind: r.kind().to_string(),
            name: r.name().to_string(),
            namespace: r.namespace().to_string(),
            cur,
        }
    }

    fn affixes_equal(&self, referrer: &Candidate, allow_empty: bool) -> bool {
        let same_end = |a: &[String], b: &[String]| {
            let (s, l) = if a.len() <= b.len() { (a, b) } else { (b, a) };
            if s.is_empty() {
                l.is_empty()
            } else {
                l.ends_with(s)
            }
        };
        let p = (allow_empty && (self.prefixes.is_empty() || referrer.prefixes.is_empty()))
            || same_end(&self.prefixes, &referrer.prefixes);
        let s = (allow_empty && (self.suffixes.is_empty() || referrer.suffixes.is_empty()))
            || same_end(&self.suffixes, &referrer.suffixes);
        p && s
    }
}

/// Fixes every name reference in `resmap`.
pub(crate) fn fix_back_references(resmap: &mut ResMap) -> Outcome<()> {
    let config = std::sync::Arc::clone(&resmap.config);
    let back_refs = if config.is_empty() {
        &crate::transformer_config::default_config().name_reference
    } else {
        &config.name_reference
    };
    fix_with(resmap, back_refs)
}

fn fix_with(resmap: &mut ResMap, back_refs: &[NameBackReference]) -> Outcome<()> {
    let snapshot: Vec<Candidate> = resmap.items.iter().map(Candidate::of).collect();
    let org_gvks: Vec<Gvk> = resmap.items.iter().map(|r| r.org_id().gvk).collect();
    let mut by_ns: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in snapshot.iter().enumerate() {
        by_ns.entry(c.cur_ns.as_str()).or_default().push(i);
    }
    // referrer index -> filters (field spec, target kind), in configuration order
    // Referrer specs indexed by kind (every default spec names one).
    let mut by_kind: HashMap<&str, Vec<(usize, &FieldSpec, &Gvk)>> = HashMap::new();
    let mut any_kind: Vec<(usize, &FieldSpec, &Gvk)> = Vec::new();
    let mut order = 0usize;
    for back_ref in back_refs {
        for spec in &back_ref.referrers {
            let entry = (order, spec, &back_ref.target);
            order += 1;
            if spec.gvk.kind.is_empty() {
                any_kind.push(entry);
            } else {
                by_kind
                    .entry(spec.gvk.kind.as_str())
                    .or_default()
                    .push(entry);
            }
        }
    }
    let mut filters: Vec<Vec<(&FieldSpec, &Gvk)>> = vec![Vec::new(); snapshot.len()];
    for (i, gvk) in org_gvks.iter().enumerate() {
        let mut matched: Vec<(usize, &FieldSpec, &Gvk)> = by_kind
            .get(gvk.kind.as_str())
            .into_iter()
            .flatten()
            .chain(any_kind.iter())
            .filter(|(_, spec, _)| gvk.is_selected_by(&spec.gvk))
            .copied()
            .collect();
        matched.sort_by_key(|(o, _, _)| *o);
        filters[i] = matched.into_iter().map(|(_, s, t)| (s, t)).collect();
    }
    for (i, list) in filters.iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        let candidates = referable_by(i, &snapshot, &by_ns, &resmap.items[i])?;
        let referrer = &snapshot[i];
        let role_ref = role_ref_gvk(&resmap.items[i]);
        let res = &mut resmap.items[i];
        for (spec, target) in list {
            let filter = Filter {
                referrer,
                snapshot: &snapshot,
                candidates: &candidates,
                target,
                role_ref: if spec.path_string().ends_with("roleRef/name") {
                    role_ref.as_ref()
                } else {
                    None
                },
            };
            let spec = FieldSpec {
                gvk: Gvk::default(),
                path: spec.path.clone(),
                create: false,
            };
            fieldspec::apply(&mut res.obj, &spec, CreateKind::Nothing, &mut |node| {
                filter.set(node)
            })
            .map_err(|e| {
                Failure::new(format!(
                    "updating name reference in '{}' field of '{}': {e}",
                    spec.path_string(),
                    referrer.cur
                ))
            })?;
        }
    }
    Ok(())
}

/// kustomize's SubsetThatCouldBeReferencedByResource, as indexes in order.
fn referable_by(
    i: usize,
    snapshot: &[Candidate],
    by_ns: &HashMap<&str, Vec<usize>>,
    res: &Resource,
) -> Outcome<Vec<usize>> {
    let referrer = &snapshot[i];
    if referrer.cur.gvk.is_cluster_scoped() {
        return Ok((0..snapshot.len()).collect());
    }
    let mut namespaces: Vec<&str> = vec![CLUSTER_NAMESPACE, referrer.cur_ns.as_str()];
    let mut extra_raw: Vec<String> = Vec::new();
    if res.kind() == "RoleBinding"
        && let Some(Value::Array(subjects)) = res.obj.get("subjects")
    {
        for s in subjects {
            let Some(m) = s.as_object() else { continue };
            if let (Some(ns), Some(kind)) = (m.get("namespace"), m.get("kind"))
                && kind.as_str() == Some("ServiceAccount")
            {
                match ns.as_str() {
                    Some(n) => extra_raw.push(n.to_string()),
                    None => {
                        return Err(Failure::new(format!(
                            "Invalid Input: namespace is blank for resource \"{}\"",
                            referrer.cur
                        )));
                    }
                }
            }
        }
    }
    let mut out: Vec<usize> = Vec::new();
    for ns in namespaces.drain(..) {
        if let Some(list) = by_ns.get(ns) {
            out.extend(list);
        }
    }
    // RoleBinding subjects: match on the raw namespace of the target.
    if !extra_raw.is_empty() {
        for (j, c) in snapshot.iter().enumerate() {
            if c.cur_ns != CLUSTER_NAMESPACE
                && c.cur_ns != referrer.cur_ns
                && extra_raw.contains(&c.namespace)
            {
                out.push(j);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn role_ref_gvk(res: &Resource) -> Option<Gvk> {
    let role_ref = res.obj.get("roleRef")?.as_object()?;
    let group = role_ref.get("apiGroup")?;
    let kind = role_ref.get("kind")?;
    Some(Gvk {
        group: crate::resource::scalar_text(group),
        version: String::new(),
        kind: crate::resource::scalar_text(kind),
    })
}

struct Filter<'a> {
    referrer: &'a Candidate,
    snapshot: &'a [Candidate],
    candidates: &'a [usize],
    target: &'a Gvk,
    role_ref: Option<&'a Gvk>,
}

impl Filter<'_> {
    fn set(&self, node: &mut Value) -> Outcome<()> {
        match node {
            Value::Null => Ok(()),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Null => {}
                        Value::Object(_) => self.set_mapping(item)?,
                        Value::Array(_) => {
                            return Err(Failure::new(
                                "is expected to be either a string or a map of string",
                            ));
                        }
                        _ => self.set_scalar(item)?,
                    }
                }
                Ok(())
            }
            Value::Object(_) => self.set_mapping(node),
            _ => self.set_scalar(node),
        }
    }

    fn set_scalar(&self, node: &mut Value) -> Outcome<()> {
        let old = crate::resource::scalar_text(node);
        let Some(j) = self.select(&old, self.candidates, false)? else {
            return Ok(());
        };
        let new = &self.snapshot[j].name;
        if *new != old {
            *node = Value::String(new.clone());
        }
        Ok(())
    }

    fn set_mapping(&self, node: &mut Value) -> Outcome<()> {
        let Value::Object(map) = node else {
            return Err(Failure::new("expect a mapping node"));
        };
        let Some(name) = map.get("name") else {
            return Err(Failure::new("path config error; no 'name' field in node"));
        };
        let old = crate::resource::scalar_text(name);
        let candidates: Vec<usize> = match map.get("namespace") {
            None => self.candidates.to_vec(),
            Some(ns) => {
                let ns = crate::resource::scalar_text(ns);
                let by_org: Vec<usize> = self
                    .candidates
                    .iter()
                    .copied()
                    .filter(|&j| {
                        self.snapshot[j].org_ns == ns
                            && self.snapshot[j].org_ns != CLUSTER_NAMESPACE
                    })
                    .collect();
                if !by_org.is_empty() {
                    by_org
                } else {
                    self.candidates
                        .iter()
                        .copied()
                        .filter(|&j| {
                            self.snapshot[j].cur_ns == ns
                                && self.snapshot[j].cur_ns != CLUSTER_NAMESPACE
                        })
                        .collect()
                }
            }
        };
        let Some(j) = self.select(&old, &candidates, true)? else {
            return Ok(());
        };
        let referral = &self.snapshot[j];
        if referral.name == old && referral.namespace.is_empty() {
            return Ok(());
        }
        map.insert("name".into(), Value::String(referral.name.clone()));
        if !referral.namespace.is_empty() {
            map.insert(
                "namespace".into(),
                Value::String(referral.namespace.clone()),
            );
        }
        Ok(())
    }

    /// kustomize's selectReferral.
    fn select(
        &self,
        old: &str,
        candidates: &[usize],
        with_namespace: bool,
    ) -> Outcome<Option<usize>> {
        let snap = self.snapshot;
        let referrer = self.referrer;
        let mut c: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&j| {
                let cand = &snap[j];
                cand.prev.iter().any(|id| id.name == old)
                    && cand
                        .prev
                        .iter()
                        .any(|id| id.gvk.is_selected_by(self.target))
                    && self
                        .role_ref
                        .is_none_or(|rr| cand.prev.iter().any(|id| id.gvk.is_selected_by(rr)))
                    && (referrer.cur.gvk.is_cluster_scoped()
                        || cand.cur.gvk.is_cluster_scoped()
                        || cand.kind == "ServiceAccount"
                        || cand.cur_ns == referrer.cur_ns)
            })
            .collect();
        if c.len() == 1 {
            return Ok(Some(c[0]));
        }
        c.retain(|&j| snap[j].affixes_equal(referrer, true));
        if c.len() > 1 {
            c.retain(|&j| snap[j].affixes_equal(referrer, false));
        }
        match c.len() {
            0 => Ok(None),
            1 => Ok(Some(c[0])),
            _ => {
                let first = &snap[c[0]];
                let identical = c.iter().all(|&j| {
                    snap[j].name == first.name
                        && (!with_namespace || snap[j].namespace == first.namespace)
                });
                if identical {
                    Ok(Some(c[0]))
                } else {
                    let ids: Vec<String> = c.iter().map(|&j| snap[j].cur.to_string()).collect();
                    Err(Failure::new(format!(
                        "found multiple possible referrals: {}",
                        ids.join(", ")
                    )))
                }
            }
        }
    }
}
