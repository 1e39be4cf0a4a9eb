//! The real `sops` and `age-keygen`, built by `e2e/scripts/build-tools.sh` from the Go module
//! proxy into `e2e/bin`: SOPS-encrypted test fixtures are made by them, never by our code.

use std::path::PathBuf;
use std::process::Command;

use crate::error::{Error, Result};
use crate::paths::e2e_dir;
use crate::process::run_to_completion;

/// An age key pair made by `age-keygen`.
#[derive(Clone, Debug)]
pub struct AgeKey {
    /// The whole key file `age-keygen` writes (comments and `AGE-SECRET-KEY-1…`): what a
    /// `.agekey` Secret entry holds.
    pub key_file: String,
    /// The public key, `age1…`.
    pub recipient: String,
}

/// The `sops` and `age-keygen` binaries.
#[derive(Clone, Debug)]
pub struct SopsTools {
    sops: PathBuf,
    age_keygen: PathBuf,
}

impl SopsTools {
    /// Finds both in `e2e/bin`; the error says how to build them.
    pub fn find() -> Result<SopsTools> {
        let bin = e2e_dir().join("bin");
        let tools = SopsTools {
            sops: bin.join("sops"),
            age_keygen: bin.join("age-keygen"),
        };
        for path in [&tools.sops, &tools.age_keygen] {
            if !path.is_file() {
                return Err(Error::Command {
                    command: path.display().to_string(),
                    status: String::from("missing"),
                    output: String::from("run e2e/scripts/build-tools.sh (make tools)"),
                });
            }
        }
        Ok(tools)
    }

    /// A new age key pair.
    pub fn age_keygen(&self) -> Result<AgeKey> {
        let key_file = run_to_completion(&mut Command::new(&self.age_keygen))?;
        let recipient = key_file
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .map(str::trim)
            .map(str::to_owned)
            .ok_or_else(|| Error::Command {
                command: String::from("age-keygen"),
                status: String::from("no public key line"),
                output: String::new(),
            })?;
        Ok(AgeKey {
            key_file,
            recipient,
        })
    }

    /// Encrypts `plaintext` as a file named `file_name` (its extension decides the format)
    /// for the age `recipient`, with further `sops` arguments (e.g. `--encrypted-regex`).
    /// Returns the encrypted file's text.
    pub fn encrypt(
        &self,
        plaintext: &str,
        file_name: &str,
        recipient: &str,
        extra: &[&str],
    ) -> Result<String> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            action: "create",
            path: std::env::temp_dir(),
            source,
        })?;
        let path = dir.path().join(file_name);
        std::fs::write(&path, plaintext).map_err(|source| Error::Io {
            action: "write",
            path: path.clone(),
            source,
        })?;
        let mut command = Command::new(&self.sops);
        command
            .current_dir(dir.path())
            // No user or system configuration: the arguments say everything.
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", dir.path())
            // sops would otherwise ask GitHub for its latest version: loopback only here.
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .args(["--encrypt", "--age", recipient])
            .args(extra)
            .arg(&path);
        run_to_completion(&mut command)
    }
}
