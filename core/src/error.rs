//! The core's one error type. The extension maps each variant to a SQLSTATE in
//! one place (`src/error.rs` of the extension crate).

use std::fmt;

/// Everything the core can refuse. Messages never contain key bytes or plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// A text (hex) form that is not a well-formed envelope: what is wrong, no data.
    MalformedText(&'static str),
    /// Envelope bytes that are not a well-formed envelope (binary input, wrong length).
    MalformedEnvelope(&'static str),
    /// A version byte this build does not know.
    UnsupportedVersion(u8),
    /// Plaintext longer than CCM allows with a 13-byte nonce (65,535 bytes).
    PlaintextTooLong(usize),
    /// Authentication failed: wrong key, tampered or truncated data. One opaque
    /// variant on purpose, so callers cannot tell which check failed.
    DecryptionFailed,
    /// A wrapped key (subject or digest key) that does not unwrap under the
    /// root key: its bytes, key id or epoch were altered, or another root key
    /// with the same fingerprint was supplied. Opaque, like DecryptionFailed.
    UnwrapFailed,
    /// Wrapping a key under the root key failed (AES-CCM refused the input).
    WrapFailed,
    /// The root key file's contents are not a root key.
    MalformedRootKey(&'static str),
    /// The operating system's random number generator failed.
    Randomness,
    /// Text that a normalization needs as UTF-8 is not.
    NotUtf8,
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::MalformedText(why) => write!(f, "invalid input syntax for type pseudo_text: {why}"),
            CoreError::MalformedEnvelope(why) => write!(f, "invalid pseudo_text value: {why}"),
            CoreError::UnsupportedVersion(v) => {
                write!(f, "invalid pseudo_text value: unknown envelope version {v}")
            }
            CoreError::PlaintextTooLong(n) => write!(
                f,
                "plaintext of {n} bytes is too long for pseudo_text (at most {} bytes)",
                crate::envelope::MAX_PLAINTEXT_LEN
            ),
            CoreError::DecryptionFailed => {
                f.write_str("pseudo_text value could not be decrypted: it was altered or does not belong to its key")
            }
            CoreError::UnwrapFailed => f.write_str("a wrapped key does not unwrap under its root key"),
            CoreError::WrapFailed => f.write_str("a key could not be wrapped under the root key"),
            CoreError::MalformedRootKey(why) => write!(f, "root key is malformed: {why}"),
            CoreError::Randomness => f.write_str("the operating system's random number generator failed"),
            CoreError::NotUtf8 => f.write_str("text to normalize is not valid UTF-8"),
        }
    }
}

impl std::error::Error for CoreError {}
