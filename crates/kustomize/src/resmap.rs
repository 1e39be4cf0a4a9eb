//! The ordered collection of objects a kustomization accumulates.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{Failure, Outcome};
use crate::kustomization::Var;
use crate::resid::{ResId, id_key};
use crate::resource::{Behavior, Resource};
use crate::transformer_config::{self, TransformerConfig};

/// Objects in build order (identities are unique), with the transformer
/// config and vars accumulated along with them (kustomize's ResAccumulator).
#[derive(Debug, Clone, Default)]
pub(crate) struct ResMap {
    pub items: Vec<Resource>,
    /// Field specs of the built-in transformers: defaults plus `configurations` and `crds`.
    pub config: Arc<TransformerConfig>,
    /// Vars declared so far, by name.
    pub vars: BTreeMap<String, Var>,
}

impl ResMap {
    /// Appends objects, failing on an identity already present.
    pub fn append_all(&mut self, incoming: Vec<Resource>) -> Outcome<()> {
        {
            let mut seen: HashSet<_> = self.items.iter().map(|r| id_key(&r.obj)).collect();
            for r in &incoming {
                if !seen.insert(id_key(&r.obj)) {
                    return Err(Failure::new(format!(
                        "may not add resource with an already registered id: {}",
                        r.cur_id()
                    )));
                }
            }
        }
        self.items.extend(incoming);
        Ok(())
    }

    /// Identity keys of the current objects, for a run of [`ResMap::append_checked`].
    pub fn owned_keys(&self) -> HashSet<OwnedKey> {
        self.items.iter().map(|r| owned_key(&r.obj)).collect()
    }

    /// Appends objects, failing on an identity in `seen` (which the caller keeps
    /// in step with this map across consecutive appends).
    pub fn append_checked(
        &mut self,
        incoming: Vec<Resource>,
        seen: &mut HashSet<OwnedKey>,
    ) -> Outcome<()> {
        for r in &incoming {
            if !seen.insert(owned_key(&r.obj)) {
                return Err(Failure::new(format!(
                    "may not add resource with an already registered id: {}",
                    r.cur_id()
                )));
            }
        }
        self.items.extend(incoming);
        Ok(())
    }

    /// Indexes of objects whose current or any previous identity satisfies `matches`.
    pub fn find_by_any_id(&self, matches: impl Fn(&ResId) -> bool) -> Vec<usize> {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, r)| r.prev_ids.iter().any(&matches) || matches(&r.cur_id()))
            .map(|(i, _)| i)
            .collect()
    }

    /// Adds a generated object following its behavior (create, merge, replace).
    pub fn absorb(&mut self, mut res: Resource) -> Outcome<()> {
        let id = res.cur_id();
        let matches = self.find_by_any_id(|other| other.equals(&id));
        match matches.as_slice() {
            [] => match res.behavior {
                Behavior::Create => self.append_all(vec![res]),
                _ => Err(Failure::new(format!(
                    "id {id} does not exist; cannot merge or replace"
                ))),
            },
            [index] => {
                let old = &self.items[*index];
                match res.behavior {
                    Behavior::Create => {
                        return Err(Failure::new(format!(
                            "id {id} exists; behavior must be merge or replace"
                        )));
                    }
                    Behavior::Replace => {
                        copy_merge_metadata(&mut res, old);
                        if res.origin.is_none() {
                            res.origin = old.origin.clone();
                        }
                    }
                    Behavior::Merge => {
                        copy_merge_metadata(&mut res, old);
                        // kustomize keeps the origin of the object merged into.
                        if old.origin.is_some() {
                            res.origin = old.origin.clone();
                        }
                        merge_string_map_field(&mut res.obj, &old.obj, "data");
                        merge_string_map_field(&mut res.obj, &old.obj, "binaryData");
                    }
                }
                self.items[*index] = res;
                Ok(())
            }
            _ => Err(Failure::new(format!(
                "found multiple objects that could accept merge of {id}"
            ))),
        }
    }

    /// Merges a transformer config into the accumulated one.
    pub fn merge_config(&mut self, incoming: &Arc<TransformerConfig>) -> Outcome<()> {
        transformer_config::merge_into(&mut self.config, incoming).map_err(Failure::new)
    }

    /// kustomize's MergeAccumulator: a base's objects, config and vars.
    pub fn merge_accumulated(
        &mut self,
        other: ResMap,
        seen: &mut HashSet<OwnedKey>,
    ) -> Outcome<()> {
        self.append_checked(other.items, seen)?;
        self.merge_config(&other.config)
            .map_err(|e| Failure::new(format!("configurations: {e}")))?;
        crate::vars::merge_set(&mut self.vars, other.vars.into_values())
            .map_err(|e| Failure::new(format!("vars: {e}")))
    }

    /// Drops objects emptied by a delete patch.
    pub fn remove_empty(&mut self) {
        self.items.retain(|r| !r.is_empty());
    }

    /// Fails when two objects now share an identity.
    pub fn check_unique(&self) -> Outcome<()> {
        let mut seen = HashSet::new();
        for r in &self.items {
            if !seen.insert(id_key(&r.obj)) {
                return Err(Failure::new(format!(
                    "may not add resource with an already registered id: {}",
                    r.cur_id()
                )));
            }
        }
        Ok(())
    }
}

/// An owned identity key (apiVersion, kind, name, effective namespace).
pub(crate) type OwnedKey = (String, String, String, String);

fn owned_key(obj: &Map<String, Value>) -> OwnedKey {
    let (a, k, n, ns) = id_key(obj);
    (a.to_string(), k.to_string(), n.to_string(), ns.to_string())
}

/// kustomize's CopyMergeMetaDataFieldsFrom: labels and annotations merged (new wins),
/// name, namespace and build history taken from the old object.
fn copy_merge_metadata(new: &mut Resource, old: &Resource) {
    for field in ["labels", "annotations"] {
        let mut merged: Map<String, Value> = old
            .obj
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(m) = new
            .obj
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(Value::as_object)
        {
            for (k, v) in m {
                merged.insert(k.clone(), v.clone());
            }
        }
        let meta = new.metadata_mut();
        if merged.is_empty() {
            meta.remove(field);
        } else {
            meta.insert(field.to_string(), Value::Object(merged));
        }
    }
    let name = old.name().to_string();
    let namespace = old.namespace().to_string();
    new.set_name(&name);
    new.set_namespace(&namespace);
    new.needs_hash = new.needs_hash && old.needs_hash;
    new.prev_ids = old.prev_ids.clone();
    new.prefixes = old.prefixes.clone();
    new.suffixes = old.suffixes.clone();
    new.ref_var_names = old.ref_var_names.clone();
    if new.transformations.is_empty() {
        new.transformations = old.transformations.clone();
    }
}

/// Merges the string map `field` of `old` under the one of `new` (new wins).
fn merge_string_map_field(new: &mut Map<String, Value>, old: &Map<String, Value>, field: &str) {
    let mut merged = old
        .get(field)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(m) = new.get(field).and_then(Value::as_object) {
        for (k, v) in m {
            merged.insert(k.clone(), v.clone());
        }
    }
    if merged.is_empty() {
        new.remove(field);
    } else {
        new.insert(field.to_string(), Value::Object(merged));
    }
}
