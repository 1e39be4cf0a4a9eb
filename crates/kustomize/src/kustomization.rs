//! The kustomization file: its fields, loading, and refusal of fields the engine lacks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::limits::Limits;

/// File names recognised as a kustomization, in kustomize's order.
pub const KUSTOMIZATION_FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Fields kustomize knows that this engine does not implement; using one is an error.
const UNSUPPORTED_FIELDS: &[&str] = &[
    "helmCharts",
    "helmGlobals",
    "helmChartInflationGenerator",
    "inventory",
];

/// apiVersion of kind Kustomization.
const KUSTOMIZATION_VERSION: &str = "kustomize.config.k8s.io/v1beta1";
/// apiVersion of kind Component.
const COMPONENT_VERSION: &str = "kustomize.config.k8s.io/v1alpha1";

/// A kustomization.yaml (kinds `Kustomization` and `Component`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kustomization {
    /// apiVersion of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Kustomization` or `Component`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Free-form metadata (ignored by the build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Files and directories whose objects are included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Deprecated alias of `resources`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bases: Vec<String>,
    /// Component directories applied on top of the resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Namespace set on every namespaced object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Prefix added to names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_prefix: Option<String>,
    /// Suffix added to names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_suffix: Option<String>,
    /// Labels added to metadata, selectors and templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub common_labels: BTreeMap<String, String>,
    /// Labels with explicit selector/template behaviour.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<Label>,
    /// Annotations added to metadata and templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub common_annotations: BTreeMap<String, String>,
    /// Image rewrites.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    /// Replica count overrides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<Replica>,
    /// Strategic-merge or JSON6902 patches, optionally with a target selector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
    /// Deprecated: strategic-merge patch files (or inline patches).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches_strategic_merge: Vec<String>,
    /// Deprecated: JSON6902 patches with a target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches_json6902: Vec<Patch>,
    /// ConfigMaps to generate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_map_generator: Vec<GeneratorArgs>,
    /// Secrets to generate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_generator: Vec<GeneratorArgs>,
    /// Options applied to every generator of this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_options: Option<GeneratorOptions>,
    /// Copy values from one field to others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replacements: Vec<ReplacementEntry>,
    /// Output order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_options: Option<SortOptions>,
    /// `$(NAME)` variables read from object fields (deprecated in kustomize, still honoured).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<Var>,
    /// Files of custom field specs merged into the built-in transformers' ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configurations: Vec<String>,
    /// OpenAPI definition files of custom kinds whose `x-kubernetes-*`
    /// extensions add name references, label and annotation fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crds: Vec<String>,
    /// The schema strategic merge patches use: `path` (a custom OpenAPI
    /// document) or `version` (a built-in one).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub openapi: BTreeMap<String, String>,
    /// Builtin generator configs: inline YAML, files or kustomization directories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generators: Vec<String>,
    /// Builtin transformer configs: inline YAML, files or kustomization directories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transformers: Vec<String>,
    /// Transformer configs run as checks: they must leave every object unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validators: Vec<String>,
    /// `originAnnotations`, `transformerAnnotations`, `managedByLabel`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub build_metadata: Vec<String>,
    /// Fields this engine refuses (kept to name them in the error).
    #[serde(flatten, skip_serializing)]
    pub(crate) unsupported: BTreeMap<String, Value>,
}

/// An entry of `vars`: the value of a field of one object, substituted for
/// `$(name)` in the fields kustomize's `varReference` specs list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Var {
    /// The variable name, used as `$(name)`.
    pub name: String,
    /// The object the value comes from (its name as written, before prefixes).
    #[serde(
        rename = "objref",
        alias = "objRef",
        alias = "ObjRef",
        alias = "Objref"
    )]
    pub objref: VarTarget,
    /// The field of that object (default `metadata.name`).
    #[serde(
        default,
        rename = "fieldref",
        alias = "fieldRef",
        alias = "FieldRef",
        alias = "Fieldref",
        skip_serializing_if = "VarField::is_empty"
    )]
    pub fieldref: VarField,
}

/// The object a var reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VarTarget {
    /// apiVersion (`group/version` or `version`); overrides group and version.
    #[serde(
        default,
        rename = "apiVersion",
        alias = "apiversion",
        alias = "APIVersion",
        skip_serializing_if = "String::is_empty"
    )]
    pub api_version: String,
    /// API group.
    #[serde(default, alias = "Group", skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// API version.
    #[serde(default, alias = "Version", skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Kind.
    #[serde(default, alias = "Kind", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name, before any prefix or suffix.
    #[serde(default, alias = "Name")]
    pub name: String,
    /// Namespace; empty matches any.
    #[serde(default, alias = "Namespace", skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// The field a var reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VarField {
    /// Dotted path, `[n]` for list positions (default `metadata.name`).
    #[serde(
        default,
        rename = "fieldPath",
        alias = "fieldpath",
        alias = "FieldPath",
        skip_serializing_if = "String::is_empty"
    )]
    pub field_path: String,
}

impl VarField {
    fn is_empty(&self) -> bool {
        self.field_path.is_empty()
    }
}

/// An entry of `labels`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Label {
    /// The labels.
    #[serde(default)]
    pub pairs: BTreeMap<String, String>,
    /// Also add them to selectors (like commonLabels).
    #[serde(default)]
    pub include_selectors: bool,
    /// Also add them to pod templates.
    #[serde(default)]
    pub include_templates: bool,
    /// Extra field specs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldSpecArg>,
}

/// A user-written field spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldSpecArg {
    /// Path, `/`-separated.
    pub path: String,
    /// API group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Create missing fields.
    #[serde(default)]
    pub create: bool,
}

/// An entry of `images`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Image {
    /// Image name to match (without tag or digest).
    pub name: String,
    /// Replacement name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub new_name: String,
    /// Replacement tag.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub new_tag: String,
    /// Replacement digest.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
    /// Suffix appended to the existing tag.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tag_suffix: String,
}

/// An entry of `replicas`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replica {
    /// Name of the workload.
    pub name: String,
    /// Replica count.
    pub count: i64,
}

/// A target selector for patches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    /// API group (anchored regex).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// API version (anchored regex).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Kind (anchored regex).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name (anchored regex).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace (anchored regex).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Label selector.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label_selector: String,
    /// Annotation selector.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub annotation_selector: String,
}

/// An entry of `patches` or `patchesJson6902`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patch {
    /// File holding the patch.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Inline patch.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub patch: String,
    /// Objects the patch applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
    /// allowNameChange / allowKindChange.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, bool>,
}

/// Arguments of a ConfigMap or Secret generator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorArgs {
    /// Name of the generated object.
    #[serde(default)]
    pub name: String,
    /// Namespace of the generated object.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// create, merge or replace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub behavior: String,
    /// `key=value` pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub literals: Vec<String>,
    /// Files, as `path` or `key=path`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Env files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub envs: Vec<String>,
    /// Deprecated single env file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub env: String,
    /// Per-generator options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<GeneratorOptions>,
    /// Secret type (secrets only).
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub secret_type: String,
}

/// Generator options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorOptions {
    /// Labels added to generated objects.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations added to generated objects.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// No content-hash suffix.
    #[serde(default)]
    pub disable_name_suffix_hash: bool,
    /// Mark generated objects immutable.
    #[serde(default)]
    pub immutable: bool,
}

/// An entry of `replacements`: inline, or a file holding one or more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReplacementEntry {
    /// `path: file.yaml`.
    Path {
        /// File with replacements.
        path: String,
    },
    /// Inline replacement.
    Inline(Box<Replacement>),
}

/// One replacement: a source field copied into target fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replacement {
    /// Where the value comes from.
    #[serde(default)]
    pub source: Option<ReplacementSource>,
    /// Where it goes.
    #[serde(default)]
    pub targets: Vec<ReplacementTarget>,
}

/// The source of a replacement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacementSource {
    /// API group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: String,
    /// Field path (default metadata.name).
    #[serde(default)]
    pub field_path: String,
    /// Delimiter/index options.
    #[serde(default)]
    pub options: Option<FieldOptions>,
}

/// A target of a replacement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacementTarget {
    /// Objects selected.
    #[serde(default)]
    pub select: Option<TargetSelector>,
    /// Objects excluded.
    #[serde(default)]
    pub reject: Vec<TargetSelector>,
    /// Fields written.
    #[serde(default)]
    pub field_paths: Vec<String>,
    /// Delimiter/index/create options.
    #[serde(default)]
    pub options: Option<FieldOptions>,
}

/// Exact-match selector of replacements.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetSelector {
    /// API group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: String,
    /// Label selector.
    #[serde(default)]
    pub label_selector: String,
    /// Annotation selector.
    #[serde(default)]
    pub annotation_selector: String,
}

/// Options of a replacement source or target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldOptions {
    /// Split the value on this delimiter.
    #[serde(default)]
    pub delimiter: String,
    /// Part of the split value.
    #[serde(default)]
    pub index: i64,
    /// Create missing target fields.
    #[serde(default)]
    pub create: bool,
    /// Encoding (unsupported unless empty).
    #[serde(default)]
    pub encoding: String,
}

/// Sort options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SortOptions {
    /// `legacy` or `fifo`.
    #[serde(default)]
    pub order: String,
    /// Kinds first and last for the legacy order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_sort_options: Option<LegacySortOptions>,
}

/// Custom kind order for the legacy sort.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LegacySortOptions {
    /// Kinds placed first, in order.
    #[serde(default)]
    pub order_first: Vec<String>,
    /// Kinds placed last, in order.
    #[serde(default)]
    pub order_last: Vec<String>,
}

impl Kustomization {
    /// Parses the text of a kustomization file under the default [`Limits`].
    pub fn from_yaml(text: &str, path: &Path) -> Result<Kustomization> {
        Kustomization::from_yaml_with(text, path, &Limits::default())
    }

    /// Parses the text of a kustomization file under `limits`.
    pub fn from_yaml_with(text: &str, path: &Path, limits: &Limits) -> Result<Kustomization> {
        let docs = crate::yaml11::parse_documents(text, path, limits)?;
        let value = match docs.len() {
            0 => Value::Object(Default::default()),
            1 => docs.into_iter().next().unwrap_or(Value::Null),
            _ => {
                return Err(Error::invalid(
                    path,
                    "a kustomization file must hold exactly one document",
                ));
            }
        };
        let mut value = value;
        let Some(fields) = value.as_object_mut() else {
            return Err(Error::invalid(path, "invalid Kustomization: not a mapping"));
        };
        crate::kustomization_keys::normalize(fields);
        if fields.keys().all(|k| k == "apiVersion" || k == "kind") {
            return Err(Error::invalid(path, "kustomization.yaml is empty"));
        }
        let k: Kustomization = serde_json::from_value(value)
            .map_err(|e| Error::invalid(path, format!("invalid Kustomization: {e}")))?;
        k.check_fields(path)?;
        Ok(k)
    }

    /// Fails on fields this engine does not implement, and on unknown fields.
    pub(crate) fn check_fields(&self, path: &Path) -> Result<()> {
        if let Some(field) = self.unsupported.keys().next() {
            if UNSUPPORTED_FIELDS.contains(&field.as_str()) {
                return Err(Error::UnsupportedField {
                    path: path.to_path_buf(),
                    field: field.clone(),
                });
            }
            return Err(Error::invalid(
                path,
                format!("invalid Kustomization: unknown field \"{field}\""),
            ));
        }
        let kind = match self.kind.as_deref() {
            None | Some("") | Some("Kustomization") => "Kustomization",
            Some("Component") => "Component",
            Some(other) => {
                return Err(Error::invalid(
                    path,
                    format!("kind should be Kustomization or Component, found '{other}'"),
                ));
            }
        };
        let required = if kind == "Component" {
            COMPONENT_VERSION
        } else {
            KUSTOMIZATION_VERSION
        };
        match self.api_version.as_deref() {
            None | Some("") => Ok(()),
            Some(v) if v == required => Ok(()),
            Some(_) => Err(Error::invalid(
                path,
                format!("apiVersion for {kind} should be {required}"),
            )),
        }
    }

    /// True when `buildMetadata` lists `option`.
    pub fn has_build_metadata(&self, option: &str) -> bool {
        self.build_metadata.iter().any(|o| o == option)
    }

    /// True for `kind: Component`.
    pub fn is_component(&self) -> bool {
        self.kind.as_deref() == Some("Component")
    }

    /// Finds the kustomization file of a directory, if any.
    pub fn find_file(dir: &Path) -> Result<Option<PathBuf>> {
        let mut found = Vec::new();
        for name in KUSTOMIZATION_FILE_NAMES {
            let candidate = dir.join(name);
            if candidate.is_file() {
                found.push(candidate);
            }
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(Error::invalid(
                dir,
                "Found multiple kustomization files under the directory",
            )),
        }
    }

    /// Loads the kustomization file of `dir` under the default [`Limits`];
    /// `Ok(None)` when the directory has none.
    pub fn load(dir: &Path) -> Result<Option<Kustomization>> {
        Kustomization::load_with(dir, &Limits::default())
    }

    /// Loads the kustomization file of `dir` under `limits` (its size is checked
    /// before it is read); `Ok(None)` when the directory has none.
    pub fn load_with(dir: &Path, limits: &Limits) -> Result<Option<Kustomization>> {
        let Some(file) = Kustomization::find_file(dir)? else {
            return Ok(None);
        };
        let text = crate::loader::read_text_bounded(&file, limits)?;
        Kustomization::from_yaml_with(&text, &file, limits).map(Some)
    }

    /// Renders the kustomization as YAML.
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).unwrap_or_default()
    }
}
