//! What can be wrong with bytes handed to a store. The extension maps each
//! variant to one SQLSTATE (src/error.rs there); messages never hold key or
//! ciphertext bytes.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FheError {
    /// Not a pseudo_fhe blob, truncated, trailing bytes, or a TFHE object
    /// that does not match the parameter set.
    Malformed(&'static str),
    /// A blob of another kind than the argument expects (a server key where a
    /// ciphertext belongs, ...).
    WrongKind { expected: &'static str, got: &'static str },
    /// A key or value ciphertext of another width than the store's.
    WrongWidth { what: &'static str, expected: usize, got: usize },
    /// A ciphertext made under another client key than the store's server key.
    OtherClientKey,
    /// A width or capacity outside what stores support.
    Unsupported(String),
}

impl fmt::Display for FheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FheError::Malformed(what) => write!(f, "malformed pseudo_fhe bytes: {what}"),
            FheError::WrongKind { expected, got } => write!(f, "expected {expected}, got {got}"),
            FheError::WrongWidth { what, expected, got } => {
                write!(f, "{what} is a {got}-bit ciphertext; this store holds {expected}-bit {what}s")
            }
            FheError::OtherClientKey => {
                write!(f, "ciphertext was encrypted under another client key than this store's server key")
            }
            FheError::Unsupported(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for FheError {}
