//! The extension's one error type and the one place where errors become
//! SQLSTATEs. Messages start with `pseudo_ext:` and never contain plaintext,
//! subject identifiers or key bytes.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use pseudo_core::{CoreError, KeyId};
use pseudo_fhe::FheError;

pub enum PseudoError {
    /// Text input that is not a `pseudo_text` (22P02).
    InvalidText(CoreError),
    /// Binary input that is not a `pseudo_text` (22P03).
    InvalidBinary(CoreError),
    /// Plaintext over CCM's 65,535-byte limit (54000).
    PlaintextTooLong(usize),
    /// Tampered value, or a value whose key id was swapped (XX001). Opaque.
    DecryptionFailed,
    /// A subject's wrapped key does not unwrap under the root key of its
    /// epoch: its row was altered (XX001).
    SubjectKeyUnwrap,
    /// The digest key wrapped under this root key epoch does not unwrap: the
    /// row was altered (XX001).
    DigestKeyUnwrap(i32),
    /// Wrapping a key under the root key failed (XX000).
    KeyWrapFailed,
    /// A root key that is not 32 bytes of hex, outside a key source (F0000).
    RootKeyMalformed(&'static str),
    /// No key with this id exists or ever existed here (42704).
    UnknownKey(KeyId),
    /// `pseudo_encrypt` for a subject whose keys were shredded (55000).
    SubjectShredded,
    /// The root key file is absent while wrapped keys exist (58P01). Holds the
    /// source's description (`root key file "..."`).
    RootKeyMissing(String),
    /// The root key source exists but cannot be read, or the command failed (58030).
    RootKeyUnreadable(String, String),
    /// The root key source is malformed, too open, or does not hold the key
    /// this database's current epoch was set up with (F0000).
    RootKeyRejected(String, &'static str, &'static str),
    /// The source lacks the root key of an older epoch that keys still use (F0000).
    RootKeyOfEpochMissing(String, i32),
    /// No root key epoch with this number exists (42704).
    UnknownEpoch(i32),
    /// A root key rotation committed while this transaction created a key
    /// under the previous epoch (40001).
    StaleRootEpoch,
    /// A key administration step that the database's state does not allow
    /// now (55000): message and hint.
    KeyAdmin(String, &'static str),
    /// A NULL context (22004): NULL would silently drop the binding.
    NullContext,
    /// The caller lacks a role the function requires (42501).
    NotPermitted(&'static str),
    /// Another transaction created this subject's first key after our snapshot
    /// was taken (40001); retrying the transaction succeeds.
    ConcurrentKeyCreation,
    /// The key tables could not be queried (XX000): a broken installation.
    KeyStore(String),
    /// The OS random number generator failed (58000).
    Randomness,
    /// A new key is needed but the transaction is read-only, e.g. on a hot
    /// standby (25006).
    ReadOnly,
    /// A rewrap would re-encrypt, but its audit row cannot be written in a
    /// read-only transaction (25006).
    ReadOnlyRewrap,
    /// The list of databases using a root key file could not be read or
    /// written (58030).
    RootKeyUsers(String),
    /// A root key another database still uses (55000).
    RootKeyInUse(i32, String),
    /// Bytes handed to an FHE store that it refuses (22P03, 22026, 22023).
    Fhe(FheError),
    /// No FHE store of this name that the caller may use (42704): another
    /// role's store answers the same, so its name does not leak.
    UnknownStore(String),
    /// An FHE store of this name exists already (42710).
    StoreExists(String),
    /// The FHE worker pool could not be built (58000).
    FheThreads(String),
    /// A store larger than `pseudo_ext.fhe_max_store_bits`, or more stores for
    /// one role than `pseudo_ext.fhe_max_stores_per_role` (53400): message and hint.
    FheLimit(String, &'static str),
    /// `PREPARE TRANSACTION` after the transaction created, rotated or
    /// shredded keys or changed root keys (0A000).
    PrepareAfterKeyChange,
}

impl From<FheError> for PseudoError {
    fn from(e: FheError) -> Self {
        PseudoError::Fhe(e)
    }
}

impl From<CoreError> for PseudoError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::PlaintextTooLong(n) => PseudoError::PlaintextTooLong(n),
            CoreError::Randomness => PseudoError::Randomness,
            CoreError::MalformedText(_) | CoreError::UnsupportedVersion(_) => PseudoError::InvalidText(e),
            CoreError::MalformedEnvelope(_) => PseudoError::InvalidBinary(e),
            CoreError::DecryptionFailed => PseudoError::DecryptionFailed,
            CoreError::UnwrapFailed => PseudoError::SubjectKeyUnwrap,
            CoreError::WrapFailed => PseudoError::KeyWrapFailed,
            CoreError::MalformedRootKey(why) => PseudoError::RootKeyMalformed(why),
        }
    }
}

impl From<pgrx::spi::SpiError> for PseudoError {
    fn from(e: pgrx::spi::SpiError) -> Self {
        PseudoError::KeyStore(e.to_string())
    }
}

/// The hint of a key row that no longer unwraps.
const RESTORE_KEY_ROWS: &str =
    "Restore the pseudo_keys tables from a backup taken with this root key file; the values under that key cannot be decrypted until then.";

impl PseudoError {
    fn parts(&self) -> (PgSqlErrorCode, String, Option<String>) {
        use PgSqlErrorCode::*;
        match self {
            PseudoError::InvalidText(e) => (ERRCODE_INVALID_TEXT_REPRESENTATION, e.to_string(), None),
            PseudoError::InvalidBinary(e) => (ERRCODE_INVALID_BINARY_REPRESENTATION, e.to_string(), None),
            PseudoError::PlaintextTooLong(n) => (
                ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                CoreError::PlaintextTooLong(*n).to_string(),
                Some("Split the value, or store large documents outside pseudo_text.".into()),
            ),
            PseudoError::DecryptionFailed => (ERRCODE_DATA_CORRUPTED, CoreError::DecryptionFailed.to_string(), None),
            PseudoError::SubjectKeyUnwrap => (
                ERRCODE_DATA_CORRUPTED,
                "a subject's wrapped key does not unwrap under the root key of its epoch: its row in pseudo_keys.subject_key was altered".into(),
                Some(RESTORE_KEY_ROWS.into()),
            ),
            PseudoError::DigestKeyUnwrap(epoch) => (
                ERRCODE_DATA_CORRUPTED,
                format!("the wrapped digest key of root key epoch {epoch} does not unwrap under its root key: its row in pseudo_keys.root_key was altered"),
                Some(RESTORE_KEY_ROWS.into()),
            ),
            PseudoError::KeyWrapFailed => (ERRCODE_INTERNAL_ERROR, CoreError::WrapFailed.to_string(), None),
            PseudoError::RootKeyMalformed(why) => (
                ERRCODE_CONFIG_FILE_ERROR,
                CoreError::MalformedRootKey(why).to_string(),
                Some("Restore the root key file from your backup.".into()),
            ),
            PseudoError::UnknownKey(id) => (
                ERRCODE_UNDEFINED_OBJECT,
                format!("no pseudo_ext key with id {}", pgrx::Uuid::from_bytes(*id)),
                Some("The value was encrypted in another database, or its key table rows were removed outside pseudo_shred.".into()),
            ),
            PseudoError::SubjectShredded => (
                ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                "subject was shredded: no new data can be encrypted for it".into(),
                None,
            ),
            PseudoError::RootKeyMissing(source) => (
                ERRCODE_UNDEFINED_FILE,
                format!("{source} does not exist, but this database holds keys wrapped under a root key"),
                Some("Restore the root key file from your backup, or point pseudo_ext.root_key_file at it. A new root key is never generated while wrapped keys exist.".into()),
            ),
            PseudoError::RootKeyUnreadable(source, why) => {
                (ERRCODE_IO_ERROR, format!("could not read {source}: {why}"), None)
            }
            PseudoError::RootKeyRejected(source, why, hint) => (
                ERRCODE_CONFIG_FILE_ERROR,
                format!("{source} rejected: {why}"),
                Some((*hint).to_string()),
            ),
            PseudoError::RootKeyOfEpochMissing(source, epoch) => (
                ERRCODE_CONFIG_FILE_ERROR,
                format!("{source} does not hold the root key of epoch {epoch}, which keys in this database are wrapped under"),
                Some("Add that root key back from your backup. If it was destroyed, the keys wrapped under it are lost.".into()),
            ),
            PseudoError::UnknownEpoch(epoch) => {
                (ERRCODE_UNDEFINED_OBJECT, format!("no root key epoch {epoch} in this database"), None)
            }
            PseudoError::StaleRootEpoch => (
                ERRCODE_T_R_SERIALIZATION_FAILURE,
                "could not serialize access: the root key was rotated concurrently".into(),
                Some("Retry the transaction.".into()),
            ),
            PseudoError::KeyAdmin(message, hint) => {
                (ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, message.clone(), Some((*hint).to_string()))
            }
            PseudoError::NullContext => (
                ERRCODE_NULL_VALUE_NOT_ALLOWED,
                "context must not be NULL".into(),
                Some("Use the form without a context argument for values that have none.".into()),
            ),
            PseudoError::NotPermitted(what) => (ERRCODE_INSUFFICIENT_PRIVILEGE, (*what).to_string(), None),
            PseudoError::ConcurrentKeyCreation => (
                ERRCODE_T_R_SERIALIZATION_FAILURE,
                "could not serialize access: another transaction created this subject's key concurrently".into(),
                Some("Retry the transaction.".into()),
            ),
            PseudoError::KeyStore(why) => (ERRCODE_INTERNAL_ERROR, format!("key store query failed: {why}"), None),
            PseudoError::Randomness => (ERRCODE_SYSTEM_ERROR, CoreError::Randomness.to_string(), None),
            PseudoError::ReadOnly => (
                ERRCODE_READ_ONLY_SQL_TRANSACTION,
                "cannot create a subject key in a read-only transaction".into(),
                Some("On a hot standby, encrypt on the primary. Subjects that already have a key can be encrypted anywhere.".into()),
            ),
            PseudoError::RootKeyUsers(kind) => (
                ERRCODE_IO_ERROR,
                format!("could not read or write the list of databases that use the root key file: {kind}"),
                Some("The list lives in the directory <root key file>.users, which the server must be able to write.".into()),
            ),
            PseudoError::RootKeyInUse(epoch, users) => (
                ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("the root key of epoch {epoch} is still used by another database sharing the root key file: {users}"),
                Some("In each of them rotate (pseudo_rotate_root_key()) and retire the epoch that uses this key (pseudo_retire_root_key()); then destroy it here.".into()),
            ),
            PseudoError::ReadOnlyRewrap => (
                ERRCODE_READ_ONLY_SQL_TRANSACTION,
                "cannot rewrap a value in a read-only transaction".into(),
                Some("Rewraps are audited, which needs a write: rewrap on the primary, in a read-write transaction.".into()),
            ),
            PseudoError::Fhe(e) => {
                let code = match e {
                    FheError::Malformed(_) => ERRCODE_INVALID_BINARY_REPRESENTATION,
                    FheError::WrongWidth { .. } => ERRCODE_STRING_DATA_LENGTH_MISMATCH,
                    FheError::WrongKind { .. } | FheError::OtherClientKey | FheError::Unsupported(_) => {
                        ERRCODE_INVALID_PARAMETER_VALUE
                    }
                };
                let hint = match e {
                    FheError::OtherClientKey => Some("Encrypt with the client key whose server key created this store.".into()),
                    FheError::WrongWidth { .. } => Some("pseudo_fhe_stores shows each store's key_bits and value_bits.".into()),
                    _ => None,
                };
                (code, e.to_string(), hint)
            }
            PseudoError::UnknownStore(name) => (ERRCODE_UNDEFINED_OBJECT, format!("FHE store \"{name}\" does not exist"), None),
            PseudoError::StoreExists(name) => (ERRCODE_DUPLICATE_OBJECT, format!("FHE store \"{name}\" already exists"), None),
            PseudoError::FheThreads(why) => (ERRCODE_SYSTEM_ERROR, format!("FHE worker threads unavailable: {why}"), None),
            PseudoError::FheLimit(message, hint) => {
                (ERRCODE_CONFIGURATION_LIMIT_EXCEEDED, message.clone(), Some((*hint).to_string()))
            }
            PseudoError::PrepareAfterKeyChange => (
                ERRCODE_FEATURE_NOT_SUPPORTED,
                "cannot PREPARE a transaction that created, rotated or shredded keys".into(),
                Some("Commit key changes (a subject's first pseudo_encrypt, pseudo_rotate, pseudo_shred, root key administration) directly; transactions that only encrypt under existing keys or decrypt can be prepared.".into()),
            ),
        }
    }

    /// Raises this error as a PostgreSQL ERROR; does not return.
    pub fn raise(self) -> ! {
        let (code, message, hint) = self.parts();
        let mut report = ErrorReport::new(code, format!("pseudo_ext: {message}"), "pseudo_ext");
        if let Some(hint) = hint {
            report = report.set_hint(hint);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

/// Unwraps a result for SQL: the error becomes a PostgreSQL ERROR.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T, E: Into<PseudoError>> OrRaise<T> for Result<T, E> {
    fn or_raise(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => e.into().raise(),
        }
    }
}
