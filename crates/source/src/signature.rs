//! Signatures of git commits and tags (GitRepository `spec.verify`): the signature and the
//! signed payload split out of the raw object, verified against trusted keys, OpenPGP
//! (rpgp) or SSH (`sshsig`, namespace `git`), as `git verify-commit` / `verify-tag` would.
//!
//! Trusted keys come from a Secret, as in Flux: values under keys ending in `.sshpub` are
//! SSH public keys in `authorized_keys` format; everything else (`.asc`, or no suffix) is
//! an armored OpenPGP key ring. Key validity periods and revocations are not evaluated:
//! a key in the Secret is trusted until it is removed from it.

use std::fmt;

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::types::KeyDetails;
use sha2::{Digest as _, Sha256};

/// Suffix of Secret keys holding SSH public keys.
pub const SSH_KEY_SUFFIX: &str = ".sshpub";

const PGP_SIGNATURE: &[u8] = b"-----BEGIN PGP SIGNATURE-----";
const SSH_SIGNATURE: &[u8] = b"-----BEGIN SSH SIGNATURE-----";

/// The keys a GitRepository trusts.
#[derive(Clone, Default)]
pub struct TrustedKeys {
    pgp: Vec<SignedPublicKey>,
    ssh: Vec<ssh_key::PublicKey>,
    fingerprint: String,
}

impl fmt::Debug for TrustedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedKeys")
            .field("pgp", &self.pgp.len())
            .field("ssh", &self.ssh.len())
            .finish()
    }
}

impl TrustedKeys {
    /// Parses the entries of a Secret (`(key, value)`); errors name the Secret key.
    pub fn from_entries(entries: &[(String, Vec<u8>)]) -> Result<Self, String> {
        let mut keys = TrustedKeys::default();
        let mut hasher = Sha256::new();
        let mut sorted: Vec<&(String, Vec<u8>)> = entries.iter().collect();
        sorted.sort();
        for (name, value) in sorted {
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(value);
            hasher.update([0]);
            if name.ends_with(SSH_KEY_SUFFIX) {
                let text =
                    std::str::from_utf8(value).map_err(|_| format!("key '{name}' is not UTF-8"))?;
                for (n, line) in text.lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    let key = ssh_key::PublicKey::from_openssh(line).map_err(|e| {
                        format!(
                            "key '{name}' line {}: not an SSH public key in authorized_keys format: {e}",
                            n + 1
                        )
                    })?;
                    keys.ssh.push(key);
                }
            } else {
                let (ring, _) = SignedPublicKey::from_armor_many(&value[..])
                    .map_err(|e| format!("key '{name}': not an armored OpenPGP key ring: {e}"))?;
                let before = keys.pgp.len();
                for key in ring {
                    keys.pgp.push(key.map_err(|e| {
                        format!("key '{name}': not an armored OpenPGP key ring: {e}")
                    })?);
                }
                if keys.pgp.len() == before {
                    return Err(format!("key '{name}': holds no OpenPGP public key"));
                }
            }
        }
        if keys.pgp.is_empty() && keys.ssh.is_empty() {
            return Err("holds no public keys (.asc key rings or .sshpub keys)".to_owned());
        }
        keys.fingerprint = hex::encode(hasher.finalize());
        Ok(keys)
    }

    /// A digest of the keys (part of the cache's single-flight key).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Verifies `signature` over `payload`; the identity of the key that made it.
    fn verify(&self, signature: &[u8], payload: &[u8]) -> Result<String, String> {
        if signature.starts_with(PGP_SIGNATURE) {
            let (sig, _) = DetachedSignature::from_armor_single(signature)
                .map_err(|e| format!("malformed OpenPGP signature: {e}"))?;
            for key in &self.pgp {
                if sig.verify(&key.primary_key, payload).is_ok() {
                    return Ok(format!("{:X}", key.primary_key.fingerprint()));
                }
                for sub in &key.public_subkeys {
                    if sig.verify(&sub.key, payload).is_ok() {
                        return Ok(format!("{:X}", sub.key.fingerprint()));
                    }
                }
            }
            Err(format!(
                "no trusted OpenPGP key verifies the signature (made by key {})",
                sig.signature
                    .issuer_fingerprint()
                    .first()
                    .map(|f| format!("{f:X}"))
                    .unwrap_or_else(|| "of unknown fingerprint".to_owned())
            ))
        } else if signature.starts_with(SSH_SIGNATURE) {
            let pem = std::str::from_utf8(signature)
                .map_err(|_| "malformed SSH signature: not UTF-8".to_owned())?;
            let sig = ssh_key::SshSig::from_pem(pem)
                .map_err(|e| format!("malformed SSH signature: {e}"))?;
            for key in &self.ssh {
                if key.verify("git", payload, &sig).is_ok() {
                    return Ok(key.fingerprint(ssh_key::HashAlg::Sha256).to_string());
                }
            }
            let signer = ssh_key::PublicKey::from(sig.public_key().clone())
                .fingerprint(ssh_key::HashAlg::Sha256);
            Err(format!(
                "no trusted SSH key verifies the signature (made by key {signer})"
            ))
        } else {
            Err(
                "unsupported signature format (only OpenPGP and SSH signatures are verified)"
                    .to_owned(),
            )
        }
    }
}

/// A commit's `gpgsig` header and the commit without it (what was signed).
fn split_commit(raw: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let header_end = raw
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or(raw.len(), |p| p + 1);
    let mut payload = Vec::with_capacity(raw.len());
    let mut signature: Option<Vec<u8>> = None;
    let mut in_sig = false;
    let mut rest = &raw[..header_end];
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |p| p + 1);
        let line = &rest[..end];
        rest = &rest[end..];
        if in_sig && line.starts_with(b" ") {
            let sig = signature.as_mut()?;
            sig.extend_from_slice(&line[1..]);
            continue;
        }
        in_sig = false;
        if let Some(value) = line.strip_prefix(b"gpgsig ") {
            if signature.is_some() {
                return None;
            }
            signature = Some(value.to_vec());
            in_sig = true;
            continue;
        }
        payload.extend_from_slice(line);
    }
    payload.extend_from_slice(&raw[header_end..]);
    signature.map(|s| (s, payload))
}

/// A tag's signature (appended to its message) and the tag before it (what was signed).
fn split_tag(raw: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let start = [PGP_SIGNATURE, SSH_SIGNATURE]
        .iter()
        .filter_map(|marker| {
            raw.windows(marker.len())
                .enumerate()
                .filter(|(i, w)| w == marker && (*i == 0 || raw[i - 1] == b'\n'))
                .map(|(i, _)| i)
                .next()
        })
        .min()?;
    Some((raw[start..].to_vec(), raw[..start].to_vec()))
}

/// Which object failed and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// Flux's reason: `InvalidCommitSignature`, `InvalidTagSignature` or `InvalidGitObject`.
    pub reason: &'static str,
    /// Why.
    pub message: String,
}

/// Verifies the raw commit object `raw`; the key that signed it.
pub(crate) fn verify_commit(raw: &[u8], keys: &TrustedKeys) -> Result<String, Refusal> {
    let refuse = |message: String| Refusal {
        reason: "InvalidCommitSignature",
        message,
    };
    let (signature, payload) =
        split_commit(raw).ok_or_else(|| refuse("the commit is not signed".to_owned()))?;
    keys.verify(&signature, &payload).map_err(refuse)
}

/// Verifies the raw annotated tag object `raw`; the key that signed it.
pub(crate) fn verify_tag(raw: &[u8], keys: &TrustedKeys) -> Result<String, Refusal> {
    let (signature, payload) = split_tag(raw).ok_or_else(|| Refusal {
        reason: "InvalidGitObject",
        message: "the tag is not signed".to_owned(),
    })?;
    keys.verify(&signature, &payload)
        .map_err(|message| Refusal {
            reason: "InvalidTagSignature",
            message,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &[u8] = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\ngpgsig -----BEGIN SSH SIGNATURE-----\n U1NIU0lH\n -----END SSH SIGNATURE-----\n\nmessage\n";

    #[test]
    fn commit_signature_and_payload_are_split_like_git() {
        let (sig, payload) = split_commit(COMMIT).unwrap();
        assert_eq!(
            sig,
            b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"
        );
        assert_eq!(
            payload,
            b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\nmessage\n"
        );
        assert!(split_commit(b"tree x\n\nunsigned\n").is_none());
        // A gpgsig line in the message is not a signature.
        assert!(split_commit(b"tree x\n\ngpgsig -----BEGIN PGP SIGNATURE-----\n").is_none());
    }

    #[test]
    fn tag_signature_is_the_armored_tail() {
        let raw = b"object abc\ntype commit\ntag v1\ntagger A <a@x> 1 +0000\n\nrelease\n-----BEGIN PGP SIGNATURE-----\nxyz\n-----END PGP SIGNATURE-----\n";
        let (sig, payload) = split_tag(raw).unwrap();
        assert!(sig.starts_with(PGP_SIGNATURE));
        assert!(payload.ends_with(b"release\n"));
        assert!(split_tag(b"object abc\n\nplain\n").is_none());
    }

    #[test]
    fn secrets_without_usable_keys_are_refused() {
        let err =
            TrustedKeys::from_entries(&[("a.sshpub".into(), b"not a key".to_vec())]).unwrap_err();
        assert!(err.contains("'a.sshpub'"), "{err}");
        let err = TrustedKeys::from_entries(&[("a.asc".into(), b"garbage".to_vec())]).unwrap_err();
        assert!(err.contains("'a.asc'"), "{err}");
        assert!(TrustedKeys::from_entries(&[]).is_err());
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOmgTbo2L8bH5vYcGx0dS3W2jCwUbYl1c3z0eQH1pQ3f test";
        let keys =
            TrustedKeys::from_entries(&[("a.sshpub".into(), key.as_bytes().to_vec())]).unwrap();
        assert_eq!(keys.ssh.len(), 1);
        let unsigned = verify_commit(b"tree x\n\nm\n", &keys).unwrap_err();
        assert_eq!(unsigned.reason, "InvalidCommitSignature");
        assert!(unsigned.message.contains("not signed"));
    }
}
