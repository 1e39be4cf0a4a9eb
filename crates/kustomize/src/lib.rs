//! Driftless's native kustomize engine.
//!
//! A pure library (no Kubernetes client, no network) producing the same
//! objects in the same order as `kubectl kustomize` (kustomize v5):
//! resources, components, namespace, name prefix/suffix, labels, annotations,
//! images, replicas, patches (strategic merge and JSON6902), ConfigMap and
//! Secret generators with kustomize's content hash, name-reference
//! propagation, replacements and the legacy sort order; builtin plugin
//! configs under `transformers`/`generators` (inline, files or directories)
//! and `buildMetadata` annotations.
//!
//! Loading is restricted: a kustomization may read files only in or below its
//! own directory (kubectl's default), and nothing may leave
//! [`BuildOptions::boundary`] when one is set (what controllers use for an
//! artifact root). Fields the engine does not implement (helmCharts, …) are
//! errors naming the field; exec, container and Go plugins are refused (they
//! run arbitrary programs).

mod build_metadata;
mod builtin_specs;
mod crd_config;
mod custom_config;
mod error;
mod fieldspec;
mod flux;
mod generator;
mod hash;
mod input_filter;
mod kustomization;
mod kustomization_keys;
mod label_selector;
mod limits;
mod loader;
mod name_reference;
mod openapi;
mod patch;
mod plugin_config;
mod plugins;
mod regex_cache;
mod replacement;
mod resid;
mod resmap;
mod resource;
mod sort;
mod target;
mod transform;
mod transformer_config;
mod vars;
mod yaml11;
mod yaml_emit;
mod yaml_io;
mod yaml_key_order;
mod yaml_meter;
mod yaml_resolve;
mod yaml_value;

use std::path::{Path, PathBuf};

pub use error::{Error, Result};
pub use flux::{generate_kustomization, generate_kustomization_with};
pub use input_filter::{FileUse, InputFilter};
pub use kustomization::{
    FieldOptions, FieldSpecArg, GeneratorArgs, GeneratorOptions, Image, KUSTOMIZATION_FILE_NAMES,
    Kustomization, Label, LegacySortOptions, Patch, Replacement, ReplacementEntry,
    ReplacementSource, ReplacementTarget, Replica, Selector, SortOptions, TargetSelector, Var,
    VarField, VarTarget,
};
pub use label_selector::{LabelSelector, MAX_SELECTOR_BYTES};

pub use limits::{
    DEFAULT_MAX_BUILD_OBJECTS, DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_KUSTOMIZATION_DEPTH,
    DEFAULT_MAX_YAML_ALIAS_BYTES, DEFAULT_MAX_YAML_DEPTH, Limits, YAML_ALIAS_FLOOR,
    YAML_ALIAS_RATIO, YAML_NODE_BYTES,
};

use loader::Loader;
use target::{Builder, Target};

/// kubectl's `--load-restrictor`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LoadRestrictions {
    /// Files a kustomization reads (resources, patches, generator inputs) must be
    /// in or below its own directory; bases and components may be anywhere
    /// (kubectl's default, `LoadRestrictionsRootOnly`).
    #[default]
    RootOnly,
    /// Files may be anywhere (`LoadRestrictionsNone`); a boundary still applies.
    None,
}

/// How a build may load files.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Directory no file or base may leave (after resolving symlinks); what
    /// controllers set to the artifact root. `None`: no such boundary.
    pub boundary: Option<PathBuf>,
    /// kubectl's rule for files outside a kustomization's directory.
    pub load_restrictions: LoadRestrictions,
    /// Flux's rule: a directory without a kustomization file gets a generated
    /// one listing every Kubernetes YAML below it.
    pub generate_missing: bool,
    /// What the build may consume (file sizes, YAML aliases and depth, objects).
    pub limits: Limits,
    /// Transforms resource, patch and generator input files as they are read (in memory).
    pub input_filter: Option<std::sync::Arc<dyn InputFilter>>,
}

/// The objects a build produced, in output order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceList {
    /// The objects (each a JSON object).
    pub objects: Vec<serde_json::Value>,
}

impl ResourceList {
    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True when the build produced nothing.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The YAML stream `kubectl kustomize` prints (documents separated by `---`).
    pub fn to_yaml(&self) -> String {
        yaml_io::to_yaml_stream(&self.objects)
    }
}

/// Builds the kustomization in `dir` with kubectl's default restrictions.
pub fn build(dir: &Path) -> Result<ResourceList> {
    build_with(dir, &BuildOptions::default())
}

/// Builds the kustomization in `dir` with the given options.
pub fn build_with(dir: &Path, opts: &BuildOptions) -> Result<ResourceList> {
    let root = loader::canonical(dir)?;
    if !root.is_dir() {
        return Err(Error::invalid(
            &root,
            "must build at directory: not a directory",
        ));
    }
    if opts.generate_missing && Kustomization::find_file(&root)?.is_none() {
        let k = generate_kustomization_with(&root, &opts.limits)?;
        return build_kustomization(&root, &k, opts);
    }
    let file = root.join("kustomization.yaml");
    let loader = root_loader(&root, &file, opts)?;
    let (k, file) = loader.load_kustomization()?;
    build_target(loader, &k, file)
}

/// The kustomization of `dir` as a build with `opts` would read it: its file
/// (under the options' boundary and limits), or Flux's generated one when
/// `opts.generate_missing` is set and there is none. What controllers overlay
/// spec fields on.
pub fn load_kustomization(dir: &Path, opts: &BuildOptions) -> Result<Kustomization> {
    let root = loader::canonical(dir)?;
    if opts.generate_missing && Kustomization::find_file(&root)?.is_none() {
        return generate_kustomization_with(&root, &opts.limits);
    }
    let file = root.join("kustomization.yaml");
    let (k, _) = root_loader(&root, &file, opts)?.load_kustomization()?;
    Ok(k)
}

/// Builds an in-memory kustomization as if it were the kustomization file of `dir`
/// (what controllers use to overlay spec fields or a generated kustomization).
pub fn build_kustomization(
    dir: &Path,
    kustomization: &Kustomization,
    opts: &BuildOptions,
) -> Result<ResourceList> {
    let root = loader::canonical(dir)?;
    kustomization.check_fields(&root.join("kustomization.yaml"))?;
    let file = root.join("kustomization.yaml");
    let loader = root_loader(&root, &file, opts)?;
    build_target(loader, kustomization, file)
}

/// The loader of the top kustomization, checked against the boundary.
fn root_loader(root: &Path, file: &Path, opts: &BuildOptions) -> Result<Loader> {
    let boundary = match &opts.boundary {
        Some(b) => Some(loader::canonical(b)?),
        None => None,
    };
    if let Some(b) = &boundary
        && !root.starts_with(b)
    {
        return Err(Error::LoadRestriction {
            path: file.to_path_buf(),
            target: root.to_path_buf(),
            root: b.clone(),
        });
    }
    Ok(Loader {
        root: root.to_path_buf(),
        boundary,
        root_only: opts.load_restrictions == LoadRestrictions::RootOnly,
        limits: opts.limits,
        input_filter: opts.input_filter.clone(),
    })
}

fn build_target(loader: Loader, k: &Kustomization, file: PathBuf) -> Result<ResourceList> {
    let limits = loader.limits;
    // kustomize tracks origins through the whole build when the top
    // kustomization asks for any build metadata (its children inherit it).
    let target = Target {
        kustomization: k,
        file: file.clone(),
        loader,
        origin: (!k.build_metadata.is_empty()).then(String::new),
    };
    let ra = Builder::new().accumulate(&target, resmap::ResMap::default())?;
    let mut ra = target::finish(ra, k, &file, &limits)?;
    build_metadata::finish(&mut ra, &k.build_metadata);
    Ok(ResourceList {
        objects: ra
            .items
            .into_iter()
            .map(|r| serde_json::Value::Object(r.obj))
            .collect(),
    })
}
