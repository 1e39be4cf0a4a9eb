//! The field specs every built-in transformer works from (kustomize's
//! `TransformerConfig`): the defaults, plus what `configurations` files and
//! `crds` add. A kustomization's config is its bases' configs merged with its
//! own, so a base's custom config reaches the overlays built on it.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::builtin_specs::{self, NameBackReference};
use crate::error::{Error, Result};
use crate::fieldspec::FieldSpec;
use crate::resid::Gvk;

/// Field specs of each built-in transformer, and the name references.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TransformerConfig {
    /// Where namePrefix applies.
    pub name_prefix: Vec<FieldSpec>,
    /// Where nameSuffix applies.
    pub name_suffix: Vec<FieldSpec>,
    /// Where the namespace transformer writes besides metadata.namespace.
    pub namespace: Vec<FieldSpec>,
    /// Where commonLabels (and labels with includeSelectors) go.
    pub common_labels: Vec<FieldSpec>,
    /// Where every `labels` entry goes besides its own specs.
    pub labels: Vec<FieldSpec>,
    /// Where labels with includeTemplates go.
    pub template_labels: Vec<FieldSpec>,
    /// Where commonAnnotations go.
    pub common_annotations: Vec<FieldSpec>,
    /// Fields naming other objects.
    pub name_reference: Vec<NameBackReference>,
    /// Fields where `$(VAR)` is replaced.
    pub var_reference: Vec<FieldSpec>,
    /// Image fields.
    pub images: Vec<FieldSpec>,
    /// Replica count fields.
    pub replicas: Vec<FieldSpec>,
}

/// kustomize's default config, shared by every kustomization without a custom one.
pub(crate) fn default_config() -> &'static Arc<TransformerConfig> {
    static CELL: OnceLock<Arc<TransformerConfig>> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut config = TransformerConfig {
            name_prefix: vec![FieldSpec::new("", "", "", "metadata/name", false)],
            name_suffix: vec![FieldSpec::new("", "", "", "metadata/name", false)],
            namespace: builtin_specs::namespace().to_vec(),
            common_labels: builtin_specs::common_labels().to_vec(),
            labels: Vec::new(),
            template_labels: builtin_specs::template_labels().to_vec(),
            common_annotations: builtin_specs::common_annotations().to_vec(),
            name_reference: builtin_specs::name_references().to_vec(),
            var_reference: builtin_specs::var_references().to_vec(),
            images: builtin_specs::images().to_vec(),
            replicas: builtin_specs::replicas().to_vec(),
        };
        config.sort();
        Arc::new(config)
    })
}

/// Most field specs one transformer config may hold (kustomize's defaults hold
/// about 250). Merging is quadratic in the count, as in kustomize, so a
/// configuration or CRD file may not hold more.
pub(crate) const MAX_FIELD_SPECS: usize = 5_000;

/// The sections of a configuration file, as kustomize spells them.
const SECTIONS: [&str; 11] = [
    "namePrefix",
    "nameSuffix",
    "namespace",
    "commonLabels",
    "labels",
    "templateLabels",
    "commonAnnotations",
    "nameReference",
    "varReference",
    "images",
    "replicas",
];

impl TransformerConfig {
    /// Number of field specs in every section, name-reference referrers included.
    pub fn spec_count(&self) -> usize {
        SECTIONS
            .iter()
            .filter(|s| **s != "nameReference")
            .map(|s| self.section(s).len())
            .sum::<usize>()
            + self
                .name_reference
                .iter()
                .map(|b| b.referrers.len() + 1)
                .sum::<usize>()
    }

    /// Refuses a config past [`MAX_FIELD_SPECS`].
    pub fn check_size(&self, path: &Path) -> Result<()> {
        let count = self.spec_count();
        if count > MAX_FIELD_SPECS {
            return Err(Error::Limit {
                path: path.to_path_buf(),
                message: format!("{count} field specs, more than the {MAX_FIELD_SPECS} allowed"),
                limit: format!("max-field-specs={MAX_FIELD_SPECS}"),
            });
        }
        Ok(())
    }

    /// True when no section holds anything (a fresh accumulator's config).
    pub fn is_empty(&self) -> bool {
        *self == TransformerConfig::default()
    }

    fn section_mut(&mut self, name: &str) -> &mut Vec<FieldSpec> {
        match name {
            "namePrefix" => &mut self.name_prefix,
            "nameSuffix" => &mut self.name_suffix,
            "namespace" => &mut self.namespace,
            "commonLabels" => &mut self.common_labels,
            "labels" => &mut self.labels,
            "templateLabels" => &mut self.template_labels,
            "commonAnnotations" => &mut self.common_annotations,
            "varReference" => &mut self.var_reference,
            "images" => &mut self.images,
            _ => &mut self.replicas,
        }
    }

    fn section(&self, name: &str) -> &[FieldSpec] {
        match name {
            "namePrefix" => &self.name_prefix,
            "nameSuffix" => &self.name_suffix,
            "namespace" => &self.namespace,
            "commonLabels" => &self.common_labels,
            "labels" => &self.labels,
            "templateLabels" => &self.template_labels,
            "commonAnnotations" => &self.common_annotations,
            "varReference" => &self.var_reference,
            "images" => &self.images,
            _ => &self.replicas,
        }
    }

    /// Merges `other` into this config (kustomize's TransformerConfig.Merge):
    /// field specs already present (same path, kind selected by the incoming
    /// one) are kept once; the same spec with a different `create` is an error.
    pub fn merge(&mut self, other: &TransformerConfig) -> std::result::Result<(), String> {
        for name in SECTIONS {
            if name == "nameReference" {
                continue;
            }
            merge_specs(self.section_mut(name), other.section(name))
                .map_err(|e| format!("failed to merge {} fieldSpec: {e}", title(name)))?;
        }
        for back_ref in &other.name_reference {
            self.add_name_reference(back_ref)
                .map_err(|e| format!("failed to merge NameReference fieldSpec: {e}"))?;
        }
        self.sort();
        Ok(())
    }

    /// kustomize's sortFields: every section (and the name references by
    /// target kind) in kind order. Go's sort is not stable; entries of the
    /// same kind keep their order here.
    pub fn sort(&mut self) {
        for name in SECTIONS {
            if name != "nameReference" {
                self.section_mut(name)
                    .sort_by(|a, b| gvk_order(&a.gvk, &b.gvk));
            }
        }
        self.name_reference
            .sort_by(|a, b| gvk_order(&a.target, &b.target));
    }

    /// Adds one name back reference, merging its referrers into an entry for
    /// the same kind when there is one.
    pub fn add_name_reference(
        &mut self,
        back_ref: &NameBackReference,
    ) -> std::result::Result<(), String> {
        match self
            .name_reference
            .iter_mut()
            .find(|b| b.target == back_ref.target)
        {
            Some(existing) => merge_specs(&mut existing.referrers, &back_ref.referrers),
            None => {
                self.name_reference.push(back_ref.clone());
                Ok(())
            }
        }
    }

    /// Adds one field spec to a section (`commonAnnotations`, `commonLabels`, `namePrefix`).
    pub fn add_spec(&mut self, section: &str, spec: FieldSpec) -> std::result::Result<(), String> {
        merge_specs(self.section_mut(section), std::slice::from_ref(&spec))
    }

    /// Parses a configuration file (kustomize's `configurations` entry).
    pub fn from_value(value: &Value, path: &Path) -> Result<TransformerConfig> {
        let mut out = TransformerConfig::default();
        let map = match value {
            Value::Null => return Ok(out),
            Value::Object(m) => m,
            _ => {
                return Err(Error::invalid(
                    path,
                    "configurations: a configuration file must be a mapping",
                ));
            }
        };
        for (key, v) in map {
            let Some(section) = SECTIONS.iter().find(|s| s.eq_ignore_ascii_case(key)) else {
                return Err(Error::invalid(
                    path,
                    format!("configurations: unknown field \"{key}\""),
                ));
            };
            let items = list(v, path, key)?;
            if *section == "nameReference" {
                for (i, item) in items.iter().enumerate() {
                    let field = format!("{key}[{i}]");
                    out.name_reference
                        .push(parse_back_reference(item, path, &field)?);
                }
            } else {
                for (i, item) in items.iter().enumerate() {
                    let field = format!("{key}[{i}]");
                    let spec = parse_field_spec(item, path, &field)?;
                    out.section_mut(section).push(spec);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The section name as kustomize's merge errors print it.
fn title(section: &str) -> String {
    match section {
        "namespace" => "NameSpace".to_string(),
        other => {
            let mut chars = other.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        }
    }
}

/// kustomize's FsSlice.MergeAll.
pub(crate) fn merge_specs(
    into: &mut Vec<FieldSpec>,
    incoming: &[FieldSpec],
) -> std::result::Result<(), String> {
    for spec in incoming {
        match into
            .iter()
            .find(|s| s.gvk.is_selected_by(&spec.gvk) && s.path == spec.path)
        {
            Some(existing) if existing.create != spec.create => {
                return Err(format!(
                    "conflicting fieldspecs for path '{}'",
                    spec.path_string()
                ));
            }
            Some(_) => {}
            None => into.push(spec.clone()),
        }
    }
    Ok(())
}

fn list<'a>(v: &'a Value, path: &Path, field: &str) -> Result<&'a [Value]> {
    match v {
        Value::Null => Ok(&[]),
        Value::Array(items) => Ok(items),
        _ => Err(Error::invalid(
            path,
            format!("configurations: field '{field}' must be a list"),
        )),
    }
}

fn string_field(map: &Map<String, Value>, key: &str, path: &Path, field: &str) -> Result<String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Error::invalid(
            path,
            format!("{field}.{key}: must be a string"),
        )),
    }
}

/// Canonical (kustomize) spelling of a key matched case-insensitively, the
/// way Go's JSON decoding matches struct fields.
fn canonical_keys(
    map: &Map<String, Value>,
    known: &[&str],
    path: &Path,
    field: &str,
) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for (k, v) in map {
        let Some(name) = known.iter().find(|n| n.eq_ignore_ascii_case(k)) else {
            return Err(Error::invalid(
                path,
                format!("{field}: unknown field \"{k}\""),
            ));
        };
        out.insert((*name).to_string(), v.clone());
    }
    Ok(out)
}

/// Parses one field spec (`group`, `version`, `kind`, `path`, `create`).
pub(crate) fn parse_field_spec(item: &Value, path: &Path, field: &str) -> Result<FieldSpec> {
    let Value::Object(raw) = item else {
        return Err(Error::invalid(
            path,
            format!("{field}: a field spec must be a mapping"),
        ));
    };
    let map = canonical_keys(
        raw,
        &["group", "version", "kind", "path", "create"],
        path,
        field,
    )?;
    let create = match map.get("create") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(Error::invalid(
                path,
                format!("{field}.create: must be a boolean"),
            ));
        }
    };
    Ok(FieldSpec::new(
        &string_field(&map, "group", path, field)?,
        &string_field(&map, "version", path, field)?,
        &string_field(&map, "kind", path, field)?,
        &string_field(&map, "path", path, field)?,
        create,
    ))
}

fn parse_back_reference(item: &Value, path: &Path, field: &str) -> Result<NameBackReference> {
    let Value::Object(raw) = item else {
        return Err(Error::invalid(
            path,
            format!("{field}: a name reference must be a mapping"),
        ));
    };
    let map = canonical_keys(
        raw,
        &["group", "version", "kind", "fieldSpecs"],
        path,
        field,
    )?;
    let mut referrers = Vec::new();
    let specs_field = format!("{field}.fieldSpecs");
    for (i, spec) in list(
        map.get("fieldSpecs").unwrap_or(&Value::Null),
        path,
        &specs_field,
    )?
    .iter()
    .enumerate()
    {
        referrers.push(parse_field_spec(
            spec,
            path,
            &format!("{specs_field}[{i}]"),
        )?);
    }
    Ok(NameBackReference {
        target: Gvk {
            group: string_field(&map, "group", path, field)?,
            version: string_field(&map, "version", path, field)?,
            kind: string_field(&map, "kind", path, field)?,
        },
        referrers,
    })
}

/// kustomize's Gvk.IsLessThan: kinds in the legacy output order first, then
/// by group, version and kind text.
fn gvk_order(a: &Gvk, b: &Gvk) -> std::cmp::Ordering {
    fn rank(kind: &str) -> i64 {
        let first = crate::sort::ORDER_FIRST;
        if let Some(i) = first.iter().position(|k| *k == kind) {
            return i as i64 - first.len() as i64;
        }
        if let Some(i) = crate::sort::ORDER_LAST.iter().position(|k| *k == kind) {
            return 1 + i as i64;
        }
        0
    }
    fn stable(g: &Gvk) -> String {
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
    rank(&a.kind)
        .cmp(&rank(&b.kind))
        .then_with(|| stable(a).cmp(&stable(b)))
}

/// The default config as an accumulator holds it after merging it into an
/// empty one (merging drops a wildcard spec that a more specific one with the
/// same path precedes).
fn accumulated_default() -> &'static Arc<TransformerConfig> {
    static CELL: OnceLock<Arc<TransformerConfig>> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut acc = TransformerConfig::default();
        // The defaults never conflict with themselves.
        let _ = acc.merge(default_config());
        Arc::new(acc)
    })
}

/// kustomize's ResAccumulator.MergeConfig: `incoming` merged into the
/// accumulated config, shared instead of copied when nothing changes.
pub(crate) fn merge_into(
    into: &mut Arc<TransformerConfig>,
    incoming: &Arc<TransformerConfig>,
) -> std::result::Result<(), String> {
    let default = default_config();
    let acc = accumulated_default();
    if incoming.is_empty() || Arc::ptr_eq(into, incoming) {
        return Ok(());
    }
    if (Arc::ptr_eq(incoming, default) || Arc::ptr_eq(incoming, acc))
        && (into.is_empty() || Arc::ptr_eq(into, acc))
    {
        *into = Arc::clone(acc);
        return Ok(());
    }
    if into.spec_count() + incoming.spec_count() > 2 * MAX_FIELD_SPECS {
        return Err(format!(
            "the accumulated field specs would pass {} (max-field-specs={MAX_FIELD_SPECS} per config)",
            2 * MAX_FIELD_SPECS
        ));
    }
    let mut merged = (**into).clone();
    merged.merge(incoming)?;
    if merged != **into {
        *into = Arc::new(merged);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TransformerConfig> {
        let v: Value = serde_norway::from_str(text).unwrap();
        TransformerConfig::from_value(&v, Path::new("config.yaml"))
    }

    #[test]
    fn custom_sections_merge_into_the_defaults() {
        let custom = parse(
            "nameReference:\n- kind: Gorilla\n  fieldSpecs:\n  - kind: AnimalPark\n    path: spec/gorillaRef/name\nvarReference:\n- path: spec/food\n  kind: AnimalPark\n",
        )
        .unwrap();
        let mut merged = (**default_config()).clone();
        merged.merge(&custom).unwrap();
        assert!(
            merged
                .name_reference
                .iter()
                .any(|b| b.target.kind == "Gorilla")
        );
        assert_eq!(
            merged.var_reference.len(),
            default_config().var_reference.len() + 1
        );
        // Merging the defaults again changes nothing.
        let before = merged.clone();
        merged.merge(default_config()).unwrap();
        assert_eq!(merged, before);
    }

    #[test]
    fn merging_the_defaults_again_is_a_fixpoint() {
        let mut again = (**accumulated_default()).clone();
        again.merge(default_config()).unwrap();
        assert_eq!(&again, &**accumulated_default());
    }

    #[test]
    fn a_specific_spec_hides_the_wildcard_with_the_same_path() {
        // kubectl: a custom `namePrefix: [{kind: Ingress, path: metadata/name}]`
        // leaves other kinds unprefixed.
        let custom = parse("namePrefix:\n- path: metadata/name\n  kind: Ingress\n").unwrap();
        let mut made = (**default_config()).clone();
        made.merge(&custom).unwrap();
        let mut acc = Arc::new(TransformerConfig::default());
        merge_into(&mut acc, &Arc::new(made)).unwrap();
        assert_eq!(acc.name_prefix.len(), 1);
        assert_eq!(acc.name_prefix[0].gvk.kind, "Ingress");
    }

    #[test]
    fn a_conflicting_create_is_refused() {
        let custom = parse("namePrefix:\n- path: metadata/name\n  create: true\n").unwrap();
        let mut merged = (**default_config()).clone();
        let err = merged.merge(&custom).unwrap_err();
        assert!(err.contains("conflicting fieldspecs"), "{err}");
    }

    #[test]
    fn unknown_fields_name_the_file_and_field() {
        let err = parse("nameReferences: []\n").unwrap_err().to_string();
        assert!(
            err.contains("config.yaml") && err.contains("nameReferences"),
            "{err}"
        );
        let err = parse("images:\n- paths: x\n").unwrap_err().to_string();
        assert!(err.contains("images[0]") && err.contains("paths"), "{err}");
    }

    #[test]
    fn keys_match_case_insensitively_like_go_json() {
        let c = parse("nameprefix:\n- Path: spec/x\n  Kind: Foo\n").unwrap();
        assert_eq!(c.name_prefix[0].gvk.kind, "Foo");
    }
}
