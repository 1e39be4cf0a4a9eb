//! The `crds` field: OpenAPI definition files (a map from type name to
//! `{Schema, Dependencies}`) whose `x-kubernetes-*` property extensions add
//! field specs: annotations, label selectors, identities (name prefix) and
//! object references (name references). Walking the `$ref`s is bounded in
//! depth and in the number of properties visited.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::builtin_specs::NameBackReference;
use crate::error::{Error, Result};
use crate::fieldspec::FieldSpec;
use crate::resid::Gvk;
use crate::target::Target;
use crate::transformer_config::TransformerConfig;

/// Deepest chain of `$ref`s followed from one type.
const MAX_REF_DEPTH: usize = 64;
/// Most properties visited in one file (references may fan out).
const MAX_VISITED: usize = 100_000;

/// The config the `crds` files of a kustomization add.
pub(crate) fn load(t: &Target<'_>) -> Result<Arc<TransformerConfig>> {
    let mut out = TransformerConfig::default();
    for (i, entry) in t.kustomization.crds.iter().enumerate() {
        if entry.contains("://") {
            return Err(Error::invalid(
                &t.file,
                format!("crds[{i}]: remote file '{entry}' is not supported (only local files)"),
            ));
        }
        let (real, text) = t
            .loader
            .read_field_file(entry, &t.file, &format!("crds[{i}]"))?;
        let value = if text.starts_with('{') {
            serde_json::from_str(&text).map_err(|e| {
                Error::invalid(
                    &real,
                    format!("unable to parse open API definition from '{entry}': {e}"),
                )
            })?
        } else {
            crate::yaml_io::parse_documents(&text, &real, &t.loader.limits)?
                .into_iter()
                .next()
                .unwrap_or(Value::Null)
        };
        let one = config_from_definitions(&value, &real)?;
        out.merge(&one)
            .map_err(|e| Error::invalid(&real, format!("crds[{i}]: {e}")))?;
    }
    Ok(Arc::new(out))
}

/// The `Schema` of a definition (Go's JSON decoding matches the key in any case).
fn schema_of(def: &Value) -> Option<&Map<String, Value>> {
    def.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schema"))
        .and_then(|(_, v)| v.as_object())
}

fn properties(schema: &Map<String, Value>) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

/// kustomize's makeConfigFromApiMap.
fn config_from_definitions(value: &Value, path: &Path) -> Result<TransformerConfig> {
    let defs = match value {
        Value::Null => return Ok(TransformerConfig::default()),
        Value::Object(m) => m,
        _ => {
            return Err(Error::invalid(
                path,
                "unable to parse open API definition: expected a mapping of type names",
            ));
        }
    };
    let mut walker = Walker {
        defs,
        out: TransformerConfig::default(),
        visited: 0,
        file: path,
        chain: Vec::new(),
    };
    for (name, def) in defs {
        let Some(props) = schema_of(def).and_then(properties) else {
            continue;
        };
        if !["kind", "apiVersion", "metadata"]
            .iter()
            .all(|k| props.contains_key(*k))
        {
            continue;
        }
        let kind = name.rsplit('.').next().unwrap_or(name);
        let gvk = Gvk {
            group: String::new(),
            version: String::new(),
            kind: kind.to_string(),
        };
        walker.walk(&gvk, name, &mut Vec::new())?;
    }
    Ok(walker.out)
}

struct Walker<'a> {
    defs: &'a Map<String, Value>,
    out: TransformerConfig,
    visited: usize,
    file: &'a Path,
    /// Type names being walked (a reference back to one of them is a cycle).
    chain: Vec<&'a str>,
}

impl<'a> Walker<'a> {
    fn walk(&mut self, gvk: &Gvk, type_name: &'a str, path: &mut Vec<String>) -> Result<()> {
        let Some(props) = self
            .defs
            .get(type_name)
            .and_then(schema_of)
            .and_then(properties)
        else {
            return Ok(());
        };
        if self.chain.contains(&type_name) {
            return Ok(());
        }
        if self.chain.len() >= MAX_REF_DEPTH {
            return Err(Error::Limit {
                path: self.file.to_path_buf(),
                message: format!("crds: $ref chain deeper than {MAX_REF_DEPTH} at '{type_name}'"),
                limit: format!("crd-ref-depth={MAX_REF_DEPTH}"),
            });
        }
        self.chain.push(type_name);
        for (prop_name, property) in props {
            self.visited += 1;
            if self.visited > MAX_VISITED {
                return Err(Error::Limit {
                    path: self.file.to_path_buf(),
                    message: format!(
                        "crds: more than {MAX_VISITED} properties reached through $refs"
                    ),
                    limit: format!("crd-properties={MAX_VISITED}"),
                });
            }
            let Some(prop) = property.as_object() else {
                continue;
            };
            let ext = |key: &str| prop.get(key).and_then(Value::as_str);
            if self.out.spec_count() >= crate::transformer_config::MAX_FIELD_SPECS {
                return Err(Error::Limit {
                    path: self.file.to_path_buf(),
                    message: format!(
                        "crds: more than {} field specs",
                        crate::transformer_config::MAX_FIELD_SPECS
                    ),
                    limit: format!(
                        "max-field-specs={}",
                        crate::transformer_config::MAX_FIELD_SPECS
                    ),
                });
            }
            path.push(prop_name.clone());
            let spec =
                || FieldSpec::new(&gvk.group, &gvk.version, &gvk.kind, &path.join("/"), false);
            let err = |e: String| {
                Error::invalid(self.file, format!("crds: {type_name}.{prop_name}: {e}"))
            };
            if ext("x-kubernetes-annotation").is_some() {
                self.out
                    .add_spec("commonAnnotations", spec())
                    .map_err(err)?;
            }
            if ext("x-kubernetes-label-selector").is_some() {
                self.out.add_spec("commonLabels", spec()).map_err(err)?;
            }
            if ext("x-kubernetes-identity").is_some() {
                self.out.add_spec("namePrefix", spec()).map_err(err)?;
            }
            if let (Some(version), Some(kind)) = (
                ext("x-kubernetes-object-ref-api-version"),
                ext("x-kubernetes-object-ref-kind"),
            ) {
                let name_key = ext("x-kubernetes-object-ref-name-key").unwrap_or("name");
                let referrer = FieldSpec::new(
                    &gvk.group,
                    &gvk.version,
                    &gvk.kind,
                    &format!("{}/{name_key}", path.join("/")),
                    false,
                );
                self.out
                    .add_name_reference(&NameBackReference {
                        target: Gvk {
                            group: String::new(),
                            version: version.to_string(),
                            kind: kind.to_string(),
                        },
                        referrers: vec![referrer],
                    })
                    .map_err(err)?;
            }
            if let Some(reference) = prop.get("$ref").and_then(Value::as_str)
                && !reference.is_empty()
            {
                self.walk(gvk, reference, path)?;
            }
            path.pop();
        }
        self.chain.pop();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_refs_become_name_references() {
        let defs = serde_json::json!({
            "ex.v1.MyKind": {"Schema": {"properties": {
                "apiVersion": {}, "kind": {}, "metadata": {},
                "spec": {"$ref": "ex.v1.MyKindSpec"}
            }}},
            "ex.v1.MyKindSpec": {"Schema": {"properties": {
                "secretRef": {
                    "x-kubernetes-object-ref-api-version": "v1",
                    "x-kubernetes-object-ref-kind": "Secret",
                    "$ref": "ex.v1.MyKindSpec"
                }
            }}}
        });
        let c = config_from_definitions(&defs, Path::new("crd.json")).unwrap();
        let secret = c
            .name_reference
            .iter()
            .find(|b| b.target.kind == "Secret")
            .unwrap();
        assert_eq!(secret.referrers[0].path_string(), "spec/secretRef/name");
        assert_eq!(secret.referrers[0].gvk.kind, "MyKind");
    }

    #[test]
    fn a_reference_fan_out_is_bounded() {
        // Each type refers to the next twice: 2^40 paths if walked naively.
        let mut defs = Map::new();
        defs.insert(
            "t.Root".into(),
            serde_json::json!({"Schema": {"properties": {"apiVersion": {}, "kind": {}, "metadata": {}, "a": {"$ref": "t.T0"}}}}),
        );
        for i in 0..40 {
            let next = format!("t.T{}", i + 1);
            defs.insert(
                format!("t.T{i}"),
                serde_json::json!({"Schema": {"properties": {"x": {"$ref": next}, "y": {"$ref": next}}}}),
            );
        }
        let err = config_from_definitions(&Value::Object(defs), Path::new("crd.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("crd-properties"), "{err}");
    }
}
