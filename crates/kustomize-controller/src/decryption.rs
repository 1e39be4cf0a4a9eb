//! `spec.decryption`: SOPS decryption with the age keys of a Secret, done in memory while the
//! build reads resource, patch and generator input files, so MACs are checked on the files
//! as committed and the plaintext is never written anywhere.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use driftless_api::Kustomization;
use driftless_api::kustomize::DecryptionProvider;
use driftless_kustomize::{FileUse, InputFilter};
use driftless_sops::{Format, Keyring};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt};
use serde_json::Value;

use crate::Error;

/// Decrypts files as the kustomize build reads them.
#[derive(Debug)]
pub struct SopsFilter {
    keyring: Keyring,
}

impl SopsFilter {
    /// A filter decrypting with `keyring`.
    pub fn new(keyring: Keyring) -> Self {
        SopsFilter { keyring }
    }

    /// The keys it decrypts with.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }
}

impl InputFilter for SopsFilter {
    fn filter(&self, path: &Path, usage: FileUse<'_>, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
        let failed = |e: driftless_sops::Error| format!("SOPS decryption failed: {e}");
        match usage {
            FileUse::Resource | FileUse::Patch => {
                match driftless_sops::decrypt_resource_file(&bytes, &self.keyring) {
                    Ok(Some(plain)) => Ok(plain),
                    Ok(None) => Ok(bytes),
                    Err(e) => Err(failed(e)),
                }
            }
            FileUse::EnvFile => {
                if Format::detect(&bytes).is_none() {
                    return Ok(bytes);
                }
                let name = path.to_string_lossy();
                let input = match Format::for_path(&name) {
                    Format::Binary => Format::Dotenv,
                    other => other,
                };
                driftless_sops::decrypt_file(&bytes, input, input, &self.keyring).map_err(failed)
            }
            FileUse::File { key } => {
                let Some(detected) = Format::detect(&bytes) else {
                    return Ok(bytes);
                };
                let name = path.to_string_lossy();
                let input = match (detected, Format::for_path(&name)) {
                    (Format::Json, Format::Binary) => Format::Binary,
                    (detected, _) => detected,
                };
                driftless_sops::decrypt_file(&bytes, input, Format::for_path(key), &self.keyring)
                    .map_err(failed)
            }
        }
    }
}

/// The keyring of the Kustomization's decryption Secret, read by the controller in the
/// Kustomization's namespace (as Flux does). `None` when decryption is not configured.
pub async fn keyring(ks: &Kustomization, client: &Client) -> Result<Option<Keyring>, Error> {
    let Some(decryption) = &ks.spec.decryption else {
        return Ok(None);
    };
    match decryption.provider {
        DecryptionProvider::Sops => {}
    }
    let Some(secret_ref) = &decryption.secret_ref else {
        return Ok(Some(Keyring::default()));
    };
    let namespace = ks.namespace().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let what = format!("decryption Secret '{namespace}/{}'", secret_ref.name);
    let secret = api
        .get_opt(&secret_ref.name)
        .await
        .map_err(|source| Error::Kube {
            action: format!("reading {what}"),
            source,
        })?
        .ok_or_else(|| Error::Decryption(format!("{what} not found")))?;
    let data = secret.data.unwrap_or_default();
    Keyring::from_secret_data(data.iter().map(|(k, v)| (k.as_str(), v.0.as_slice())))
        .map(Some)
        .map_err(|e| Error::Decryption(format!("{what}: {e}")))
}

/// After the build: Secrets whose data entries are whole SOPS files (base64) are decrypted
/// (Flux's second form); any object still carrying SOPS metadata is refused, naming it.
pub fn decrypt_objects(objects: &mut [Value], keyring: Option<&Keyring>) -> Result<(), Error> {
    for object in objects.iter_mut() {
        let what = || {
            format!(
                "{}/{}",
                object["kind"].as_str().unwrap_or("?"),
                object["metadata"]["name"].as_str().unwrap_or("?")
            )
        };
        if driftless_sops::is_encrypted_object(object) {
            return Err(Error::Decryption(match keyring {
                None => format!(
                    "{} is SOPS-encrypted but spec.decryption is not set",
                    what()
                ),
                Some(_) => format!("{} is still SOPS-encrypted after the build", what()),
            }));
        }
        let Some(keyring) = keyring else { continue };
        if object["kind"] != "Secret" {
            continue;
        }
        let name = what();
        let Some(data) = object.get_mut("data").and_then(Value::as_object_mut) else {
            continue;
        };
        for (key, value) in data.iter_mut() {
            let Some(bytes) = value.as_str().and_then(|s| STANDARD.decode(s).ok()) else {
                continue;
            };
            let Some(detected) = Format::detect(&bytes) else {
                continue;
            };
            let plain =
                driftless_sops::decrypt_file(&bytes, detected, Format::for_path(key), keyring)
                    .map_err(|e| {
                        Error::Decryption(format!(
                            "{name} data key '{key}': SOPS decryption failed: {e}"
                        ))
                    })?;
            *value = Value::String(STANDARD.encode(plain));
        }
    }
    Ok(())
}
