//! Builtin plugin configs listed under `transformers:` and `generators:`
//! (`apiVersion: builtin`, `kind: LabelTransformer`, ...), read the way
//! kustomize reads them: field names match without regard to case and
//! unknown fields are ignored.
//!
//! Only kustomize's builtin plugins run. A config with any other apiVersion
//! names an exec, container (KRM function) or Go plugin: those run arbitrary
//! programs, which a GitOps controller must never do on behalf of a
//! repository, so they are refused with kubectl's own message (kubectl
//! refuses them too unless `--enable-alpha-plugins` is given).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::Failure;
use crate::fieldspec::FieldSpec;
use crate::kustomization::{GeneratorArgs, Image, Patch, ReplacementEntry, Replica, Selector};
use crate::transform::namespace::SubjectMode;

/// A configured builtin transformer.
#[derive(Debug, Clone)]
pub(crate) enum TransformerConfig {
    /// PrefixTransformer, SuffixTransformer or PrefixSuffixTransformer.
    Affix {
        /// Prefix added (PrefixTransformer, PrefixSuffixTransformer).
        prefix: Option<String>,
        /// Suffix added (SuffixTransformer, PrefixSuffixTransformer).
        suffix: Option<String>,
        /// Fields changed.
        specs: Vec<FieldSpec>,
    },
    /// LabelTransformer or AnnotationsTransformer.
    MapEntries {
        /// Entries set.
        pairs: BTreeMap<String, String>,
        /// Fields holding the maps.
        specs: Vec<FieldSpec>,
    },
    /// NamespaceTransformer.
    Namespace {
        /// The namespace (the config's metadata.namespace).
        namespace: String,
        /// Extra fields set.
        specs: Vec<FieldSpec>,
        /// Leave fields that already hold a value.
        unset_only: bool,
        /// Binding subjects changed.
        subjects: SubjectMode,
    },
    /// ImageTagTransformer.
    ImageTag {
        /// The rewrite.
        image: Image,
        /// Fields holding images besides containers.
        specs: Vec<FieldSpec>,
    },
    /// ReplicaCountTransformer.
    ReplicaCount {
        /// Name and count.
        replica: Replica,
        /// Fields holding the count.
        specs: Vec<FieldSpec>,
    },
    /// PatchTransformer.
    Patch(Patch),
    /// PatchStrategicMergeTransformer.
    PatchStrategicMerge {
        /// Files or inline patches.
        paths: Vec<String>,
        /// Inline patches (a YAML stream).
        patches: String,
    },
    /// PatchJson6902Transformer.
    PatchJson6902 {
        /// Objects patched.
        target: Selector,
        /// File with the operations.
        path: String,
        /// Inline operations.
        json_op: String,
    },
    /// ReplacementTransformer.
    Replacement(Vec<ReplacementEntry>),
    /// HashTransformer.
    Hash,
    /// ValueAddTransformer: a value (default: the kustomization directory's
    /// name) written into fields, or inserted into a path held there.
    ValueAdd {
        /// The value (empty: the kustomization directory's name).
        value: String,
        /// Where it goes.
        targets: Vec<ValueAddTarget>,
        /// File holding more targets (`targets:`).
        target_file: String,
    },
}

/// One target of a ValueAddTransformer.
#[derive(Debug, Clone, Default)]
pub(crate) struct ValueAddTarget {
    /// Objects changed (all when absent).
    pub selector: Option<Selector>,
    /// `/`-separated field path.
    pub field_path: String,
    /// When > 0: insert the value as this (1-based) part of the path the field holds.
    pub file_path_position: i64,
}

/// Reads the `targets` list of a ValueAddTransformer (config or target file).
pub(crate) fn value_add_targets(obj: &Map<String, Value>) -> Result<Vec<ValueAddTarget>, Failure> {
    let items = match get(obj, "targets") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Failure::new("targets must be a list")),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(m) = item else {
            return Err(Failure::new("a targets entry must be a mapping"));
        };
        out.push(ValueAddTarget {
            selector: typed(m, "selector", SELECTOR_FIELDS)?,
            field_path: string(m, "fieldPath"),
            file_path_position: get(m, "filePathPosition")
                .and_then(Value::as_i64)
                .unwrap_or(0),
        });
    }
    Ok(out)
}

/// A configured builtin generator.
#[derive(Debug, Clone)]
pub(crate) enum GeneratorConfig {
    /// ConfigMapGenerator.
    ConfigMap(GeneratorArgs),
    /// SecretGenerator.
    Secret(GeneratorArgs),
    /// IAMPolicyGenerator (GKE workload identity): one ServiceAccount.
    IamPolicy {
        /// Name of the Kubernetes ServiceAccount.
        name: String,
        /// Its namespace (may be empty).
        namespace: String,
        /// Name of the Google service account.
        gsa_name: String,
        /// Google project id.
        project_id: String,
    },
}

/// What a config configures.
#[derive(Debug, Clone)]
pub(crate) enum PluginConfig {
    /// A transformer.
    Transformer(TransformerConfig),
    /// A generator.
    Generator(GeneratorConfig),
}

/// kustomize's id of a config object in messages (`Kind.version.[noGrp]/name.[noNs]`).
pub(crate) fn config_id(obj: &Map<String, Value>) -> String {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let api_version = text(obj.get("apiVersion"));
    let gvk = crate::resid::Gvk::from_api_version(&api_version, &text(obj.get("kind")));
    let meta = obj.get("metadata");
    let name = text(meta.and_then(|m| m.get("name")));
    let namespace = text(meta.and_then(|m| m.get("namespace")));
    let ns = if namespace.is_empty() {
        "[noNs]".to_string()
    } else {
        namespace
    };
    format!("{}/{name}.{ns}", gvk.display())
}

/// Reads one config object.
pub(crate) fn parse(obj: &Map<String, Value>) -> Result<PluginConfig, Failure> {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version != "builtin" {
        return Err(Failure::new(format!(
            "external plugins disabled; unable to load external plugin '{kind}' \
             (only kustomize's builtin plugins, `apiVersion: builtin`, run: exec, container \
             and Go plugins execute arbitrary programs and are refused)"
        )));
    }
    let fail = |e: Failure| {
        Failure::new(format!(
            "plugin {} fails configuration: {}",
            config_id(obj),
            e.0
        ))
    };
    let config = match kind {
        "PrefixTransformer" | "SuffixTransformer" | "PrefixSuffixTransformer" => {
            let specs = field_specs(obj).map_err(fail)?;
            if specs.is_none() {
                return Err(fail(Failure::new("fieldSpecs is not expected to be nil")));
            }
            let prefix = (kind != "SuffixTransformer").then(|| string(obj, "prefix"));
            let suffix = (kind != "PrefixTransformer").then(|| string(obj, "suffix"));
            TransformerConfig::Affix {
                prefix,
                suffix,
                specs: specs.unwrap_or_default(),
            }
        }
        "LabelTransformer" | "AnnotationsTransformer" => {
            let key = if kind == "LabelTransformer" {
                "labels"
            } else {
                "annotations"
            };
            TransformerConfig::MapEntries {
                pairs: string_map(obj, key).map_err(fail)?,
                specs: field_specs(obj).map_err(fail)?.unwrap_or_default(),
            }
        }
        "NamespaceTransformer" => {
            let meta = get(obj, "metadata").and_then(Value::as_object);
            let namespace = meta
                .and_then(|m| get(m, "namespace"))
                .map(scalar)
                .unwrap_or_default();
            let subjects = match string(obj, "setRoleBindingSubjects").as_str() {
                "" | "defaultOnly" => SubjectMode::DefaultOnly,
                "allServiceAccounts" => SubjectMode::AllServiceAccounts,
                "none" => SubjectMode::None,
                other => {
                    return Err(fail(Failure::new(format!(
                        "invalid value \"{other}\" for setRoleBindingSubjects: must be one of \
                         \"defaultOnly\", \"none\" or \"allServiceAccounts\""
                    ))));
                }
            };
            TransformerConfig::Namespace {
                namespace,
                specs: field_specs(obj).map_err(fail)?.unwrap_or_default(),
                unset_only: get(obj, "unsetOnly").and_then(Value::as_bool) == Some(true),
                subjects,
            }
        }
        "ImageTagTransformer" => TransformerConfig::ImageTag {
            image: typed(obj, "imageTag", IMAGE_FIELDS)
                .map_err(fail)?
                .unwrap_or_default(),
            specs: field_specs(obj).map_err(fail)?.unwrap_or_default(),
        },
        "ReplicaCountTransformer" => TransformerConfig::ReplicaCount {
            replica: typed(obj, "replica", REPLICA_FIELDS)
                .map_err(fail)?
                .unwrap_or_default(),
            specs: field_specs(obj).map_err(fail)?.unwrap_or_default(),
        },
        "PatchTransformer" => {
            let mut fields = Map::new();
            for key in ["path", "patch", "target", "options"] {
                if let Some(v) = get(obj, key) {
                    fields.insert(key.into(), v.clone());
                }
            }
            let patch: Patch =
                from_value(conform(Value::Object(fields), PATCH_FIELDS)).map_err(fail)?;
            TransformerConfig::Patch(patch)
        }
        "PatchStrategicMergeTransformer" => {
            let paths = match get(obj, "paths") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items.iter().map(scalar).collect(),
                Some(other) => vec![scalar(other)],
            };
            let patches = string(obj, "patches");
            if paths.is_empty() && patches.is_empty() {
                return Err(fail(Failure::new(
                    "empty file path and empty patch content",
                )));
            }
            TransformerConfig::PatchStrategicMerge { paths, patches }
        }
        "PatchJson6902Transformer" => {
            let target: Option<Selector> = typed(obj, "target", SELECTOR_FIELDS).map_err(fail)?;
            let target = target.unwrap_or_default();
            if target.name.is_empty() {
                return Err(fail(Failure::new("must specify the target name")));
            }
            let path = string(obj, "path");
            let json_op = string(obj, "jsonOp");
            match (path.is_empty(), json_op.is_empty()) {
                (true, true) => {
                    return Err(fail(Failure::new("empty file path and empty jsonOp")));
                }
                (false, false) => {
                    return Err(fail(Failure::new(
                        "must specify a file path or jsonOp, not both",
                    )));
                }
                _ => {}
            }
            TransformerConfig::PatchJson6902 {
                target,
                path,
                json_op,
            }
        }
        "ReplacementTransformer" => {
            let entries = match get(obj, "replacements") {
                None | Some(Value::Null) => Vec::new(),
                Some(v) => from_value(v.clone()).map_err(fail)?,
            };
            TransformerConfig::Replacement(entries)
        }
        "HashTransformer" => TransformerConfig::Hash,
        "ConfigMapGenerator" | "SecretGenerator" => {
            let mut args: GeneratorArgs =
                from_value(conform(Value::Object(obj.clone()), GENERATOR_FIELDS)).map_err(fail)?;
            let meta = get(obj, "metadata").and_then(Value::as_object);
            if args.name.is_empty() {
                args.name = meta
                    .and_then(|m| get(m, "name"))
                    .map(scalar)
                    .unwrap_or_default();
            }
            if args.namespace.is_empty() {
                args.namespace = meta
                    .and_then(|m| get(m, "namespace"))
                    .map(scalar)
                    .unwrap_or_default();
            }
            return Ok(PluginConfig::Generator(if kind == "ConfigMapGenerator" {
                GeneratorConfig::ConfigMap(args)
            } else {
                GeneratorConfig::Secret(args)
            }));
        }
        "IAMPolicyGenerator" => {
            let cloud = string(obj, "cloud");
            if cloud != "gke" {
                return Err(fail(Failure::new(format!(
                    "cloud provider {cloud} not supported yet"
                ))));
            }
            let sub = |key: &str| get(obj, key).and_then(Value::as_object);
            let field = |m: Option<&Map<String, Value>>, key: &str| {
                m.map(|m| string(m, key)).unwrap_or_default()
            };
            let service = sub("kubernetesService");
            let account = sub("serviceAccount");
            return Ok(PluginConfig::Generator(GeneratorConfig::IamPolicy {
                name: field(service, "name"),
                namespace: field(service, "namespace"),
                gsa_name: field(account, "name"),
                project_id: field(account, "projectId"),
            }));
        }
        "ValueAddTransformer" => TransformerConfig::ValueAdd {
            value: string(obj, "value").trim().to_string(),
            targets: value_add_targets(obj).map_err(fail)?,
            target_file: string(obj, "targetFilePath"),
        },
        "HelmChartInflationGenerator" => {
            return Err(Failure::new(format!(
                "builtin plugin '{kind}' is not supported by driftless kustomize ({})",
                config_id(obj)
            )));
        }
        _ => {
            return Err(Failure::new(format!(
                "unable to load builtin {}",
                crate::resid::Gvk::from_api_version(api_version, kind).display()
            )));
        }
    };
    Ok(PluginConfig::Transformer(config))
}

/// The value of `key`, matched without regard to case (the last match wins, as in Go).
fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
        .next_back()
}

fn scalar(v: &Value) -> String {
    crate::resource::scalar_text(v)
}

fn string(obj: &Map<String, Value>, key: &str) -> String {
    get(obj, key).map(scalar).unwrap_or_default()
}

fn string_map(obj: &Map<String, Value>, key: &str) -> Result<BTreeMap<String, String>, Failure> {
    match get(obj, key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => Ok(m.iter().map(|(k, v)| (k.clone(), scalar(v))).collect()),
        Some(_) => Err(Failure::new(format!("{key} must be a map of strings"))),
    }
}

/// `fieldSpecs`: `None` when absent.
fn field_specs(obj: &Map<String, Value>) -> Result<Option<Vec<FieldSpec>>, Failure> {
    let items = match get(obj, "fieldSpecs") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Failure::new("fieldSpecs must be a list")),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(m) = item else {
            return Err(Failure::new("a fieldSpecs entry must be a mapping"));
        };
        let text = |k: &str| string(m, k);
        let create = get(m, "create").and_then(Value::as_bool) == Some(true);
        out.push(FieldSpec::new(
            &text("group"),
            &text("version"),
            &text("kind"),
            &text("path"),
            create,
        ));
    }
    Ok(Some(out))
}

const SELECTOR_FIELDS: &[&str] = &[
    "group",
    "version",
    "kind",
    "name",
    "namespace",
    "labelSelector",
    "annotationSelector",
];
const IMAGE_FIELDS: &[&str] = &["name", "newName", "newTag", "digest", "tagSuffix"];
const REPLICA_FIELDS: &[&str] = &["name", "count"];
const PATCH_FIELDS: &[&str] = &["path", "patch", "target", "options"];
const GENERATOR_FIELDS: &[&str] = &[
    "name",
    "namespace",
    "behavior",
    "literals",
    "files",
    "envs",
    "env",
    "options",
    "type",
];
const OPTION_FIELDS: &[&str] = &[
    "labels",
    "annotations",
    "disableNameSuffixHash",
    "immutable",
];

/// Keeps the known fields of an object, spelled canonically (nested
/// `target` and `options` too), dropping the rest as Go's lenient decoding does.
fn conform(value: Value, fields: &[&str]) -> Value {
    let Value::Object(m) = value else {
        return value;
    };
    let mut out = Map::new();
    for (k, v) in m {
        let Some(name) = fields.iter().find(|f| f.eq_ignore_ascii_case(&k)) else {
            continue;
        };
        let v = match (*name, fields == GENERATOR_FIELDS) {
            ("target", _) => conform(v, SELECTOR_FIELDS),
            ("options", true) => conform(v, OPTION_FIELDS),
            _ => v,
        };
        out.insert((*name).to_string(), v);
    }
    Value::Object(out)
}

fn typed<T: DeserializeOwned>(
    obj: &Map<String, Value>,
    key: &str,
    fields: &[&str],
) -> Result<Option<T>, Failure> {
    match get(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => from_value(conform(v.clone(), fields)).map(Some),
    }
}

fn from_value<T: DeserializeOwned>(v: Value) -> Result<T, Failure> {
    serde_json::from_value(v).map_err(|e| Failure::new(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn keys_match_without_case_and_unknown_fields_are_ignored() {
        let c = parse(&obj(json!({
            "apiVersion": "builtin",
            "kind": "LabelTransformer",
            "metadata": {"name": "x"},
            "Labels": {"a": "b"},
            "FieldSpecs": [{"Path": "metadata/labels", "create": true}],
            "bogus": 1,
        })))
        .unwrap();
        let PluginConfig::Transformer(TransformerConfig::MapEntries { pairs, specs }) = c else {
            panic!("wrong config {c:?}");
        };
        assert_eq!(pairs.get("a").map(String::as_str), Some("b"));
        assert_eq!(specs[0].path_string(), "metadata/labels");
        assert!(specs[0].create);
    }

    #[test]
    fn non_builtin_plugins_are_refused_by_kind() {
        for api_version in [
            "someteam.example.com/v1",
            "builtin.kustomize.config.k8s.io/v1",
        ] {
            let e = parse(&obj(json!({
                "apiVersion": api_version,
                "kind": "SedTransformer",
                "metadata": {"name": "x"},
            })))
            .unwrap_err();
            assert!(
                e.0.contains("unable to load external plugin 'SedTransformer'"),
                "{e}"
            );
        }
    }

    #[test]
    fn unknown_builtin_kinds_are_refused_like_kubectl() {
        let e = parse(&obj(json!({
            "apiVersion": "builtin",
            "kind": "SortOrderTransformer",
            "metadata": {"name": "x"},
        })))
        .unwrap_err();
        assert_eq!(
            e.0,
            "unable to load builtin SortOrderTransformer.builtin.[noGrp]"
        );
    }

    #[test]
    fn prefix_needs_field_specs() {
        let e = parse(&obj(json!({
            "apiVersion": "builtin",
            "kind": "PrefixSuffixTransformer",
            "metadata": {"name": "x"},
            "prefix": "a-",
        })))
        .unwrap_err();
        assert!(e.0.contains("fieldSpecs is not expected to be nil"), "{e}");
    }

    #[test]
    fn generator_name_falls_back_to_metadata() {
        let c = parse(&obj(json!({
            "apiVersion": "builtin",
            "kind": "ConfigMapGenerator",
            "metadata": {"name": "mymap", "namespace": "ns"},
            "literals": ["A=1"],
            "options": {"disableNameSuffixHash": true, "bogus": 1},
        })))
        .unwrap();
        let PluginConfig::Generator(GeneratorConfig::ConfigMap(args)) = c else {
            panic!("wrong config {c:?}");
        };
        assert_eq!(args.name, "mymap");
        assert_eq!(args.namespace, "ns");
        assert!(args.options.unwrap().disable_name_suffix_hash);
    }
}
