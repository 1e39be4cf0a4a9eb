//! configMapGenerator and secretGenerator.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::kustomization::{GeneratorArgs, GeneratorOptions};
use crate::loader::Loader;
use crate::resource::{Behavior, Resource};

/// Which object a generator makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GeneratedKind {
    /// A ConfigMap.
    ConfigMap,
    /// A Secret.
    Secret,
}

/// Builds the object described by one generator entry.
pub(crate) fn generate(
    kind: GeneratedKind,
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
    loader: &Loader,
    kfile: &Path,
) -> Result<Resource> {
    let what = match kind {
        GeneratedKind::ConfigMap => "configMapGenerator",
        GeneratedKind::Secret => "secretGenerator",
    };
    let fail = |m: String| Error::invalid(kfile, format!("{what} '{}': {m}", args.name));
    if args.name.is_empty() {
        return Err(Error::invalid(
            kfile,
            format!("{what}: a generator must have a name"),
        ));
    }
    let behavior = match args.behavior.as_str() {
        "" | "create" => Behavior::Create,
        "merge" => Behavior::Merge,
        "replace" => Behavior::Replace,
        other => return Err(fail(format!("unknown behavior '{other}'"))),
    };
    let options = merge_options(args.options.as_ref(), global);
    let pairs = load_pairs(args, loader, kfile).map_err(|e| match e {
        Error::Invalid { message, .. } => fail(message),
        other => other,
    })?;
    let mut data: BTreeMap<String, RawValue> = BTreeMap::new();
    for (k, v) in pairs {
        if data.contains_key(&k) {
            return Err(fail(format!(
                "configmap {} illegally repeats the key `{k}`",
                args.name
            )));
        }
        data.insert(k, v);
    }

    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert(
        "kind".into(),
        Value::String(
            match kind {
                GeneratedKind::ConfigMap => "ConfigMap",
                GeneratedKind::Secret => "Secret",
            }
            .into(),
        ),
    );
    let mut meta = Map::new();
    meta.insert("name".into(), Value::String(args.name.clone()));
    if !args.namespace.is_empty() {
        meta.insert("namespace".into(), Value::String(args.namespace.clone()));
    }
    obj.insert("metadata".into(), Value::Object(meta));
    match kind {
        GeneratedKind::ConfigMap => {
            let mut text = Map::new();
            let mut binary = Map::new();
            for (k, v) in data {
                match String::from_utf8(v.into_bytes()) {
                    Ok(s) => {
                        text.insert(k, Value::String(s));
                    }
                    Err(e) => {
                        binary.insert(k, Value::String(encode_base64(e.as_bytes())));
                    }
                }
            }
            if !text.is_empty() {
                obj.insert("data".into(), Value::Object(text));
            }
            if !binary.is_empty() {
                obj.insert("binaryData".into(), Value::Object(binary));
            }
        }
        GeneratedKind::Secret => {
            let t = if args.secret_type.is_empty() {
                "Opaque"
            } else {
                &args.secret_type
            };
            obj.insert("type".into(), Value::String(t.to_string()));
            let encoded: Map<String, Value> = data
                .into_iter()
                .map(|(k, v)| (k, Value::String(encode_base64(v.as_bytes()))))
                .collect();
            obj.insert("data".into(), Value::Object(encoded));
        }
    }
    let mut res = Resource::new(obj);
    apply_options(&mut res, &options);
    res.needs_hash = !options.disable_name_suffix_hash;
    res.behavior = behavior;
    Ok(res)
}

/// kustomize's MergeGlobalOptionsIntoLocal.
fn merge_options(
    local: Option<&GeneratorOptions>,
    global: Option<&GeneratorOptions>,
) -> GeneratorOptions {
    let mut out = local.cloned().unwrap_or_default();
    if let Some(g) = global {
        for (k, v) in &g.labels {
            out.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for (k, v) in &g.annotations {
            out.annotations
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        out.disable_name_suffix_hash |= g.disable_name_suffix_hash;
        out.immutable |= g.immutable;
    }
    out
}

fn apply_options(res: &mut Resource, options: &GeneratorOptions) {
    for (field, map) in [
        ("labels", &options.labels),
        ("annotations", &options.annotations),
    ] {
        if map.is_empty() {
            continue;
        }
        let m: Map<String, Value> = map
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        res.metadata_mut().insert(field.into(), Value::Object(m));
    }
    if options.immutable {
        res.obj.insert("immutable".into(), Value::Bool(true));
    }
}

/// Values are raw bytes kept in a String only when valid UTF-8; binary file
/// contents travel as lossless Latin-1-free byte strings via `from_utf8` failure.
fn load_pairs(
    args: &GeneratorArgs,
    loader: &Loader,
    kfile: &Path,
) -> Result<Vec<(String, RawValue)>> {
    let mut out = Vec::new();
    let mut envs = args.envs.clone();
    if !args.env.is_empty() {
        envs.push(args.env.clone());
    }
    for env in &envs {
        let (_, bytes) = loader
            .read_file_for(env, kfile, crate::input_filter::FileUse::EnvFile)
            .map_err(unreadable(kfile, "envs", env))?;
        out.extend(
            parse_env_file(&bytes)
                .map_err(|m| Error::invalid(kfile, format!("env file '{env}': {m}")))?,
        );
    }
    for literal in &args.literals {
        let (k, v) = parse_literal(literal).map_err(|m| Error::invalid(kfile, m))?;
        out.push((k, RawValue::from(v)));
    }
    for source in &args.files {
        let (key, path) = parse_file_source(source).map_err(|m| Error::invalid(kfile, m))?;
        let (_, bytes) = loader
            .read_file_for(
                &path,
                kfile,
                crate::input_filter::FileUse::File { key: &key },
            )
            .map_err(unreadable(kfile, "files", &path))?;
        out.push((key, RawValue(bytes)));
    }
    Ok(out)
}

/// A file a generator lists that cannot be read: an error naming the
/// kustomization, the field and the entry.
fn unreadable<'a>(kfile: &'a Path, field: &'a str, rel: &'a str) -> impl Fn(Error) -> Error + 'a {
    move |e| match e {
        Error::Io { path, source } => Error::invalid(
            kfile,
            format!("{field}: '{rel}': {}: {source}", path.display()),
        ),
        other => other,
    }
}

/// Bytes of a value (file contents may be binary).
#[derive(Debug, Clone)]
pub(crate) struct RawValue(Vec<u8>);

impl From<String> for RawValue {
    fn from(s: String) -> Self {
        RawValue(s.into_bytes())
    }
}

impl RawValue {
    fn into_bytes(self) -> Vec<u8> {
        self.0
    }
    fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

fn parse_env_file(bytes: &[u8]) -> std::result::Result<Vec<(String, RawValue)>, String> {
    let mut out = Vec::new();
    let text = std::str::from_utf8(bytes).map_err(|_| "has invalid utf8 bytes".to_string())?;
    // kubectl's validator accepts any key, so no key check here.
    for (i, raw_line) in text.split('\n').enumerate() {
        let mut line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if i == 0 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, v),
            None => (line, ""),
        };
        out.push((key.to_string(), RawValue::from(value.to_string())));
    }
    Ok(out)
}

fn parse_literal(source: &str) -> std::result::Result<(String, String), String> {
    match source.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), remove_quotes(v).to_string())),
        _ => Err(format!(
            "invalid literal source {source}, expected key=value"
        )),
    }
}

fn remove_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

fn parse_file_source(source: &str) -> std::result::Result<(String, String), String> {
    let separators = source.matches('=').count();
    match separators {
        0 => {
            let base = source.rsplit('/').next().unwrap_or(source);
            Ok((base.to_string(), source.to_string()))
        }
        1 if source.starts_with('=') => Err(format!(
            "missing key name for file path \"{}\" in source \"{source}\"",
            &source[1..]
        )),
        1 if source.ends_with('=') => Err(format!(
            "missing file path for key name \"{}\" in source \"{source}\"",
            &source[..source.len() - 1]
        )),
        1 => {
            let (k, p) = source.split_once('=').unwrap_or((source, ""));
            Ok((k.to_string(), p.to_string()))
        }
        _ => Err(format!(
            "source \"{source}\" key name or file path contains '='"
        )),
    }
}

/// Base64 broken into lines of 70 characters, each followed by a newline
/// when there is more than one (kyaml's encodeBase64).
fn encode_base64(bytes: &[u8]) -> String {
    const LINE: usize = 70;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let lines = encoded.len() / LINE + 1;
    if lines <= 1 {
        return encoded;
    }
    let mut out = String::with_capacity(encoded.len() + lines);
    let mut start = 0;
    while start < encoded.len() {
        let end = (start + LINE).min(encoded.len());
        out.push_str(&encoded[start..end]);
        out.push('\n');
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_secret_values_are_wrapped_like_kyaml() {
        let s = encode_base64(&[b'x'; 60]);
        assert_eq!(s.lines().next().map(str::len), Some(70));
        assert!(s.ends_with('\n'));
        assert_eq!(encode_base64(b"abc"), "YWJj");
    }

    #[test]
    fn file_source_forms() {
        assert_eq!(
            parse_file_source("a/b.txt").ok(),
            Some(("b.txt".into(), "a/b.txt".into()))
        );
        assert_eq!(
            parse_file_source("k=a/b.txt").ok(),
            Some(("k".into(), "a/b.txt".into()))
        );
        assert!(parse_file_source("=a").is_err());
        assert!(parse_file_source("a=b=c").is_err());
    }
}
