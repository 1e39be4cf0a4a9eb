//! Building one kustomization: accumulate resources (recursing into bases),
//! run generators, apply components, then the transformers in kustomize's order.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::build_metadata::{ConfiguredBy, Origin};
use crate::error::{Error, Failure, Result};
use crate::fieldspec::FieldSpec;
use crate::generator::{self, GeneratedKind};
use crate::kustomization::{Kustomization, Patch, Replacement, ReplacementEntry};
use crate::loader::Loader;
use crate::openapi::{Schema, SchemaState};
use crate::patch::{self, LoadedPatch};
use crate::resmap::{OwnedKey, ResMap};
use crate::resource::Resource;
use crate::transform::{images, labels, name_affix, namespace, replicas};

/// State shared by the whole recursive build.
pub(crate) struct Builder {
    /// Directories being built, outermost first (cycle detection).
    stack: Vec<PathBuf>,
    /// Results of bases already built in this build, by canonical directory
    /// and origin. A base's result depends only on its directory (and, when
    /// build metadata is tracked, the path it was reached by), so overlays
    /// sharing a base build it once.
    built: HashMap<(PathBuf, Option<String>), ResMap>,
    /// Builds of a directory already built under another origin: bounded
    /// ([`MAX_ORIGIN_REBUILDS`]), since with origins tracked each path to a
    /// directory (symlinks) is a build of its own.
    rebuilds: usize,
    /// Directories built so far (under any origin).
    built_roots: HashSet<PathBuf>,
    /// The schema strategic merge patches use (the `openapi` field).
    pub(crate) schema: SchemaState,
}

/// Most builds of directories already built under another origin (another
/// path, with build metadata tracked) in one build.
pub(crate) const MAX_ORIGIN_REBUILDS: usize = 512;

/// A kustomization together with where it lives.
pub(crate) struct Target<'a> {
    /// The parsed file.
    pub kustomization: &'a Kustomization,
    /// Path of the file (for messages); a made-up path for in-memory kustomizations.
    pub file: PathBuf,
    /// Loader of its directory.
    pub loader: Loader,
    /// Its directory relative to the top kustomization, when the build
    /// tracks build metadata (the top kustomization has `buildMetadata`).
    pub origin: Option<String>,
}

impl Target<'_> {
    /// Origin path of `entry` of this kustomization (None when not tracking).
    pub(crate) fn origin_of(&self, entry: &str) -> Option<String> {
        self.origin
            .as_ref()
            .map(|dir| crate::build_metadata::join(dir, entry))
    }

    /// Name of the kustomization file (`kustomization.yaml`, ...).
    pub(crate) fn file_name(&self) -> String {
        self.file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "kustomization.yaml".into())
    }

    /// Origin of a builtin generator or transformer configured by this kustomization.
    pub(crate) fn builtin_origin(&self, kind: &str) -> Option<Origin> {
        self.origin_of(&self.file_name()).map(|configured_in| {
            Origin::configured(
                configured_in,
                ConfiguredBy {
                    api_version: "builtin".into(),
                    kind: kind.into(),
                    ..ConfiguredBy::default()
                },
            )
        })
    }
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
            rebuilds: 0,
            built_roots: HashSet::new(),
            schema: SchemaState::default(),
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
        let top = self.stack.is_empty();
        self.schema.apply(t, top)?;
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
        let config = crate::custom_config::load(t)?;
        ra.merge_config(&config)
            .map_err(|e| Error::invalid(&t.file, format!("configurations: {e}")))?;
        if !k.crds.is_empty() {
            let crd_config = crate::crd_config::load(t)?;
            ra.merge_config(&crd_config)
                .map_err(|e| Error::invalid(&t.file, format!("crds: {e}")))?;
        }
        self.run_generators(t, ra)?;
        crate::plugins::run_generators(self, t, ra)?;
        for component in &k.components {
            let sub = self.sub_target_dir(t, component, "components")?;
            let (ck, cfile) = load_listed(t, &sub, "components", component)?;
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
                origin: t.origin_of(component),
            };
            let taken = std::mem::take(ra);
            *ra = self.accumulate(&target, taken)?;
        }
        run_transformers(t, ra, &self.schema.schema)?;
        crate::plugins::run_transformers(self, t, ra)?;
        let patched = !k.patches_strategic_merge.is_empty() || !k.patches.is_empty();
        self.schema.note(patched, std::iter::empty());
        crate::plugins::run_validators(self, t, ra)?;
        crate::vars::merge_vars(ra, &k.vars).map_err(fail(&t.file, "vars"))
    }

    /// Builds the kustomization directory `entry` of `t` (not a component),
    /// once per build: a directory listed again returns the first result.
    pub(crate) fn build_dir(&mut self, t: &Target<'_>, entry: &str, field: &str) -> Result<ResMap> {
        let sub = self.sub_target_dir(t, entry, field)?;
        self.build_loaded_dir(t, sub, entry, field)
    }

    /// Builds the kustomization directory `sub` (listed as `entry` under
    /// `field` of `t`), or returns its result from earlier in this build.
    fn build_loaded_dir(
        &mut self,
        t: &Target<'_>,
        sub: Loader,
        entry: &str,
        field: &str,
    ) -> Result<ResMap> {
        let origin = t.origin_of(entry);
        let key = (sub.root.clone(), origin.clone());
        if let Some(done) = self.built.get(&key) {
            return Ok(done.clone());
        }
        if !self.built_roots.insert(sub.root.clone()) {
            self.rebuilds += 1;
            if self.rebuilds > MAX_ORIGIN_REBUILDS {
                return Err(Error::Limit {
                    path: t.file.clone(),
                    message: format!(
                        "{field}: '{entry}': directories reached by more than {MAX_ORIGIN_REBUILDS} other paths while tracking build metadata"
                    ),
                    limit: format!("max-origin-rebuilds={MAX_ORIGIN_REBUILDS}"),
                });
            }
        }
        let (sk, sfile) = load_listed(t, &sub, field, entry)?;
        if sk.is_component() {
            return Err(Error::invalid(
                &t.file,
                format!(
                    "{field}: expected kind != 'Component' for path '{}'",
                    sub.root.display()
                ),
            ));
        }
        let target = Target {
            kustomization: &sk,
            file: sfile,
            loader: sub,
            origin,
        };
        let built = self.accumulate(&target, ResMap::default())?;
        self.built.insert(key, built.clone());
        Ok(built)
    }

    fn sub_target_dir(&self, t: &Target<'_>, entry: &str, field: &str) -> Result<Loader> {
        if is_remote(entry) {
            return Err(Error::invalid(
                &t.file,
                format!(
                    "{field}: remote resource '{entry}' is not supported (only local files and directories)"
                ),
            ));
        }
        let dir = t.loader.join(entry);
        if !dir.is_dir() {
            return Err(Error::invalid(
                &t.file,
                format!(
                    "{field}: '{entry}' is not a directory (looked for '{}')",
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
            let sub_ra = self.build_loaded_dir(t, sub, entry, "resources")?;
            check_count(t, ra.items.len().saturating_add(sub_ra.items.len()))?;
            return ra.merge_accumulated(sub_ra, seen).map_err(|e| {
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
        self.schema.note(
            false,
            objects.iter().map(|o| {
                let api_version = o.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                api_version
                    .rsplit_once('/')
                    .map(|(g, _)| g.to_string())
                    .unwrap_or_default()
            }),
        );
        check_count(t, ra.items.len().saturating_add(objects.len()))?;
        let origin = t.origin_of(entry).map(Origin::file);
        let resources = objects
            .into_iter()
            .map(|obj| {
                let mut r = Resource::new(obj);
                r.origin = origin.clone();
                r
            })
            .collect();
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
            let origin = t.builtin_origin(match kind {
                GeneratedKind::ConfigMap => "ConfigMapGenerator",
                GeneratedKind::Secret => "SecretGenerator",
            });
            for args in list {
                check_count(t, ra.items.len().saturating_add(1))?;
                let mut res = generator::generate(kind, args, global, &t.loader, &t.file)?;
                res.origin = origin.clone();
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

/// Loads the kustomization of a directory `t` lists as `entry` under `field`;
/// a directory without one is an error naming `t`'s file and the field.
fn load_listed(
    t: &Target<'_>,
    sub: &Loader,
    field: &str,
    entry: &str,
) -> Result<(Kustomization, PathBuf)> {
    sub.load_kustomization().map_err(|e| match e {
        Error::MissingKustomization { .. } => {
            Error::invalid(&t.file, format!("{field}: '{entry}': {e}"))
        }
        other => other,
    })
}

/// Refuses a kustomization about to hold `count` objects when that is past the limit.
pub(crate) fn check_count(t: &Target<'_>, count: usize) -> Result<()> {
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

pub(crate) fn fail<'a>(file: &'a Path, field: &str) -> impl Fn(Failure) -> Error + 'a {
    let field = field.to_string();
    move |e| Error::invalid(file, format!("{field}: {e}"))
}

/// Records a builtin transformer run in the build metadata (when tracked).
fn note(t: &Target<'_>, ra: &mut ResMap, kind: &str) {
    if let Some(origin) = t.builtin_origin(kind) {
        crate::build_metadata::note_transformer(ra, &origin);
    }
}

fn run_transformers(t: &Target<'_>, ra: &mut ResMap, schema: &Schema) -> Result<()> {
    let k = t.kustomization;
    let config = std::sync::Arc::clone(&ra.config);
    if !k.patches_strategic_merge.is_empty() {
        apply_patches_strategic_merge(t, ra, schema)?;
        note(t, ra, "PatchStrategicMergeTransformer");
    }
    for (i, p) in k.patches.iter().enumerate() {
        apply_patch(t, ra, p, &format!("patches[{i}]"), schema)?;
        note(t, ra, "PatchTransformer");
    }
    if let Some(ns) = &k.namespace {
        namespace::set_namespace(
            ra,
            ns,
            &config.namespace,
            false,
            namespace::SubjectMode::DefaultOnly,
        )
        .map_err(fail(&t.file, "namespace"))?;
        if !ns.is_empty() {
            note(t, ra, "NamespaceTransformer");
        }
    }
    for (affix, is_prefix, specs) in [
        (&k.name_prefix, true, &config.name_prefix),
        (&k.name_suffix, false, &config.name_suffix),
    ] {
        if let Some(affix) = affix.as_deref().filter(|a| !a.is_empty()) {
            name_affix::add_affix(ra, affix, is_prefix, specs)
                .map_err(fail(&t.file, "namePrefix/nameSuffix"))?;
            let kind = if is_prefix {
                "PrefixTransformer"
            } else {
                "SuffixTransformer"
            };
            note(t, ra, kind);
        }
    }
    for (i, label) in k.labels.iter().enumerate() {
        let mut specs: Vec<FieldSpec> = label
            .fields
            .iter()
            .map(|f| FieldSpec::new(&f.group, &f.version, &f.kind, &f.path, f.create))
            .collect();
        labels::merge_specs(&mut specs, &config.labels);
        if label.include_selectors {
            labels::merge_specs(&mut specs, &config.common_labels);
        } else {
            if label.include_templates {
                labels::merge_specs(&mut specs, &config.template_labels);
            }
            labels::merge_specs(
                &mut specs,
                &[FieldSpec::new("", "", "", "metadata/labels", true)],
            );
        }
        labels::set_map_entries(ra, &label.pairs, &specs)
            .map_err(fail(&t.file, &format!("labels[{i}]")))?;
        note(t, ra, "LabelTransformer");
    }
    labels::set_map_entries(ra, &k.common_labels, &config.common_labels)
        .map_err(fail(&t.file, "commonLabels"))?;
    if !k.labels.is_empty() || !k.common_labels.is_empty() {
        note(t, ra, "LabelTransformer");
    }
    labels::set_map_entries(ra, &k.common_annotations, &config.common_annotations)
        .map_err(fail(&t.file, "commonAnnotations"))?;
    if !k.common_annotations.is_empty() {
        note(t, ra, "AnnotationsTransformer");
    }
    for (i, p) in k.patches_json6902.iter().enumerate() {
        apply_json6902_entry(t, ra, p, &format!("patchesJson6902[{i}]"))?;
        note(t, ra, "PatchJson6902Transformer");
    }
    if t.origin.is_some() {
        for (i, r) in k.replicas.iter().enumerate() {
            replicas::set_replicas(ra, std::slice::from_ref(r), &config.replicas)
                .map_err(fail(&t.file, &format!("replicas[{i}]")))?;
            note(t, ra, "ReplicaCountTransformer");
        }
        for (i, image) in k.images.iter().enumerate() {
            images::set_images(ra, std::slice::from_ref(image), &config.images)
                .map_err(fail(&t.file, &format!("images[{i}]")))?;
            note(t, ra, "ImageTagTransformer");
        }
    } else {
        replicas::set_replicas(ra, &k.replicas, &config.replicas)
            .map_err(fail(&t.file, "replicas"))?;
        images::set_images(ra, &k.images, &config.images).map_err(fail(&t.file, "images"))?;
    }
    let replacements = load_replacements(t, &k.replacements)?;
    crate::replacement::apply(ra, &replacements).map_err(fail(&t.file, "replacements"))?;
    if !k.replacements.is_empty() {
        note(t, ra, "ReplacementTransformer");
    }
    Ok(())
}

/// The replacements of `entries`, files read.
pub(crate) fn load_replacements(
    t: &Target<'_>,
    entries: &[ReplacementEntry],
) -> Result<Vec<Replacement>> {
    let mut out = Vec::new();
    for entry in entries {
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

fn apply_patches_strategic_merge(t: &Target<'_>, ra: &mut ResMap, schema: &Schema) -> Result<()> {
    apply_smp_entries(
        t,
        ra,
        &t.kustomization.patches_strategic_merge,
        "patchesStrategicMerge",
        schema,
    )
}

/// Applies strategic-merge patches given as files or inline YAML.
pub(crate) fn apply_smp_entries(
    t: &Target<'_>,
    ra: &mut ResMap,
    entries: &[String],
    field: &str,
    schema: &Schema,
) -> Result<()> {
    let base = field;
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("{base}[{i}]");
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
            patch::apply_smp(&mut ra.items[index], &doc, false, false, schema)
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
        // kustomize trims an inline patch (not a patch file's text).
        (true, false) => Ok((
            format!("[patch: {:?}]", p.patch.trim()),
            p.patch.trim().to_string(),
        )),
    }
}

pub(crate) fn apply_patch(
    t: &Target<'_>,
    ra: &mut ResMap,
    p: &Patch,
    field: &str,
    schema: &Schema,
) -> Result<()> {
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
                    patch::apply_smp(&mut ra.items[i], &doc, allow_name, allow_kind, schema)
                        .map_err(&err)?;
                }
            } else {
                for doc in docs {
                    let i = patch::find_patch_target(ra, &doc).map_err(&err)?;
                    patch::apply_smp(&mut ra.items[i], &doc, allow_name, allow_kind, schema)
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

pub(crate) fn apply_json6902_entry(
    t: &Target<'_>,
    ra: &mut ResMap,
    p: &Patch,
    field: &str,
) -> Result<()> {
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
pub(crate) fn finish(
    mut ra: ResMap,
    k: &Kustomization,
    file: &Path,
    limits: &crate::limits::Limits,
) -> Result<ResMap> {
    for res in &mut ra.items {
        if res.needs_hash {
            let suffix = crate::hash::hash_suffix(&res.obj);
            res.store_previous_id();
            let name = format!("{}-{suffix}", res.name());
            res.set_name(&name);
        }
    }
    crate::name_reference::fix_back_references(&mut ra).map_err(|e| Error::invalid(file, e.0))?;
    crate::vars::resolve(&mut ra, file, limits.max_file_bytes)?;
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
