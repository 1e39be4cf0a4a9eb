//! The file formats sops writes, how to recognize an encrypted one, and how to read its tree
//! and write the decrypted result.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::metadata;

/// A sops file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML, possibly several documents.
    Yaml,
    /// One JSON object.
    Json,
    /// `KEY=value` lines.
    Dotenv,
    /// INI sections (recognized, refused: not supported yet).
    Ini,
    /// Any other file: a JSON envelope whose `data` holds the whole content.
    Binary,
}

impl Format {
    /// The format sops picks for a file name, by extension.
    pub fn for_path(path: &str) -> Format {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Format::Yaml
        } else if lower.ends_with(".json") || lower.ends_with(".dockerconfigjson") {
            Format::Json
        } else if lower.ends_with(".env") {
            Format::Dotenv
        } else if lower.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// The format of `bytes` if they look like a sops-encrypted file (Flux's markers).
    pub fn detect(bytes: &[u8]) -> Option<Format> {
        let has = |marker: &[u8]| bytes.windows(marker.len()).any(|w| w == marker);
        if has(b"sops_mac=ENC[") {
            Some(Format::Dotenv)
        } else if has(b"\"mac\": \"ENC[") {
            // JSON and binary share the envelope; the caller's file name decides the output.
            Some(Format::Json)
        } else if has(b"mac: ENC[") {
            Some(Format::Yaml)
        } else if has(b"[sops]") {
            Some(Format::Ini)
        } else {
            None
        }
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
            Format::Dotenv => "dotenv",
            Format::Ini => "INI",
            Format::Binary => "binary",
        }
    }
}

/// The branches of a file and its `sops` section.
pub(crate) struct Loaded {
    pub branches: Vec<Value>,
    pub sops: Value,
}

/// Parses a YAML stream into documents (bounded by the parser's recursion limit).
pub(crate) fn yaml_documents(bytes: &[u8]) -> Result<Vec<Value>> {
    let mut docs = Vec::new();
    for document in serde_norway::Deserializer::from_slice(bytes) {
        let value =
            Value::deserialize(document).map_err(|e| Error::Malformed(format!("YAML: {e}")))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// Takes the `sops` key out of every branch; the first branch's is the metadata.
pub(crate) fn split_metadata(mut branches: Vec<Value>) -> Result<Loaded> {
    let mut sops = None;
    for branch in &mut branches {
        let map = branch
            .as_object_mut()
            .ok_or_else(|| Error::Malformed("a document is not a mapping".into()))?;
        if let Some(found) = map.shift_remove("sops")
            && sops.is_none()
        {
            sops = Some(found);
        }
    }
    let sops = sops.ok_or_else(|| Error::Malformed("no 'sops' metadata".into()))?;
    Ok(Loaded { branches, sops })
}

pub(crate) fn load(bytes: &[u8], format: Format) -> Result<Loaded> {
    match format {
        Format::Yaml => split_metadata(yaml_documents(bytes)?),
        Format::Json | Format::Binary => {
            let value: Value = serde_json::from_slice(bytes)
                .map_err(|e| Error::Malformed(format!("JSON: {e}")))?;
            split_metadata(vec![value])
        }
        Format::Dotenv => load_dotenv(bytes),
        Format::Ini => Err(Error::Unsupported(
            "INI files (decrypt YAML, JSON, dotenv or binary files)".into(),
        )),
    }
}

fn load_dotenv(bytes: &[u8]) -> Result<Loaded> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::Malformed("dotenv file is not UTF-8".into()))?;
    let mut branch = Map::new();
    let mut flat = Vec::new();
    for line in text.split('\n') {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| Error::Malformed("dotenv line without '='".into()))?;
        let value = value.replace("\\n", "\n");
        if let Some(meta) = key.strip_prefix("sops_") {
            flat.push((meta.to_owned(), value));
        } else {
            branch.insert(key.to_owned(), Value::String(value));
        }
    }
    if flat.is_empty() {
        return Err(Error::Malformed("no 'sops_' metadata".into()));
    }
    Ok(Loaded {
        branches: vec![Value::Object(branch)],
        sops: metadata::unflatten(flat)?,
    })
}

/// Writes decrypted branches in `format`.
pub(crate) fn emit(branches: &[Value], format: Format) -> Result<Vec<u8>> {
    match format {
        Format::Yaml => {
            let mut out = String::new();
            for (i, branch) in branches.iter().enumerate() {
                if i > 0 {
                    out.push_str("---\n");
                }
                out.push_str(
                    &serde_norway::to_string(branch)
                        .map_err(|e| Error::Malformed(format!("emitting YAML: {e}")))?,
                );
            }
            Ok(out.into_bytes())
        }
        Format::Json => {
            let value = single(branches)?;
            serde_json::to_vec_pretty(value).map_err(|e| Error::Malformed(format!("JSON: {e}")))
        }
        Format::Dotenv => {
            let mut out = String::new();
            for (key, value) in single(branches)?.as_object().into_iter().flatten() {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.push_str(&format!("{key}={}\n", text.replace('\n', "\\n")));
            }
            Ok(out.into_bytes())
        }
        Format::Binary => match single(branches)?.get("data") {
            Some(Value::String(s)) => Ok(s.clone().into_bytes()),
            _ => Err(Error::Malformed("binary envelope without 'data'".into())),
        },
        Format::Ini => Err(Error::Unsupported("INI output".into())),
    }
}

fn single(branches: &[Value]) -> Result<&Value> {
    match branches {
        [one] => Ok(one),
        _ => Err(Error::Malformed(format!(
            "{} documents where one is expected",
            branches.len()
        ))),
    }
}
