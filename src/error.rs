//! The extension's one error type and the one place where errors become
//! SQLSTATEs. Messages start with `pseudo_ext:` and never contain plaintext,
//! subject identifiers or key bytes.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use pseudo_core::{CoreError, KeyId};
use pseudo_fhe::FheError;

pub enum PseudoError {
    /// Text input that is not a `pseudo_text` (22P02).
    InvalidText { cause: CoreError },
    /// Binary input that is not a `pseudo_text` (22P03).
    InvalidBinary { cause: CoreError },
    /// Plaintext over CCM's 65,535-byte limit (54000).
    PlaintextTooLong { len: usize },
    /// Tampered value, or a value whose key id was swapped (XX001). Opaque.
    DecryptionFailed,
    /// A subject's wrapped key does not unwrap under the root key of its
    /// epoch: its row was altered (XX001).
    SubjectKeyUnwrap,
    /// The digest key wrapped under this root key epoch does not unwrap: the
    /// row was altered (XX001).
    DigestKeyUnwrap { epoch: i32 },
    /// Wrapping a key under the root key failed (XX000).
    KeyWrapFailed,
    /// A root key that is not 32 bytes of hex, outside a key source (F0000).
    RootKeyMalformed { why: &'static str },
    /// No key with this id exists or ever existed here (42704).
    UnknownKey { id: KeyId },
    /// `pseudo_encrypt` for a subject whose keys were shredded (55000).
    SubjectShredded,
    /// The root key file is absent while wrapped keys exist (58P01); `source`
    /// describes it (`root key file "..."`).
    RootKeyMissing { source: String },
    /// A key is needed but this database holds none, not even a root key
    /// epoch: the value was encrypted elsewhere (42704).
    NoKeysHere,
    /// A Citus worker asked the coordinator for a subject's key, and that
    /// failed (08006 when the coordinator was unreachable, else 58000).
    CoordinatorKey { why: String, unreachable: bool },
    /// A key administration function run on a Citus worker (0A000).
    CoordinatorOnly { what: &'static str },
    /// The root key source exists but cannot be read, or the command failed (58030).
    RootKeyUnreadable { source: String, why: String },
    /// The root key source is malformed, too open, or does not hold the key
    /// this database's current epoch was set up with (F0000).
    RootKeyRejected { source: String, why: &'static str, hint: &'static str },
    /// The source lacks the root key of an older epoch that keys still use (F0000).
    RootKeyOfEpochMissing { source: String, epoch: i32 },
    /// No root key epoch with this number exists (42704).
    UnknownEpoch { epoch: i32 },
    /// A root key rotation committed while this transaction created a key
    /// under the previous epoch (40001).
    StaleRootEpoch,
    /// A key administration step that the database's state does not allow now (55000).
    KeyAdmin { message: String, hint: &'static str },
    /// A NULL context (22004): NULL would silently drop the binding.
    NullContext,
    /// The caller lacks a role the function requires (42501).
    NotPermitted { what: &'static str },
    /// Another transaction created this subject's first key after our snapshot
    /// was taken (40001); retrying the transaction succeeds.
    ConcurrentKeyCreation,
    /// The key tables could not be queried (XX000): a broken installation.
    KeyStore { why: String },
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
    RootKeyUsers { why: String },
    /// A root key another database still uses (55000).
    RootKeyInUse { epoch: i32, users: String },
    /// Bytes handed to an FHE store that it refuses (22P03, 22026, 22023).
    Fhe { cause: FheError },
    /// No FHE store of this name that the caller may use (42704): another
    /// role's store answers the same, so its name does not leak.
    UnknownStore { name: String },
    /// An FHE store of this name exists already (42710).
    StoreExists { name: String },
    /// The FHE worker pool could not be built (58000).
    FheThreads { why: String },
    /// A store larger than `pseudo_ext.fhe_max_store_bits`, or more stores for
    /// one role than `pseudo_ext.fhe_max_stores_per_role` (53400).
    FheLimit { message: String, hint: &'static str },
    /// `PREPARE TRANSACTION` after the transaction created, rotated or
    /// shredded keys or changed root keys (0A000).
    PrepareAfterKeyChange,
    /// A search index key does not unwrap under the root key of its epoch:
    /// its row was altered (XX001).
    SearchKeyUnwrap { id: i32 },
    /// No search index of this name (42704).
    UnknownSearchIndex { name: String },
    /// A search index of this name exists already (42710).
    SearchIndexExists { name: String },
    /// A search index name or normalization that is not allowed (22023).
    BadSearchIndex { message: String },
    /// Text a `lower_trim` index must lowercase is not UTF-8 (22021).
    NotUtf8,
    /// A search term would be recorded in a read-only transaction (25006).
    ReadOnlySearchTerm,
    /// A search term would be recorded on a Citus worker (0A000): inside a
    /// shard task, a write to the reference table of terms deadlocks.
    SearchTermOnWorker,
}

impl From<FheError> for PseudoError {
    fn from(cause: FheError) -> Self {
        PseudoError::Fhe { cause }
    }
}

impl From<CoreError> for PseudoError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::PlaintextTooLong(len) => PseudoError::PlaintextTooLong { len },
            CoreError::Randomness => PseudoError::Randomness,
            CoreError::MalformedText(_) | CoreError::UnsupportedVersion(_) => PseudoError::InvalidText { cause: e },
            CoreError::MalformedEnvelope(_) => PseudoError::InvalidBinary { cause: e },
            CoreError::DecryptionFailed => PseudoError::DecryptionFailed,
            CoreError::UnwrapFailed => PseudoError::SubjectKeyUnwrap,
            CoreError::WrapFailed => PseudoError::KeyWrapFailed,
            CoreError::MalformedRootKey(why) => PseudoError::RootKeyMalformed { why },
            CoreError::NotUtf8 => PseudoError::NotUtf8,
        }
    }
}

impl From<pgrx::spi::SpiError> for PseudoError {
    fn from(e: pgrx::spi::SpiError) -> Self {
        PseudoError::KeyStore { why: e.to_string() }
    }
}

/// The hint of a key row that no longer unwraps.
const RESTORE_KEY_ROWS: &str = "Restore the pseudo_keys tables from a backup taken with this root key file; \
     the values under that key cannot be decrypted until then.";

impl PseudoError {
    /// The SQLSTATE, documented in docs/reference.md's error tables.
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        use PseudoError::*;
        match self {
            InvalidText { .. } => ERRCODE_INVALID_TEXT_REPRESENTATION,
            InvalidBinary { .. } => ERRCODE_INVALID_BINARY_REPRESENTATION,
            PlaintextTooLong { .. } => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            DecryptionFailed | SubjectKeyUnwrap | DigestKeyUnwrap { .. } | SearchKeyUnwrap { .. } => {
                ERRCODE_DATA_CORRUPTED
            }
            KeyWrapFailed | KeyStore { .. } => ERRCODE_INTERNAL_ERROR,
            RootKeyMalformed { .. } | RootKeyRejected { .. } | RootKeyOfEpochMissing { .. } => {
                ERRCODE_CONFIG_FILE_ERROR
            }
            UnknownKey { .. } | UnknownEpoch { .. } | UnknownStore { .. } | UnknownSearchIndex { .. } => {
                ERRCODE_UNDEFINED_OBJECT
            }
            SearchIndexExists { .. } => ERRCODE_DUPLICATE_OBJECT,
            BadSearchIndex { .. } => ERRCODE_INVALID_PARAMETER_VALUE,
            NotUtf8 => ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
            SubjectShredded | KeyAdmin { .. } | RootKeyInUse { .. } => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            RootKeyMissing { .. } => ERRCODE_UNDEFINED_FILE,
            NoKeysHere => ERRCODE_UNDEFINED_OBJECT,
            CoordinatorKey { unreachable: true, .. } => ERRCODE_CONNECTION_FAILURE,
            CoordinatorKey { unreachable: false, .. } => ERRCODE_SYSTEM_ERROR,
            CoordinatorOnly { .. } => ERRCODE_FEATURE_NOT_SUPPORTED,
            RootKeyUnreadable { .. } | RootKeyUsers { .. } => ERRCODE_IO_ERROR,
            StaleRootEpoch | ConcurrentKeyCreation => ERRCODE_T_R_SERIALIZATION_FAILURE,
            NullContext => ERRCODE_NULL_VALUE_NOT_ALLOWED,
            NotPermitted { .. } => ERRCODE_INSUFFICIENT_PRIVILEGE,
            Randomness | FheThreads { .. } => ERRCODE_SYSTEM_ERROR,
            ReadOnly | ReadOnlyRewrap | ReadOnlySearchTerm => ERRCODE_READ_ONLY_SQL_TRANSACTION,
            Fhe { cause: FheError::Malformed(_) } => ERRCODE_INVALID_BINARY_REPRESENTATION,
            Fhe { cause: FheError::WrongWidth { .. } } => ERRCODE_STRING_DATA_LENGTH_MISMATCH,
            Fhe { cause: FheError::WrongKind { .. } | FheError::OtherClientKey | FheError::Unsupported(_) } => {
                ERRCODE_INVALID_PARAMETER_VALUE
            }
            StoreExists { .. } => ERRCODE_DUPLICATE_OBJECT,
            FheLimit { .. } => ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
            PrepareAfterKeyChange | SearchTermOnWorker => ERRCODE_FEATURE_NOT_SUPPORTED,
        }
    }

    /// The message, without the `pseudo_ext: ` prefix: never plaintext, a
    /// subject or key bytes.
    pub fn message(&self) -> String {
        use PseudoError::*;
        match self {
            InvalidText { cause } | InvalidBinary { cause } => cause.to_string(),
            PlaintextTooLong { len } => CoreError::PlaintextTooLong(*len).to_string(),
            DecryptionFailed => CoreError::DecryptionFailed.to_string(),
            SubjectKeyUnwrap => "a subject's wrapped key does not unwrap under the root key of its epoch: \
                 its row in pseudo_keys.subject_key was altered"
                .into(),
            DigestKeyUnwrap { epoch } => format!(
                "the wrapped digest key of root key epoch {epoch} does not unwrap under its root key: \
                 its row in pseudo_keys.root_key was altered"
            ),
            KeyWrapFailed => CoreError::WrapFailed.to_string(),
            RootKeyMalformed { why } => CoreError::MalformedRootKey(why).to_string(),
            UnknownKey { id } => format!("no pseudo_ext key with id {}", pgrx::Uuid::from_bytes(*id)),
            SubjectShredded => "subject was shredded: no new data can be encrypted for it".into(),
            NoKeysHere => "this database holds no keys (pseudo_keys.root_key is empty): the value was \
                 encrypted in another database or on another server"
                .into(),
            CoordinatorKey { why, .. } => format!("the Citus coordinator could not create the subject's key: {why}"),
            CoordinatorOnly { what } => format!("{what} runs on the Citus coordinator, not on a worker"),
            RootKeyMissing { source } => {
                format!("{source} does not exist, but this database holds keys wrapped under a root key")
            }
            RootKeyUnreadable { source, why } => format!("could not read {source}: {why}"),
            RootKeyRejected { source, why, .. } => format!("{source} rejected: {why}"),
            RootKeyOfEpochMissing { source, epoch } => format!(
                "{source} does not hold the root key of epoch {epoch}, which keys in this database are wrapped under"
            ),
            UnknownEpoch { epoch } => format!("no root key epoch {epoch} in this database"),
            StaleRootEpoch => "could not serialize access: the root key was rotated concurrently".into(),
            KeyAdmin { message, .. } | FheLimit { message, .. } => message.clone(),
            NullContext => "context must not be NULL".into(),
            NotPermitted { what } => (*what).to_string(),
            ConcurrentKeyCreation => {
                "could not serialize access: another transaction created this subject's key concurrently".into()
            }
            KeyStore { why } => format!("key store query failed: {why}"),
            Randomness => CoreError::Randomness.to_string(),
            ReadOnly => "cannot create a subject key in a read-only transaction".into(),
            ReadOnlyRewrap => "cannot rewrap a value in a read-only transaction".into(),
            RootKeyUsers { why } => {
                format!("could not read or write the list of databases that use the root key file: {why}")
            }
            RootKeyInUse { epoch, users } => format!(
                "the root key of epoch {epoch} is still used by another database sharing the root key file: {users}"
            ),
            Fhe { cause } => cause.to_string(),
            UnknownStore { name } => format!("FHE store \"{name}\" does not exist"),
            StoreExists { name } => format!("FHE store \"{name}\" already exists"),
            FheThreads { why } => format!("FHE worker threads unavailable: {why}"),
            PrepareAfterKeyChange => "cannot PREPARE a transaction that created, rotated or shredded keys".into(),
            SearchKeyUnwrap { id } => format!(
                "the wrapped search index key {id} does not unwrap under the root key of its epoch: \
                 its row in pseudo_keys.search_key was altered"
            ),
            UnknownSearchIndex { name } => format!("search index \"{name}\" does not exist"),
            SearchIndexExists { name } => format!("search index \"{name}\" already exists"),
            BadSearchIndex { message } => message.clone(),
            NotUtf8 => CoreError::NotUtf8.to_string(),
            ReadOnlySearchTerm => "cannot record a search term in a read-only transaction".into(),
            SearchTermOnWorker => "search terms are written on the Citus coordinator, not on a worker".into(),
        }
    }

    /// What the caller can do about it, when there is something.
    pub fn hint(&self) -> Option<&'static str> {
        use PseudoError::*;
        Some(match self {
            PlaintextTooLong { .. } => "Split the value, or store large documents outside pseudo_text.",
            SubjectKeyUnwrap | DigestKeyUnwrap { .. } | SearchKeyUnwrap { .. } => RESTORE_KEY_ROWS,
            RootKeyMalformed { .. } => "Restore the root key file from your backup.",
            UnknownKey { .. } => {
                "The value was encrypted in another database, or its key table rows were removed outside pseudo_shred."
            }
            RootKeyMissing { .. } => {
                "Restore the root key file from your backup, or point pseudo_ext.root_key_file at it. \
                 A new root key is never generated while wrapped keys exist."
            }
            RootKeyRejected { hint, .. } | KeyAdmin { hint, .. } | FheLimit { hint, .. } => hint,
            RootKeyOfEpochMissing { .. } => {
                "Add that root key back from your backup. If it was destroyed, the keys wrapped under it are lost."
            }
            StaleRootEpoch | ConcurrentKeyCreation => "Retry the transaction.",
            NoKeysHere => {
                "Restore the pseudo_keys tables with the data they belong to (pg_dump keeps them together). \
                 On Citus, run SELECT pseudo_distribute_keys() on the coordinator so that every node holds the keys."
            }
            CoordinatorKey { .. } => {
                "Workers create keys through the coordinator (docs/citus.md): check that it is up and reachable \
                 from this worker, and that its root key source holds the current root key."
            }
            CoordinatorOnly { .. } => "Connect to the coordinator and run it there.",
            NullContext => "Use the form without a context argument for values that have none.",
            ReadOnly => {
                "On a hot standby, encrypt on the primary. Subjects that already have a key can be encrypted anywhere."
            }
            RootKeyUsers { .. } => {
                "The list lives in the directory <root key file>.users, which the server must be able to write."
            }
            RootKeyInUse { .. } => {
                "In each of them rotate (pseudo_rotate_root_key()) and retire the epoch that uses this key \
                 (pseudo_retire_root_key()); then destroy it here."
            }
            ReadOnlyRewrap => {
                "Rewraps are audited, which needs a write: rewrap on the primary, in a read-write transaction."
            }
            Fhe { cause: FheError::OtherClientKey } => {
                "Encrypt with the client key whose server key created this store."
            }
            Fhe { cause: FheError::WrongWidth { .. } } => "pseudo_fhe_stores shows each store's key_bits and value_bits.",
            UnknownSearchIndex { .. } => "pseudo_keys.search_indexes lists them; pseudo_create_search_index makes one.",
            NotUtf8 => "A lower_trim search index needs text in UTF-8 (a database with encoding UTF8).",
            ReadOnlySearchTerm => "Write searchable values on the primary, in a read-write transaction.",
            SearchTermOnWorker => {
                "Write searchable values with INSERT ... VALUES or UPDATE of one row on the coordinator, which evaluates \
                 the function there, not in a query the coordinator sends to the workers (INSERT ... SELECT)."
            }
            PrepareAfterKeyChange => {
                "Commit key changes (a subject's first pseudo_encrypt, pseudo_rotate, pseudo_shred, root key \
                 administration) directly; transactions that only encrypt under existing keys or decrypt can be prepared."
            }
            _ => return None,
        })
    }

    /// Raises this error as a PostgreSQL ERROR; does not return.
    pub fn raise(self) -> ! {
        let mut report = ErrorReport::new(self.sqlstate(), format!("pseudo_ext: {}", self.message()), "pseudo_ext");
        if let Some(hint) = self.hint() {
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
