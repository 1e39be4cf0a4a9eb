//! Building one kustomization: accumulate resources (recursing into bases),
//! run generators, apply components, then the transformers in kustomize's order.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::builtin_specs;
use crate::error::{Error, Failure, Result};
use crate::fieldspec::FieldSpec;
use crate::generator::{self, GeneratedKind};
use crate::kustomization::{Kustomization, Patch, Replacement, ReplacementEntry};
use crate::loader::Loader;
use crate::patch::{self, LoadedPatch};
use crate::resmap::{OwnedKey, ResMap};
use crate::resource::Resource;
use crate::transform::{images, labels, name_affix, namespace, replicas};

/// State shared by the whole recursive build.
pub(crate) struct Builder {
    /// Directories being built, outermost first (cycle detection).
    stack: Vec<PathBuf>,
    /// Results of bases already built in this build, by canonical directory.
    /// A base's result depends only on its directory, so overlays sharing a
    /// base build it once.
    built: HashMap<PathBuf, ResMap>,
}

/// A kustomization together with where it lives.
pub(crate) struct Target<'a> {
    /// The parsed file.
    pub kustomization: &'a Kustomization,
    /// Path of the file (for messages); a made-up path for in-memory kustomizations.
    pub file: PathBuf,
    /// Loader of its directory.
    pub loader: Loader,
}

fn is_remote(path: &str) -> bool {
    path.contains("://")
        || path.starts_with("github.com/")
        || path.starts_with("git@")
        || path.contains("?ref=")
}

impl Builder {
    /// A builder with an empty stack.
    pub fn new() -> Builder {
        Builder {
            stack: Vec::new(),
            built: HashMap::new(),
        }
    }

    /// Accumulates a kustomization on top of `ra` (empty except for components).
    pub fn accumulate(&mut self, t: &Target<'_>, mut ra: ResMap) -> Result<ResMap> {
        let root = t.loader.root.clone();
        if self.stack.contains(&root) {
            let chain: Vec<String> = self.stack.iter().map(|p| p.display().to_string()).collect();
            return Err(Error::Cycle {
                dir: root,
                chain: chain.join(" -> "),
            });
        }
        let limits = &t.loader.limits;
        if self.stack.len() >= limits.max_kustomization_depth {
            return Err(Error::Limit {
                path: t.file.clone(),
                message: format!(
                    "kustomizations nest more than {} deep",
                    limits.max_kustomization_depth
                ),
                limit: format!("max-kustomization-depth={}", limits.max_kustomization_depth),
            });
        }
        self.stack.push(root);
        let result = self.accumulate_inner(t, &mut ra);
        self.stack.pop();
        result.map(|()| ra)
    }

    fn accumulate_inner(&mut self, t: &Target<'_>, ra: &mut ResMap) -> Result<()> {
        let k = t.kustomization;
        let entries: Vec<&String> = k.resources.iter().chain(k.bases.iter()).collect();
        let mut seen = ra.owned_keys();
        for entry in entries {
            self.accumulate_resource(t, entry, ra, &mut seen)?;
        }
        self.run_generators(t, ra)?;
        for component in &k.components {
            let sub = self.sub_target_dir(t, component)?;
            let (ck, cfile) = sub.load_kustomization()?;
            if !ck.is_component() {
                return Err(Error::invalid(
                    &t.file,
                    format!(
                        "components: expected kind 'Component' for path '{}' but got '{}'",
                        sub.root.display(),
                        ck.kind.clone().unwrap_or_else(|| "Kustomization".into())
                    ),
                ));
            }
            let target = Target {
                kustomization: &ck,
                file: cfile,
                loader: sub,
            };
            let taken = std::mem::take(ra);
            *ra = self.accumulate(&target, taken)?;
        }
        run_transformers(t, ra)
    }

    fn sub_target_dir(&self, t: &Target<'_>, entry: &str) -> Result<Loader> {
        if is_remote(entry) {
            return Err(Error::invalid(
                &t.file,
                format!(
                    "remote resource '{entry}' is not supported (only local files and directories)"
                ),
            ));
        }
        let dir = t.loader.join(entry);
        if !dir.is_dir() {
            return Err(Error::invalid(
                &t.file,
                format!(
                    "'{entry}' is not a directory (looked for '{}')",
                    dir.display()
                ),
            ));
        }
        t.loader.child(&dir, &t.file)
    }

    fn accumulate_resource(
        &mut self,
        t: &Target<'_>,
        entry: &str,
        ra: &mut ResMap,
        seen: &mut HashSet<OwnedKey>,
    ) -> Result<()> {
        if is_remote(entry) {
            return Err(Error::invalid(
                &t.file,
                format!(
                    "resources: remote resource '{entry}' is not supported (only local files and directories)"
                ),
            ));
        }
        let path = t.loader.join(entry);
        t.loader.check_lexical(&t.file, &path)?;
        let meta = std::fs::metadata(&path).map_err(|e| {
            Error::invalid(
                &t.file,
                format!("resources: '{entry}': {} ({e})", path.display()),
            )
        })?;
        if meta.is_dir() {
            let sub = t.loader.child(&path, &t.file)?;
            if let Some(done) = self.built.get(&sub.root) {
                check_count(t, ra.items.len().saturating_add(done.items.len()))?;
                return ra.append_checked(done.items.clone(), seen).map_err(|e| {
                    Error::invalid(
                        &t.file,
                        format!("recursed merging from path '{entry}': {e}"),
                    )
                });
            }
            let (sk, sfile) = sub.load_kustomization()?;
            if sk.is_component() {
                return Err(Error::invalid(
                    &t.file,
                    format!(
                        "resources: expected kind != 'Component' for path '{}'",
                        sub.root.display()
                    ),
                ));
            }
            let target = Target {
                kustomization: &sk,
                file: sfile,
                loader: sub,
            };
            let sub_ra = self.accumulate(&target, ResMap::default())?;
            self.built
                .insert(target.loader.root.clone(), sub_ra.clone());
            check_count(t, ra.items.len().saturating_add(sub_ra.items.len()))?;
            return ra.append_checked(sub_ra.items, seen).map_err(|e| {
                Error::invalid(
                    &t.file,
                    format!("recursed merging from path '{entry}': {e}"),
                )
            });
        }
        let (real, text) =
            t.loader
                .read_text_for(entry, &t.file, crate::input_filter::FileUse::Resource)?;
        let objects = crate::yaml_io::parse_objects(&text, &real, &t.loader.limits)?;
        check_count(t, ra.items.len().saturating_add(objects.len()))?;
        let resources = objects.into_iter().map(Resource::new).collect();
        ra.append_checked(resources, seen)
            .map_err(|e| Error::invalid(&real, format!("merging resources from '{entry}': {e}")))
    }

    fn run_generators(&mut self, t: &Target<'_>, ra: &mut ResMap) -> Result<()> {
        let k = t.kustomization;
        let global = k.generator_options.as_ref();
        for (kind, list) in [
            (GeneratedKind::ConfigMap, &k.config_map_generator),
            (GeneratedKind::Secret, &k.secret_generator),
        ] {
            for args in list {
                check_count(t, ra.items.len().saturating_add(1))?;
                let res = generator::generate(kind, args, global, &t.loader, &t.file)?;
                ra.absorb(res).map_err(|e| {
                    Error::invalid(
                        &t.file,
                        format!("merging from generator '{}': {e}", args.name),
                    )
                })?;
            }
        }
        Ok(())
    }
}

/// Refuses a kustomization about to hold `count` objects when that is past the limit.
fn check_count(t: &Target<'_>, count: usize) -> Result<()> {
    let max = t.loader.limits.max_build_objects;
    if count > max {
        return Err(Error::Limit {
            path: t.file.clone(),
            message: format!("the build holds more than {max} objects"),
            limit: format!("max-build-objects={max}"),
        });
    }
    Ok(())
}

fn fail<'a>(file: &'a Path, field: &str) -> impl Fn(Failure) -> Error + 'a {
    let field = field.to_string();
    move |e| Error::invalid(file, format!("{field}: {e}"))
}

fn run_transformers(t: &Target<'_>, ra: &mut ResMap) -> Result<()> {
    let k = t.kustomization;
    apply_patches_strategic_merge(t, ra)?;
    for (i, p) in k.patches.iter().enumerate() {
        apply_patch(t, ra, p, &format!("patches[{i}]"))?;
    }
    if let Some(ns) = &k.namespace {
        namespace::set_namespace(ra, ns).map_err(fail(&t.file, "namespace"))?;
    }
    name_affix::add_affixes(
        ra,
        k.name_prefix.as_deref().unwrap_or(""),
        k.name_suffix.as_deref().unwrap_or(""),
    )
    .map_err(fail(&t.file, "namePrefix/nameSuffix"))?;
    for (i, label) in k.labels.iter().enumerate() {
        let mut specs: Vec<FieldSpec> = label
            .fields
            .iter()
            .map(|f| FieldSpec::new(&f.group, &f.version, &f.kind, &f.path, f.create))
            .collect();
        if label.include_selectors {
            labels::merge_specs(&mut specs, builtin_specs::common_labels());
        } else {
            if label.include_templates {
                labels::merge_specs(&mut specs, builtin_specs::template_labels());
            }
            labels::merge_specs(
                &mut specs,
                &[FieldSpec::new("", "", "", "metadata/labels", true)],
            );
        }
        labels::set_map_entries(ra, &label.pairs, &specs)
            .map_err(fail(&t.file, &format!("labels[{i}]")))?;
    }
    labels::set_map_entries(ra, &k.common_labels, builtin_specs::common_labels())
        .map_err(fail(&t.file, "commonLabels"))?;
    labels::set_map_entries(
        ra,
        &k.common_annotations,
        builtin_specs::common_annotations(),
    )
    .map_err(fail(&t.file, "commonAnnotations"))?;
    for (i, p) in k.patches_json6902.iter().enumerate() {
        apply_json6902_entry(t, ra, p, &format!("patchesJson6902[{i}]"))?;
    }
    replicas::set_replicas(ra, &k.replicas).map_err(fail(&t.file, "replicas"))?;
    images::set_images(ra, &k.images).map_err(fail(&t.file, "images"))?;
    let replacements = load_replacements(t)?;
    crate::replacement::apply(ra, &replacements).map_err(fail(&t.file, "replacements"))?;
    Ok(())
}

fn load_replacements(t: &Target<'_>) -> Result<Vec<Replacement>> {
    let mut out = Vec::new();
    for entry in &t.kustomization.replacements {
        match entry {
            ReplacementEntry::Inline(r) => out.push((**r).clone()),
            ReplacementEntry::Path { path } => {
                let (real, text) = t.loader.read_text(path, &t.file)?;
                for doc in crate::yaml_io::parse_documents(&text, &real, &t.loader.limits)? {
                    let items = match doc {
                        Value::Array(a) => a,
                        other => vec![other],
                    };
                    for item in items {
                        let r: Replacement = serde_json::from_value(item).map_err(|e| {
                            Error::invalid(&real, format!("invalid replacement: {e}"))
                        })?;
                        out.push(r);
                    }
                }
            }
        }
    }
    Ok(out)
}

fn apply_patches_strategic_merge(t: &Target<'_>, ra: &mut ResMap) -> Result<()> {
    for (i, entry) in t.kustomization.patches_strategic_merge.iter().enumerate() {
        let field = format!("patchesStrategicMerge[{i}]");
        let candidate = t.loader.join(entry.trim());
        let (source, text) = if !entry.contains('\n') && candidate.exists() {
            let (real, text) = t.loader.read_text_for(
                entry.trim(),
                &t.file,
                crate::input_filter::FileUse::Patch,
            )?;
            (real.display().to_string(), text)
        } else {
            match patch::parse_smp(entry, &t.loader.limits) {
                Ok(_) => ("inline patch".to_string(), entry.clone()),
                Err(_) => {
                    // Neither a readable file nor an inline patch: report the file.
                    let (real, text) = t.loader.read_text(entry.trim(), &t.file)?;
                    (real.display().to_string(), text)
                }
            }
        };
        let docs = patch::parse_smp(&text, &t.loader.limits)
            .map_err(|e| Error::invalid(&t.file, format!("{field} ({source}): {e}")))?;
        for doc in docs {
            let index = patch::find_patch_target(ra, &doc).map_err(fail(&t.file, &field))?;
            patch::apply_smp(&mut ra.items[index], &doc, false, false)
                .map_err(fail(&t.file, &field))?;
        }
        ra.remove_empty();
    }
    Ok(())
}

fn patch_text(t: &Target<'_>, p: &Patch, field: &str) -> Result<(String, String)> {
    match (p.path.is_empty(), p.patch.trim().is_empty()) {
        (true, true) => Err(Error::invalid(
            &t.file,
            format!("{field}: must specify one of patch and path"),
        )),
        (false, false) => Err(Error::invalid(
            &t.file,
            format!("{field}: patch and path can't be set at the same time"),
        )),
        (false, true) => {
            let (real, text) =
                t.loader
                    .read_text_for(&p.path, &t.file, crate::input_filter::FileUse::Patch)?;
            Ok((format!("[path: {:?}]", real.display().to_string()), text))
        }
        (true, false) => Ok((format!("[patch: {:?}]", p.patch.trim()), p.patch.clone())),
    }
}

fn apply_patch(t: &Target<'_>, ra: &mut ResMap, p: &Patch, field: &str) -> Result<()> {
    let (source, text) = patch_text(t, p, field)?;
    let err = fail(&t.file, field);
    let allow_name = p.options.get("allowNameChange").copied().unwrap_or(false);
    let allow_kind = p.options.get("allowKindChange").copied().unwrap_or(false);
    match patch::load(&text, &source, &t.loader.limits).map_err(&err)? {
        LoadedPatch::Strategic(docs) => {
            if let Some(target) = &p.target {
                if docs.len() > 1 {
                    return Err(err(Failure::new(format!(
                        "Multiple Strategic-Merge Patches in one `patches` entry is not allowed to set `patches.target` field: {source}"
                    ))));
                }
                let selected = patch::select(ra, target).map_err(&err)?;
                for i in selected {
                    let mut doc = docs[0].clone();
                    if let Some(api_version) = ra.items[i].obj.get("apiVersion").cloned() {
                        doc.insert("apiVersion".into(), api_version);
                    }
                    patch::apply_smp(&mut ra.items[i], &doc, allow_name, allow_kind)
                        .map_err(&err)?;
                }
            } else {
                for doc in docs {
                    let i = patch::find_patch_target(ra, &doc).map_err(&err)?;
                    patch::apply_smp(&mut ra.items[i], &doc, allow_name, allow_kind)
                        .map_err(&err)?;
                }
            }
            ra.remove_empty();
            ra.check_unique().map_err(&err)?;
        }
        LoadedPatch::Json(ops) => {
            let Some(target) = &p.target else {
                return Err(err(Failure::new(format!(
                    "must specify a target for JSON patch {source}"
                ))));
            };
            apply_json_ops(ra, target, &ops, t.loader.limits.max_file_bytes).map_err(&err)?;
        }
    }
    Ok(())
}

fn apply_json_ops(
    ra: &mut ResMap,
    target: &crate::kustomization::Selector,
    ops: &[patch::json6902::Operation],
    max_copied: u64,
) -> std::result::Result<(), Failure> {
    let selected = patch::select(ra, target)?;
    for i in selected {
        let res = &mut ra.items[i];
        res.store_previous_id();
        let mut doc = Value::Object(std::mem::take(&mut res.obj));
        let outcome = patch::json6902::apply(&mut doc, ops, max_copied);
        res.obj = match doc {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        outcome.map_err(|e| Failure::new(format!("{e} (object {})", res.cur_id())))?;
        if res.obj.is_empty() {
            return Err(Failure::new("JSON patch left an empty object"));
        }
    }
    ra.check_unique()
}

fn apply_json6902_entry(t: &Target<'_>, ra: &mut ResMap, p: &Patch, field: &str) -> Result<()> {
    let err = fail(&t.file, field);
    let Some(target) = &p.target else {
        return Err(err(Failure::new(
            "must specify the target field in patchesJson6902",
        )));
    };
    let (_, text) = patch_text(t, p, field)?;
    let ops = patch::json6902::parse(&text, &t.loader.limits).map_err(&err)?;
    apply_json_ops(ra, target, &ops, t.loader.limits.max_file_bytes).map_err(&err)
}

/// The steps done once, at the top of the build: hash suffixes, name
/// references, dropping local-config objects, sorting.
pub(crate) fn finish(mut ra: ResMap, k: &Kustomization, file: &Path) -> Result<ResMap> {
    for res in &mut ra.items {
        if res.needs_hash {
            let suffix = crate::hash::hash_suffix(&res.obj);
            res.store_previous_id();
            let name = format!("{}-{suffix}", res.name());
            res.set_name(&name);
        }
    }
    crate::name_reference::fix_back_references(&mut ra).map_err(|e| Error::invalid(file, e.0))?;
    ra.items.retain(|r| {
        let local = r
            .obj
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get("config.kubernetes.io/local-config"));
        match local {
            None => true,
            Some(v) => crate::resource::scalar_text(v) == "false",
        }
    });
    // kustomize rewrites every annotation map as strings when it strips its
    // build annotations at the end.
    for res in &mut ra.items {
        if let Some(Value::Object(annotations)) = res
            .obj
            .get_mut("metadata")
            .and_then(|m| m.get_mut("annotations"))
        {
            for v in annotations.values_mut() {
                if !v.is_string() && !v.is_object() && !v.is_array() {
                    *v = Value::String(crate::resource::scalar_text(v));
                }
            }
        }
    }
    crate::sort::sort(&mut ra, k.sort_options.as_ref())
        .map_err(|e| Error::invalid(file, format!("sortOptions: {e}")))?;
    Ok(ra)
}
