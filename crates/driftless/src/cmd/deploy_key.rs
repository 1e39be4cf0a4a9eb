//! Deploy keys: an SSH key pair generated here (ed25519 by default, ECDSA or RSA on request)
//! or read from a file, in the OpenSSH formats a GitRepository secret holds (`identity`,
//! `identity.pub`), and the `ssh://` URL parsing and host key gathering (`known_hosts`) that
//! go with them.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, EcdsaCurve, LineEnding, PrivateKey};

/// Which kind of key to generate.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// Ed25519 (the default: small, fast, accepted by every current git host).
    #[default]
    Ed25519,
    /// ECDSA on the curve of `--ssh-ecdsa-curve`.
    Ecdsa,
    /// RSA of `--ssh-rsa-bits` bits.
    Rsa,
}

/// The curve of an ECDSA key.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256.
    #[default]
    P256,
    /// NIST P-384.
    P384,
    /// NIST P-521.
    P521,
}

/// The flags that choose a deploy key, shared by `create secret git` and `bootstrap git`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KeyArgs {
    /// Use this OpenSSH private key (unencrypted) instead of generating one.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["ssh_key_algorithm", "ssh_rsa_bits", "ssh_ecdsa_curve"])]
    pub private_key_file: Option<std::path::PathBuf>,
    /// Algorithm of the generated key.
    #[arg(long, value_enum, value_name = "ALG")]
    pub ssh_key_algorithm: Option<KeyAlgorithm>,
    /// Size of a generated RSA key (2048 to 8192 bits).
    #[arg(long, value_name = "BITS", requires = "ssh_key_algorithm")]
    pub ssh_rsa_bits: Option<usize>,
    /// Curve of a generated ECDSA key.
    #[arg(long, value_enum, value_name = "CURVE", requires = "ssh_key_algorithm")]
    pub ssh_ecdsa_curve: Option<Curve>,
}

/// A key pair in OpenSSH formats.
pub struct DeployKey {
    /// The private key, OpenSSH PEM (`-----BEGIN OPENSSH PRIVATE KEY-----`).
    pub private_openssh: String,
    /// The public key as one `authorized_keys` line (`ssh-ed25519 AAAA… comment`).
    pub public_openssh: String,
}

impl std::fmt::Debug for DeployKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeployKey")
            .field("private_openssh", &"<redacted>")
            .field("public_openssh", &self.public_openssh)
            .finish()
    }
}

/// Smallest RSA key generated (what OpenSSH itself still accepts comfortably).
const MIN_RSA_BITS: usize = 2048;
/// Largest RSA key generated (bounds the time generation takes).
const MAX_RSA_BITS: usize = 8192;
/// Largest private key file read.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

impl KeyArgs {
    /// The key the flags ask for: read from `--private-key-file`, else generated, with
    /// `comment` on a generated key's public half.
    pub fn key(&self, comment: &str) -> anyhow::Result<DeployKey> {
        match &self.private_key_file {
            Some(path) => read_key(path),
            None => generate(self, comment),
        }
    }
}

fn generate(args: &KeyArgs, comment: &str) -> anyhow::Result<DeployKey> {
    let algorithm = args.ssh_key_algorithm.unwrap_or_default();
    if args.ssh_rsa_bits.is_some() && algorithm != KeyAlgorithm::Rsa {
        bail!("--ssh-rsa-bits needs --ssh-key-algorithm rsa");
    }
    if args.ssh_ecdsa_curve.is_some() && algorithm != KeyAlgorithm::Ecdsa {
        bail!("--ssh-ecdsa-curve needs --ssh-key-algorithm ecdsa");
    }
    let mut key = match algorithm {
        KeyAlgorithm::Ed25519 => PrivateKey::random(&mut OsRng, Algorithm::Ed25519),
        KeyAlgorithm::Ecdsa => {
            let curve = match args.ssh_ecdsa_curve.unwrap_or_default() {
                Curve::P256 => EcdsaCurve::NistP256,
                Curve::P384 => EcdsaCurve::NistP384,
                Curve::P521 => EcdsaCurve::NistP521,
            };
            PrivateKey::random(&mut OsRng, Algorithm::Ecdsa { curve })
        }
        KeyAlgorithm::Rsa => {
            let bits = args.ssh_rsa_bits.unwrap_or(MIN_RSA_BITS);
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) || !bits.is_multiple_of(8) {
                bail!(
                    "--ssh-rsa-bits {bits}: must be a multiple of 8 from {MIN_RSA_BITS} to {MAX_RSA_BITS}"
                );
            }
            ssh_key::private::RsaKeypair::random(&mut OsRng, bits).map(PrivateKey::from)
        }
    }
    .context("generating the ssh key")?;
    key.set_comment(comment);
    encode(&key)
}

fn encode(key: &PrivateKey) -> anyhow::Result<DeployKey> {
    let private_openssh = key
        .to_openssh(LineEnding::LF)
        .context("encoding the private key")?
        .to_string();
    let public_openssh = key
        .public_key()
        .to_openssh()
        .context("encoding the public key")?;
    Ok(DeployKey {
        private_openssh,
        public_openssh,
    })
}

/// Reads an unencrypted OpenSSH private key; the public half is derived from it.
fn read_key(path: &Path) -> anyhow::Result<DeployKey> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .with_context(|| format!("--private-key-file {shown}"))?
        .len();
    if size > MAX_KEY_FILE_BYTES {
        bail!(
            "--private-key-file {shown}: {size} bytes is too large for a private key (at most {MAX_KEY_FILE_BYTES})"
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--private-key-file {shown}"))?;
    // Never include the parser's error detail verbatim: it could quote the material.
    let key = PrivateKey::from_openssh(text.trim()).map_err(|_| {
        anyhow::anyhow!(
            "--private-key-file {shown}: not an OpenSSH private key \
             (-----BEGIN OPENSSH PRIVATE KEY-----; convert a PEM key with `ssh-keygen -p -f FILE`)"
        )
    })?;
    if key.is_encrypted() {
        bail!(
            "--private-key-file {shown}: the key is encrypted with a passphrase; the controller \
             cannot type one: remove it on a copy with `ssh-keygen -p -N '' -f COPY`"
        );
    }
    let mut private_openssh = text.trim().to_owned();
    private_openssh.push('\n');
    let public_openssh = key
        .public_key()
        .to_openssh()
        .context("encoding the public key")?;
    Ok(DeployKey {
        private_openssh,
        public_openssh,
    })
}

/// The parts of an `ssh://[user@]host[:port]/path` URL that ssh needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (22 unless given).
    pub port: u16,
}

/// Parses an `ssh://` URL, refusing hosts that ssh could take for an option or that hold
/// anything but name or address characters.
pub fn ssh_target(url: &str) -> anyhow::Result<SshTarget> {
    let Some(rest) = url.strip_prefix("ssh://") else {
        bail!("--url '{url}': expected ssh://[USER@]HOST[:PORT]/PATH");
    };
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    if authority.len() == rest.len() || rest.len() == authority.len() + 1 {
        bail!("--url '{url}': no repository path after the host");
    }
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .with_context(|| format!("--url '{url}': unterminated '[' in the host"))?;
        if !host
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            bail!("--url '{url}': '{host}' is not an IPv6 address");
        }
        (host, after.strip_prefix(':'))
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == ':';
    if host.is_empty() || host.starts_with('-') || !host.chars().all(name_char) {
        bail!("--url '{url}': '{host}' is not a host name or address");
    }
    let port = match port {
        None => 22,
        Some(text) => text
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .with_context(|| format!("--url '{url}': '{text}' is not a port"))?,
    };
    Ok(SshTarget {
        host: host.to_owned(),
        port,
    })
}

/// Largest `known_hosts` accepted from `ssh-keyscan`.
const MAX_KNOWN_HOSTS_BYTES: usize = 64 * 1024;
/// How long `ssh-keyscan` waits for the host.
const SCAN_TIMEOUT: Duration = Duration::from_secs(10);

/// The host's public keys as `known_hosts` lines, gathered by connecting to it with
/// OpenSSH's `ssh-keyscan` (package openssh-client). Trust on first use: the caller shows
/// the fingerprints so the user can compare them with what the git host publishes.
pub fn scan_known_hosts(target: &SshTarget) -> anyhow::Result<String> {
    let output = Command::new("ssh-keyscan")
        .arg("-T")
        .arg(SCAN_TIMEOUT.as_secs().to_string())
        .arg("-p")
        .arg(target.port.to_string())
        .arg("--")
        .arg(&target.host)
        .stdin(Stdio::null())
        .output()
        .context("running ssh-keyscan (install openssh-client, or pass the host keys yourself)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if text.len() > MAX_KNOWN_HOSTS_BYTES {
        bail!(
            "ssh-keyscan of {}:{} printed more than {MAX_KNOWN_HOSTS_BYTES} bytes",
            target.host,
            target.port
        );
    }
    let known_hosts = known_hosts_lines(&text, target);
    if known_hosts.is_empty() {
        let why = String::from_utf8_lossy(&output.stderr);
        let why = why
            .lines()
            .find(|l| !l.starts_with('#') && !l.trim().is_empty())
            .unwrap_or("no answer");
        bail!(
            "no host key from {}:{} (ssh-keyscan: {why})",
            target.host,
            target.port
        );
    }
    Ok(known_hosts)
}

/// The lines of `ssh-keyscan` output that are keys of `target`, each checked to parse as a
/// public key, sorted (so a re-run gives the same text).
fn known_hosts_lines(text: &str, target: &SshTarget) -> String {
    let host_field = if target.port == 22 {
        target.host.clone()
    } else {
        format!("[{}]:{}", target.host, target.port)
    };
    let mut lines: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (host, kind, key) = (fields.next()?, fields.next()?, fields.next()?);
            if host != host_field || fields.next().is_some() {
                return None;
            }
            ssh_key::PublicKey::from_openssh(&format!("{kind} {key}")).ok()?;
            Some(format!("{host} {kind} {key}"))
        })
        .collect();
    lines.sort();
    lines.dedup();
    lines.into_iter().map(|l| l + "\n").collect()
}

/// `SHA256:…` fingerprints of the keys in `known_hosts`, one per line, for the user to check.
pub fn fingerprints(known_hosts: &str) -> Vec<String> {
    known_hosts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, kind, key) = (fields.next()?, fields.next()?, fields.next()?);
            let public = ssh_key::PublicKey::from_openssh(&format!("{kind} {key}")).ok()?;
            Some(format!(
                "{kind} {}",
                public.fingerprint(ssh_key::HashAlg::Sha256)
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_in_openssh_format() {
        for (algorithm, curve, prefix) in [
            (None, None, "ssh-ed25519 "),
            (Some(KeyAlgorithm::Ecdsa), None, "ecdsa-sha2-nistp256 "),
            (
                Some(KeyAlgorithm::Ecdsa),
                Some(Curve::P384),
                "ecdsa-sha2-nistp384 ",
            ),
        ] {
            let args = KeyArgs {
                ssh_key_algorithm: algorithm,
                ssh_ecdsa_curve: curve,
                ..KeyArgs::default()
            };
            let key = args.key("driftless-test").unwrap();
            assert!(
                key.public_openssh.starts_with(prefix),
                "{}",
                key.public_openssh
            );
            assert!(key.public_openssh.ends_with(" driftless-test"));
            assert!(
                key.private_openssh
                    .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
            );
            let parsed = PrivateKey::from_openssh(&key.private_openssh).unwrap();
            assert_eq!(
                parsed.public_key().key_data(),
                ssh_key::PublicKey::from_openssh(&key.public_openssh)
                    .unwrap()
                    .key_data()
            );
            assert!(!format!("{key:?}").contains("PRIVATE"));
        }
        let two = KeyArgs::default().key("x").unwrap();
        let three = KeyArgs::default().key("x").unwrap();
        assert_ne!(two.public_openssh, three.public_openssh, "keys are random");
    }

    #[test]
    fn bad_flag_combinations_and_sizes_are_refused() {
        let rsa_small = KeyArgs {
            ssh_key_algorithm: Some(KeyAlgorithm::Rsa),
            ssh_rsa_bits: Some(1024),
            ..KeyArgs::default()
        };
        assert!(rsa_small.key("x").unwrap_err().to_string().contains("2048"));
        let mixed = KeyArgs {
            ssh_key_algorithm: Some(KeyAlgorithm::Ed25519),
            ssh_rsa_bits: Some(4096),
            ..KeyArgs::default()
        };
        assert!(mixed.key("x").is_err());
    }

    #[test]
    fn key_files_are_read_and_junk_or_huge_files_refused_without_echo() {
        let dir = tempfile::tempdir().unwrap();
        let generated = KeyArgs::default().key("file").unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, &generated.private_openssh).unwrap();
        let read = KeyArgs {
            private_key_file: Some(good),
            ..KeyArgs::default()
        }
        .key("ignored")
        .unwrap();
        assert_eq!(read.private_openssh, generated.private_openssh);
        assert_eq!(read.public_openssh, generated.public_openssh);

        let junk = dir.path().join("junk");
        std::fs::write(&junk, "SECRET-MATERIAL-123").unwrap();
        let err = KeyArgs {
            private_key_file: Some(junk),
            ..KeyArgs::default()
        }
        .key("x")
        .unwrap_err()
        .to_string();
        assert!(err.contains("not an OpenSSH private key"), "{err}");
        assert!(!err.contains("SECRET-MATERIAL"), "{err}");

        let huge = dir.path().join("huge");
        std::fs::write(&huge, vec![b'a'; 100_000]).unwrap();
        let err = KeyArgs {
            private_key_file: Some(huge),
            ..KeyArgs::default()
        }
        .key("x")
        .unwrap_err()
        .to_string();
        assert!(err.contains("too large"), "{err}");
    }

    #[test]
    fn ssh_urls_are_parsed_and_hostile_hosts_refused() {
        assert_eq!(
            ssh_target("ssh://git@github.example/org/repo.git").unwrap(),
            SshTarget {
                host: "github.example".into(),
                port: 22
            }
        );
        assert_eq!(
            ssh_target("ssh://git@127.0.0.1:2222/srv/r.git").unwrap(),
            SshTarget {
                host: "127.0.0.1".into(),
                port: 2222
            }
        );
        assert_eq!(ssh_target("ssh://[::1]:2200/r").unwrap().host, "::1");
        for bad in [
            "https://host/r",
            "ssh://-oProxyCommand=x/r",
            "ssh://git@-oProxyCommand=x:22/r",
            "ssh://host:0/r",
            "ssh://host:99999/r",
            "ssh://ho st/r",
            "ssh://host",
            "ssh://host/",
            "ssh://h;rm -rf/r",
        ] {
            assert!(ssh_target(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn keyscan_output_is_filtered_to_the_host_and_sorted() {
        let key = KeyArgs::default().key("k").unwrap();
        let mut fields = key.public_openssh.split_whitespace();
        let (kind, blob) = (fields.next().unwrap(), fields.next().unwrap());
        let target = SshTarget {
            host: "127.0.0.1".into(),
            port: 2222,
        };
        let scanned = format!(
            "# 127.0.0.1:2222 SSH-2.0-OpenSSH_9.2\n\
             [127.0.0.1]:2222 {kind} {blob}\n\
             [127.0.0.1]:2222 {kind} {blob}\n\
             [evil]:2222 {kind} {blob}\n\
             [127.0.0.1]:2222 ssh-ed25519 not-base64\n"
        );
        let lines = known_hosts_lines(&scanned, &target);
        assert_eq!(lines, format!("[127.0.0.1]:2222 {kind} {blob}\n"));
        assert_eq!(fingerprints(&lines).len(), 1);
        assert!(fingerprints(&lines)[0].contains("SHA256:"));
    }
}
