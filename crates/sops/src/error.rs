use thiserror::Error;

/// Why a SOPS file could not be decrypted. Messages name keys, recipients and paths inside
/// the file, never a decrypted value.
#[derive(Debug, Error)]
pub enum Error {
    /// An entry of the decryption Secret is a key type this implementation does not support.
    #[error(
        "decryption Secret entry '{entry}' holds a {kind} key, which driftless does not support (only age keys in '.agekey' entries)"
    )]
    UnsupportedKeyType {
        /// The Secret's data key.
        entry: String,
        /// What kind of key it is (PGP, AWS KMS, …).
        kind: &'static str,
    },
    /// An `.agekey` entry holds no valid age identity.
    #[error("decryption Secret entry '{entry}': {message}")]
    InvalidAgeKey {
        /// The Secret's data key.
        entry: String,
        /// What is wrong with it.
        message: String,
    },
    /// The file is not a well-formed SOPS file.
    #[error("malformed SOPS file: {0}")]
    Malformed(String),
    /// The file uses a SOPS feature this implementation refuses.
    #[error("unsupported SOPS file: {0}")]
    Unsupported(String),
    /// No key we hold can open the file's data key.
    #[error("no decryption key for this file: {0}")]
    NoKey(String),
    /// A value failed to decrypt (wrong data key or tampered ciphertext).
    #[error("value at '{path}' failed to decrypt (tampered or corrupted)")]
    Value {
        /// `a:b:c` path of the value.
        path: String,
    },
    /// The MAC over the decrypted values does not match the stored one: the file was changed
    /// after encryption.
    #[error("MAC mismatch: the file was modified after it was encrypted")]
    MacMismatch,
    /// Past a size or count bound.
    #[error("refused: {0}")]
    Limit(String),
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
