//! The `generators:` and `transformers:` fields: builtin plugin configs given
//! inline, as files, or as kustomization directories whose built objects are
//! the configs. kustomize runs them after the kustomization's own generators
//! and transformers, inline entries first, then files and directories, each in
//! listed order. Paths inside a config (patch files, generator inputs) are
//! read through the listing kustomization's loader, under the same
//! restrictions and limits as its other files.

use serde_json::{Map, Value};

use crate::build_metadata::{ConfiguredBy, Origin};
use crate::error::{Error, Result};
use crate::generator::{self, GeneratedKind};
use crate::kustomization::Patch;
use crate::openapi::Schema;
use crate::plugin_config::{self, GeneratorConfig, PluginConfig, TransformerConfig};
use crate::resmap::ResMap;
use crate::target::{self, Builder, Target, check_count, fail};
use crate::transform::{images, labels, name_affix, namespace, replicas};

/// A config object and where it came from.
struct Loaded {
    /// `transformers[i]` / `generators[i]`, for messages.
    field: String,
    /// The config.
    obj: Map<String, Value>,
    /// Origin of the config object itself (tracked builds only).
    origin: Option<Origin>,
}

/// Runs the `generators:` configs of `t`, absorbing what they make into `ra`.
pub(crate) fn run_generators(b: &mut Builder, t: &Target<'_>, ra: &mut ResMap) -> Result<()> {
    let entries = &t.kustomization.generators;
    if entries.is_empty() {
        return Ok(());
    }
    for loaded in load(b, t, entries, "generators")? {
        let config = plugin_config::parse(&loaded.obj).map_err(fail(&t.file, &loaded.field))?;
        let PluginConfig::Generator(config) = config else {
            return Err(Error::invalid(
                &t.file,
                format!(
                    "{}: plugin {} not a generator",
                    loaded.field,
                    plugin_config::config_id(&loaded.obj)
                ),
            ));
        };
        check_count(t, ra.items.len().saturating_add(1))?;
        let (kind, args) = match &config {
            GeneratorConfig::ConfigMap(a) => (GeneratedKind::ConfigMap, a),
            GeneratorConfig::Secret(a) => (GeneratedKind::Secret, a),
            GeneratorConfig::IamPolicy {
                name,
                namespace,
                gsa_name,
                project_id,
            } => {
                let mut res = service_account(name, namespace, gsa_name, project_id);
                res.origin = plugin_origin(&loaded);
                ra.absorb(res).map_err(|e| {
                    Error::invalid(
                        &t.file,
                        format!("{}: merging from generator '{name}': {e}", loaded.field),
                    )
                })?;
                continue;
            }
        };
        let mut res =
            generator::generate(kind, args, None, &t.loader, &t.file).map_err(|e| match e {
                Error::Invalid { path, message } => Error::Invalid {
                    path,
                    message: format!("{}: {message}", loaded.field),
                },
                other => other,
            })?;
        res.origin = plugin_origin(&loaded);
        ra.absorb(res).map_err(|e| {
            Error::invalid(
                &t.file,
                format!(
                    "{}: merging from generator '{}': {e}",
                    loaded.field, args.name
                ),
            )
        })?;
    }
    Ok(())
}

/// The ServiceAccount an IAMPolicyGenerator makes: bound to a Google service
/// account through GKE workload identity.
fn service_account(
    name: &str,
    namespace: &str,
    gsa_name: &str,
    project_id: &str,
) -> crate::resource::Resource {
    let mut annotations = Map::new();
    annotations.insert(
        "iam.gke.io/gcp-service-account".into(),
        Value::String(format!("{gsa_name}@{project_id}.iam.gserviceaccount.com")),
    );
    let mut meta = Map::new();
    meta.insert("annotations".into(), Value::Object(annotations));
    meta.insert("name".into(), Value::String(name.to_string()));
    if !namespace.is_empty() {
        meta.insert("namespace".into(), Value::String(namespace.to_string()));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert("kind".into(), Value::String("ServiceAccount".into()));
    obj.insert("metadata".into(), Value::Object(meta));
    crate::resource::Resource::new(obj)
}

/// Runs the `transformers:` configs of `t` on `ra`, in kustomize's order.
pub(crate) fn run_transformers(b: &mut Builder, t: &Target<'_>, ra: &mut ResMap) -> Result<()> {
    let entries = &t.kustomization.transformers;
    if entries.is_empty() {
        return Ok(());
    }
    // Every config is read and checked before any runs, as kustomize does.
    let mut configs = Vec::new();
    for loaded in load(b, t, entries, "transformers")? {
        let config = plugin_config::parse(&loaded.obj).map_err(fail(&t.file, &loaded.field))?;
        let PluginConfig::Transformer(config) = config else {
            return Err(Error::invalid(
                &t.file,
                format!(
                    "{}: plugin {} not a transformer",
                    loaded.field,
                    plugin_config::config_id(&loaded.obj)
                ),
            ));
        };
        configs.push((config, loaded));
    }
    for (config, loaded) in &configs {
        transform(t, ra, config, &loaded.field, &b.schema.schema)?;
        if let Some(origin) = plugin_origin(loaded) {
            crate::build_metadata::note_transformer(ra, &origin);
        }
        ra.remove_empty();
    }
    Ok(())
}

/// Runs the `validators:` configs of `t`: each is a transformer that must
/// leave the objects as they are (kustomize ignores only its
/// `validated-by` label).
pub(crate) fn run_validators(b: &mut Builder, t: &Target<'_>, ra: &mut ResMap) -> Result<()> {
    let entries = &t.kustomization.validators;
    if entries.is_empty() {
        return Ok(());
    }
    for loaded in load(b, t, entries, "validators")? {
        let config = plugin_config::parse(&loaded.obj).map_err(fail(&t.file, &loaded.field))?;
        let PluginConfig::Transformer(config) = config else {
            return Err(Error::invalid(
                &t.file,
                format!(
                    "{}: plugin {} not a transformer",
                    loaded.field,
                    plugin_config::config_id(&loaded.obj)
                ),
            ));
        };
        let mut copy = ra.clone();
        transform(t, &mut copy, &config, &loaded.field, &b.schema.schema)?;
        let unchanged = copy.items.len() == ra.items.len()
            && copy
                .items
                .iter()
                .zip(&ra.items)
                .all(|(a, b)| a.obj == b.obj);
        if !unchanged {
            return Err(Error::invalid(
                &t.file,
                format!(
                    "{}: validator shouldn't modify the resource map",
                    loaded.field
                ),
            ));
        }
    }
    Ok(())
}

/// kustomize's OriginFromCustomPlugin: the config's own file as `configuredIn`.
fn plugin_origin(loaded: &Loaded) -> Option<Origin> {
    let origin = loaded.origin.as_ref()?;
    let text = |v: Option<&Value>| v.map(crate::resource::scalar_text).unwrap_or_default();
    let meta = loaded.obj.get("metadata");
    Some(Origin::configured(
        origin.path.clone(),
        ConfiguredBy {
            api_version: text(loaded.obj.get("apiVersion")),
            kind: text(loaded.obj.get("kind")),
            name: text(meta.and_then(|m| m.get("name"))),
            namespace: text(meta.and_then(|m| m.get("namespace"))),
        },
    ))
}

/// Reads the config objects of `entries`: inline ones first, then files and
/// directories, as kustomize's configureExternalTransformers orders them.
fn load(b: &mut Builder, t: &Target<'_>, entries: &[String], name: &str) -> Result<Vec<Loaded>> {
    let limits = &t.loader.limits;
    let mut inline = Vec::new();
    let mut paths = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("{name}[{i}]");
        match crate::yaml_io::parse_objects(entry, &t.file, limits) {
            // An inline config past the limits is refused, never retried as a path.
            Err(e @ Error::Limit { .. }) => return Err(e),
            Ok(objects) if !objects.is_empty() => {
                let origin = t.origin_of(&t.file_name()).map(Origin::file);
                for obj in objects {
                    inline.push(Loaded {
                        field: field.clone(),
                        obj,
                        origin: origin.clone(),
                    });
                }
            }
            _ => paths.push((field, entry)),
        }
    }
    let mut out = inline;
    for (field, entry) in paths {
        let path = t.loader.join(entry.trim());
        if path.is_dir() {
            let built = b.build_dir(t, entry.trim(), &field)?;
            for res in built.items {
                out.push(Loaded {
                    field: field.clone(),
                    obj: res.obj,
                    origin: res.origin,
                });
            }
        } else {
            let (real, text) = t.loader.read_text(entry.trim(), &t.file)?;
            let origin = t.origin_of(entry.trim()).map(Origin::file);
            for obj in crate::yaml_io::parse_objects(&text, &real, limits)? {
                out.push(Loaded {
                    field: field.clone(),
                    obj,
                    origin: origin.clone(),
                });
            }
        }
        if out.len() > limits.max_build_objects {
            return Err(Error::Limit {
                path: t.file.clone(),
                message: format!("{name} hold more than {} configs", limits.max_build_objects),
                limit: format!("max-build-objects={}", limits.max_build_objects),
            });
        }
    }
    Ok(out)
}

/// Runs one builtin transformer config.
fn transform(
    t: &Target<'_>,
    ra: &mut ResMap,
    config: &TransformerConfig,
    field: &str,
    schema: &Schema,
) -> Result<()> {
    let err = fail(&t.file, field);
    match config {
        TransformerConfig::Affix {
            prefix,
            suffix,
            specs,
        } => {
            if let Some(p) = prefix {
                name_affix::add_affix(ra, p, true, specs).map_err(&err)?;
            }
            if let Some(s) = suffix {
                name_affix::add_affix(ra, s, false, specs).map_err(&err)?;
            }
        }
        TransformerConfig::MapEntries { pairs, specs } => {
            labels::set_map_entries(ra, pairs, specs).map_err(&err)?;
        }
        TransformerConfig::Namespace {
            namespace: ns,
            specs,
            unset_only,
            subjects,
        } => {
            namespace::set_namespace(ra, ns, specs, *unset_only, *subjects).map_err(&err)?;
        }
        TransformerConfig::ImageTag { image, specs } => {
            images::set_images(ra, std::slice::from_ref(image), specs).map_err(&err)?;
        }
        TransformerConfig::ReplicaCount { replica, specs } => {
            replicas::set_replicas(ra, std::slice::from_ref(replica), specs).map_err(&err)?;
        }
        TransformerConfig::Patch(p) => target::apply_patch(t, ra, p, field, schema)?,
        TransformerConfig::PatchStrategicMerge { paths, patches } => {
            target::apply_smp_entries(t, ra, paths, &format!("{field}.paths"), schema)?;
            if !patches.trim().is_empty() {
                target::apply_smp_entries(
                    t,
                    ra,
                    std::slice::from_ref(patches),
                    &format!("{field}.patches"),
                    schema,
                )?;
            }
        }
        TransformerConfig::PatchJson6902 {
            target: selector,
            path,
            json_op,
        } => {
            let p = Patch {
                path: path.clone(),
                patch: json_op.clone(),
                target: Some(selector.clone()),
                options: Default::default(),
            };
            target::apply_json6902_entry(t, ra, &p, field)?;
        }
        TransformerConfig::Replacement(entries) => {
            let replacements = target::load_replacements(t, entries)?;
            crate::replacement::apply(ra, &replacements).map_err(&err)?;
        }
        TransformerConfig::ValueAdd {
            value,
            targets,
            target_file,
        } => value_add(t, ra, value, targets, target_file, field)?,
        TransformerConfig::Hash => {
            for res in &mut ra.items {
                if res.needs_hash {
                    let suffix = crate::hash::hash_suffix(&res.obj);
                    res.store_previous_id();
                    let name = format!("{}-{suffix}", res.name());
                    res.set_name(&name);
                    res.needs_hash = false;
                }
            }
        }
    }
    Ok(())
}

/// A ValueAddTransformer run.
fn value_add(
    t: &Target<'_>,
    ra: &mut ResMap,
    value: &str,
    targets: &[plugin_config::ValueAddTarget],
    target_file: &str,
    field: &str,
) -> Result<()> {
    let err = fail(&t.file, field);
    let value = if value.is_empty() {
        t.loader
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        value.to_string()
    };
    let mut all: Vec<plugin_config::ValueAddTarget> = targets.to_vec();
    if !target_file.is_empty() {
        let (real, text) = t.loader.read_text(target_file, &t.file)?;
        for doc in crate::yaml_io::parse_documents(&text, &real, &t.loader.limits)? {
            if let Value::Object(m) = doc {
                all.extend(plugin_config::value_add_targets(&m).map_err(&err)?);
            }
        }
    }
    if all.is_empty() {
        return Err(err(crate::error::Failure::new(
            "must specify at least one target",
        )));
    }
    for target in &all {
        if target.field_path.is_empty() {
            return Err(err(crate::error::Failure::new("fieldPath cannot be empty")));
        }
        if target.file_path_position < 0 {
            return Err(err(crate::error::Failure::new(format!(
                "value of FilePathPosition ({}) cannot be negative",
                target.file_path_position
            ))));
        }
    }
    for target in &all {
        let selected: Vec<usize> = match &target.selector {
            Some(s) => crate::patch::select(ra, s).map_err(&err)?,
            None => (0..ra.items.len()).collect(),
        };
        for i in selected {
            let res = &mut ra.items[i];
            if target.field_path == "metadata/namespace" {
                namespace::set_object_namespace(
                    res,
                    &value,
                    &[],
                    false,
                    namespace::SubjectMode::DefaultOnly,
                )
                .map_err(&err)?;
                continue;
            }
            let path = crate::fieldspec::split_path(&target.field_path);
            set_value_at(&mut res.obj, &path, &value, target.file_path_position).map_err(|e| {
                err(crate::error::Failure::new(format!(
                    "{e} ({})",
                    res.cur_id()
                )))
            })?;
        }
    }
    Ok(())
}

/// Writes `value` at `path` (creating mappings on the way), or inserts it as
/// part `position` (1-based) of the path already held there.
fn set_value_at(
    obj: &mut Map<String, Value>,
    path: &[String],
    value: &str,
    position: i64,
) -> std::result::Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut node = obj;
    for name in parents {
        let next = node
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if next.is_null() {
            *next = Value::Object(Map::new());
        }
        node = match next {
            Value::Object(m) => m,
            _ => return Err(format!("field '{name}' is not a mapping")),
        };
    }
    let current = match node.get(last) {
        None | Some(Value::Null) => String::new(),
        Some(Value::Object(_)) | Some(Value::Array(_)) => {
            return Err(format!("field '{last}' is not a scalar"));
        }
        Some(v) => crate::resource::scalar_text(v),
    };
    let new = if position > 0 {
        insert_path_part(&current, usize::try_from(position - 1).unwrap_or(0), value)
    } else {
        value.to_string()
    };
    node.insert(last.clone(), Value::String(new));
    Ok(())
}

/// kyaml's `filesys.InsertPathPart`: `part` becomes element `pos` of `path`.
fn insert_path_part(path: &str, pos: usize, part: &str) -> String {
    if part.is_empty() {
        return path.to_string();
    }
    let mut parts: Vec<&str> = match path {
        "" => Vec::new(),
        "/" => vec![""],
        p => p.split('/').collect(),
    };
    let mut pos = pos.min(parts.len());
    if parts.first() == Some(&"") && pos < parts.len() {
        pos += 1;
    }
    parts.insert(pos, part);
    let absolute = parts.first() == Some(&"");
    let rest: Vec<&str> = parts
        .iter()
        .skip(usize::from(absolute))
        .copied()
        .filter(|p| !p.is_empty())
        .collect();
    let joined = rest.join("/");
    let cleaned = if joined.is_empty() {
        String::new()
    } else {
        crate::build_metadata::join("", &joined)
    };
    if absolute {
        format!("/{cleaned}")
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::insert_path_part;

    #[test]
    fn inserts_path_parts_like_kyaml() {
        assert_eq!(
            insert_path_part("projects/foo", 1, "cat-111"),
            "projects/cat-111/foo"
        );
        assert_eq!(
            insert_path_part("projects", 1, "cat-111"),
            "projects/cat-111"
        );
        assert_eq!(insert_path_part("/a/b", 0, "x"), "/x/a/b");
        assert_eq!(insert_path_part("", 3, "x"), "x");
        assert_eq!(insert_path_part("a/b", 9, ""), "a/b");
    }
}
