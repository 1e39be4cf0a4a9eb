//! SOPS decryption as Flux's kustomize-controller does it, for age keys: YAML (several
//! documents), JSON, dotenv and binary files, every value opened with AES-256-GCM and the
//! file's MAC verified before anything is returned.
//!
//! Pure: bytes in, bytes or JSON values out, nothing written anywhere. Errors name keys,
//! recipients and value paths, never a decrypted value. Inputs are bounded (file size,
//! number of values and keys, parser depth).

mod cipher;
mod error;
mod format;
mod keyring;
mod metadata;
mod tree;

use std::io::Read;

use serde_json::Value;

pub use error::{Error, Result};
pub use format::Format;
pub use keyring::Keyring;

use metadata::Metadata;

/// Largest encrypted file accepted (Flux's bound).
pub const MAX_FILE_BYTES: usize = 5 << 20;

/// Whether a parsed object (a resource) is sops-encrypted: it has `sops.mac`.
pub fn is_encrypted_object(object: &Value) -> bool {
    object
        .get("sops")
        .and_then(|s| s.get("mac"))
        .is_some_and(|m| m.as_str().is_some_and(|m| !m.is_empty()))
}

fn check_size(len: usize) -> Result<()> {
    if len > MAX_FILE_BYTES {
        return Err(Error::Limit(format!(
            "encrypted file of {len} bytes exceeds {MAX_FILE_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Opens the data key with the first age identity held for one of the file's recipients.
fn data_key(metadata: &Metadata, keyring: &Keyring) -> Result<[u8; 32]> {
    for stanza in &metadata.age {
        let Some(identity) = keyring.identity_for(&stanza.recipient) else {
            continue;
        };
        let opened = (|| -> std::result::Result<Vec<u8>, String> {
            let reader = age::armor::ArmoredReader::new(stanza.enc.as_bytes());
            let decryptor = age::Decryptor::new(reader).map_err(|e| e.to_string())?;
            let mut plain = decryptor
                .decrypt(std::iter::once(identity as &dyn age::Identity))
                .map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            (&mut plain)
                .take(64)
                .read_to_end(&mut out)
                .map_err(|e| e.to_string())?;
            Ok(out)
        })();
        match opened {
            Ok(key) => {
                return key.try_into().map_err(|_| {
                    Error::Malformed(format!(
                        "data key for age recipient {} is not 32 bytes",
                        stanza.recipient
                    ))
                });
            }
            Err(e) => {
                return Err(Error::NoKey(format!(
                    "the data key for age recipient {} does not open: {e}",
                    stanza.recipient
                )));
            }
        }
    }
    let mut wanted: Vec<String> = metadata
        .age
        .iter()
        .map(|s| format!("age recipient {}", s.recipient.trim()))
        .collect();
    wanted.extend(metadata.other_keys.iter().cloned());
    let held = keyring.recipients();
    Err(Error::NoKey(format!(
        "encrypted for {}; the decryption Secret holds {}{}",
        if wanted.is_empty() {
            "no key at all".to_owned()
        } else {
            wanted.join(", ")
        },
        if held.is_empty() {
            "no age key".to_owned()
        } else {
            format!("age recipient(s) {}", held.join(", "))
        },
        if metadata.age.is_empty() && !metadata.other_keys.is_empty() {
            " (only age keys are supported)"
        } else {
            ""
        }
    )))
}

fn decrypt_loaded(loaded: format::Loaded, keyring: &Keyring) -> Result<Vec<Value>> {
    let metadata = Metadata::parse(&loaded.sops)?;
    let key = data_key(&metadata, keyring)?;
    let mut branches = loaded.branches;
    tree::decrypt(&mut branches, &metadata, &key)?;
    Ok(branches)
}

/// Decrypts a sops file read as `input` and writes it as `output` (the same format, or the
/// format of a generator's file key). The MAC is verified.
pub fn decrypt_file(
    bytes: &[u8],
    input: Format,
    output: Format,
    keyring: &Keyring,
) -> Result<Vec<u8>> {
    check_size(bytes.len())?;
    let loaded = format::load(bytes, input)?;
    let branches = decrypt_loaded(loaded, keyring)?;
    let output = if input == Format::Binary || output == Format::Binary {
        // A binary envelope decrypts to its `data`, whatever the key's name says.
        if branches.len() == 1 && branches[0].get("data").is_some() && input != Format::Yaml {
            Format::Binary
        } else {
            output
        }
    } else {
        output
    };
    format::emit(&branches, output)
}

/// Decrypts the encrypted documents of a YAML (or JSON) resource file, leaving it as it is
/// when none is: returns `None` for a file without sops metadata. All documents of an
/// encrypted file share one data key and one MAC, as sops writes them.
pub fn decrypt_resource_file(bytes: &[u8], keyring: &Keyring) -> Result<Option<Vec<u8>>> {
    if Format::detect(bytes).is_none() {
        return Ok(None);
    }
    check_size(bytes.len())?;
    let docs = format::yaml_documents(bytes)?;
    if !docs.iter().any(is_encrypted_object) {
        return Ok(None);
    }
    let loaded = format::split_metadata(docs)?;
    let branches = decrypt_loaded(loaded, keyring)?;
    format::emit(&branches, Format::Yaml).map(Some)
}

/// Decrypts one sops-encrypted object (whole-resource encryption, as JSON).
pub fn decrypt_object(object: Value, keyring: &Keyring) -> Result<Value> {
    let loaded = format::split_metadata(vec![object])?;
    let mut branches = decrypt_loaded(loaded, keyring)?;
    Ok(branches.remove(0))
}
