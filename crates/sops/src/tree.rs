//! Walking a SOPS tree: every leaf the crypt rule encrypts is opened with the data key (its
//! map-key path as additional data), and every leaf (or only the encrypted ones with
//! `mac_only_encrypted`) is hashed into the SHA-512 MAC, in document order.

use serde_json::Value;
use sha2::{Digest, Sha512};

use crate::cipher::{self, Plain};
use crate::error::{Error, Result};
use crate::metadata::Metadata;

/// At most this many leaves per file.
const MAX_LEAVES: usize = 100_000;
/// sops' fixed MAC prefix when `mac_only_encrypted` is set.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

struct Walk<'a> {
    key: &'a [u8; 32],
    metadata: &'a Metadata,
    hash: Sha512,
    leaves: usize,
}

impl Walk<'_> {
    fn value(&mut self, value: &mut Value, path: &mut Vec<String>) -> Result<()> {
        match value {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    path.push(k.clone());
                    self.value(v, path)?;
                    path.pop();
                }
                Ok(())
            }
            Value::Array(items) => {
                for v in items.iter_mut() {
                    self.value(v, path)?;
                }
                Ok(())
            }
            Value::Null => Ok(()),
            leaf => self.leaf(leaf, path),
        }
    }

    fn leaf(&mut self, leaf: &mut Value, path: &[String]) -> Result<()> {
        self.leaves += 1;
        if self.leaves > MAX_LEAVES {
            return Err(Error::Limit(format!(
                "more than {MAX_LEAVES} values in one file"
            )));
        }
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        let encrypted = self.metadata.rule.encrypts(&refs);
        if encrypted {
            let joined = format!("{}:", refs.join(":"));
            let Value::String(ciphertext) = leaf else {
                return Err(Error::Malformed(format!(
                    "value at '{}' should be encrypted but is not a string",
                    refs.join(":")
                )));
            };
            let plain: Plain = cipher::decrypt(ciphertext, self.key, &joined)?;
            *leaf = plain.into_value();
        }
        if (!self.metadata.mac_only_encrypted || encrypted)
            && let Some(bytes) = cipher::mac_bytes(leaf)
        {
            self.hash.update(&bytes);
        }
        Ok(())
    }
}

/// Decrypts `branches` in place and checks the MAC. The stored MAC is itself an encrypted
/// value whose additional data is `lastmodified`.
pub(crate) fn decrypt(branches: &mut [Value], metadata: &Metadata, key: &[u8; 32]) -> Result<()> {
    let mut walk = Walk {
        key,
        metadata,
        hash: Sha512::new(),
        leaves: 0,
    };
    if metadata.mac_only_encrypted {
        walk.hash.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    let mut path = Vec::new();
    for branch in branches.iter_mut() {
        walk.value(branch, &mut path)?;
    }
    let computed: String = walk
        .hash
        .finalize()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let stored = match cipher::decrypt(&metadata.mac, key, &metadata.last_modified) {
        Ok(Plain::Str(s)) => s,
        Ok(_) | Err(Error::Value { .. }) => return Err(Error::MacMismatch),
        Err(e) => return Err(e),
    };
    // Equal lengths and a constant-time comparison: the MAC is not secret, but it costs
    // nothing.
    let same = stored.len() == computed.len()
        && stored
            .bytes()
            .zip(computed.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(Error::MacMismatch);
    }
    Ok(())
}
