//! The `pseudo_keys` tables, read and written through SPI. Every function here
//! runs inside [`crate::pg::owner_context::as_extension_owner`]; queries are fixed
//! strings with bound parameters and schema-qualified table names. The queries
//! of the encrypt/decrypt paths use only columns that exist since 0.1.0, so the
//! library keeps working between a package upgrade and `ALTER EXTENSION UPDATE`.
//!
//! Concurrency rules (they keep "exactly one first key per subject", "no key
//! survives a committed shred" and "no key is wrapped under a superseded root
//! key epoch"):
//! * a subject's row in `pseudo_keys.subject` is the lock both key creation and
//!   `pseudo_shred` take (`INSERT .. ON CONFLICT` then `FOR UPDATE`, or the
//!   shred's upsert), so they serialize per subject;
//! * a new key is wrapped under the current root epoch only after that epoch's
//!   `root_key` row is locked `FOR SHARE` and is still the newest: root key
//!   rotation holds an `EXCLUSIVE` lock on `root_key`, so it waits for key
//!   creators in flight and they wait for it; in READ COMMITTED a creator that
//!   waited sees the new epoch and retries with it ([`PseudoError::StaleRootEpoch`]),
//!   in REPEATABLE READ PostgreSQL reports the rotation's update of the row as a
//!   serialization failure (40001);
//! * in READ COMMITTED each statement after the first write sees rows committed
//!   meanwhile; in REPEATABLE READ a row committed after our snapshot is a
//!   serialization failure (40001), never a second key.

use crate::error::PseudoError;
use crate::pg::owner_context::relation_exists;
use crate::pg::prepared::Statement;
use crate::pg::xact::{self, Participant};
use crate::pg::{backend, catalog, spi_rows};
use crate::pseudo::citus;
use crate::pseudo::root_key_source::{self, Keys, Source};
use crate::pseudo::root_key_users;
use pgrx::pg_sys::BuiltinOid::{BYTEAOID, INT4OID, TEXTOID, UUIDARRAYOID, UUIDOID};
use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiTupleTable};
use pgrx::Uuid;
use pseudo_core::subject_key::{SubjectKey, SubjectKeyBytes};
use pseudo_core::{random, DigestKey, KeyId, RootKey};

/// The root keys and what they unlock in this database.
pub struct Keyring {
    pub source: Source,
    keys: Keys,
    /// Every epoch not retired, newest first, with the index of its root key
    /// in `keys` when the source holds it.
    epochs: Vec<(i32, Option<usize>)>,
    /// The current (newest) epoch; its root key is always present.
    pub epoch: i32,
    pub digest: DigestKey,
}

impl Keyring {
    pub fn current_root(&self) -> &RootKey {
        let index = self.epochs[0].1.expect("load_keyring checks the current root key");
        &self.keys[index]
    }

    /// The root key of `epoch`. An epoch this keyring does not know was created
    /// after it was loaded: the caller reloads and retries.
    pub fn root_of(&self, epoch: i32) -> Result<&RootKey, PseudoError> {
        match self.epochs.iter().find(|(e, _)| *e == epoch) {
            Some((_, Some(index))) => Ok(&self.keys[*index]),
            Some((_, None)) => Err(PseudoError::RootKeyOfEpochMissing { source: self.source.describe(), epoch }),
            None => Err(PseudoError::StaleRootEpoch),
        }
    }

    /// The source's keys, for root key rotation.
    pub fn source_keys(&self) -> &[RootKey] {
        &self.keys
    }
}

/// What the key table says about a key id.
pub enum StoredKey {
    Live(SubjectKeyBytes),
    Shredded,
    Unknown,
}

/// The first row of a result, or `None` for an empty one (pgrx's getters
/// report an empty result as an error).
pub fn first_row(table: SpiTupleTable<'_>) -> Result<Option<SpiTupleTable<'_>>, PseudoError> {
    Ok(if table.is_empty() { None } else { Some(table.first()) })
}

fn uuid(id: &KeyId) -> Uuid {
    Uuid::from_bytes(*id)
}

/// Loads the root keys and this database's root key epochs. With `create`, a
/// database without any keys gets its first root key (file and row).
pub fn load_keyring(create: bool) -> Result<Keyring, PseudoError> {
    Spi::connect_mut(|client| load_keyring_in(client, create, false))
}

/// A row of `pseudo_keys.root_key`: epoch, fingerprint, wrapped digest key
/// (none once the epoch is destroyed).
type RootKeyRow = (i32, Vec<u8>, Option<Vec<u8>>);

/// [`load_keyring`] on an open SPI connection; `fresh` re-runs a root key command.
pub fn load_keyring_in(client: &mut SpiClient<'_>, create: bool, fresh: bool) -> Result<Keyring, PseudoError> {
    let source = root_key_source::configured()?;
    let mut rows: Vec<RootKeyRow> = Vec::new();
    for row in client.select(
        "SELECT epoch, fingerprint, wrapped_digest_key FROM pseudo_keys.root_key ORDER BY epoch DESC",
        None,
        &[],
    )? {
        let epoch = row.get::<i32>(1)?.unwrap_or(0);
        rows.push((epoch, row.get::<Vec<u8>>(2)?.unwrap_or_default(), row.get::<Vec<u8>>(3)?));
    }
    let keys = match root_key_source::read(&source, fresh)? {
        Some(keys) => keys,
        None => {
            let any_keys = !rows.is_empty()
                || client
                    .select("SELECT EXISTS (SELECT FROM pseudo_keys.subject)", None, &[])?
                    .first()
                    .get_one::<bool>()?
                    .unwrap_or(true);
            match &source {
                Source::File(path) if create && !any_keys => {
                    refuse_if_read_only()?;
                    root_key_source::create_file(path)?
                }
                // Nothing to unwrap here either way: say that, not that a file is missing.
                _ if !create && !any_keys => return Err(PseudoError::NoKeysHere),
                _ => return Err(PseudoError::RootKeyMissing { source: source.describe() }),
            }
        }
    };
    if rows.is_empty() {
        if !create {
            return Err(PseudoError::NoKeysHere);
        }
        refuse_if_read_only()?;
        // The newest key (the last line): in a source shared with databases
        // that rotated, older lines are keys they are about to retire.
        let newest = keys.len() - 1;
        if let Source::File(path) = &source {
            root_key_users::note(path, &[keys[newest].fingerprint()], &[])
                .map_err(|e| PseudoError::RootKeyUsers { why: e.kind().to_string() })?;
        }
        let digest = first_root_key_row(client, &source, &keys[newest])?;
        return Ok(Keyring { source, keys, epochs: vec![(1, Some(newest))], epoch: 1, digest });
    }
    let index_of = |keys: &Keys, fingerprint: &[u8]| keys.iter().position(|k| k.fingerprint() == fingerprint);
    let (epoch, fingerprint, wrapped) = &rows[0];
    let mut keys = keys;
    if index_of(&keys, fingerprint).is_none() && matches!(source, Source::Command(_)) && !fresh {
        // A cached command output may predate a rotation: ask the command again.
        keys = root_key_source::read(&source, true)?.unwrap_or(keys);
    }
    let Some(current) = index_of(&keys, fingerprint) else {
        return Err(PseudoError::RootKeyRejected { source: source.describe(), why: "it does not hold the root key of this database's current epoch", hint: "Point pseudo_ext.root_key_file (or pseudo_ext.root_key_command) at the root keys backed up with this database." });
    };
    let wrapped = wrapped
        .as_deref()
        .ok_or_else(|| PseudoError::KeyStore { why: "the current root key epoch is retired".into() })?;
    let digest = keys[current]
        .unwrap_digest_key(*epoch as u32, wrapped)
        .map_err(|_| PseudoError::DigestKeyUnwrap { epoch: *epoch })?;
    let epochs =
        rows.iter().filter(|(_, _, wrapped)| wrapped.is_some()).map(|(e, fp, _)| (*e, index_of(&keys, fp))).collect();
    if let Source::File(path) = &source {
        note_root_key_use(path, &rows);
    }
    Ok(Keyring { source, keys, epochs, epoch: *epoch, digest })
}

/// Records this database's live and retired root keys next to a shared file
/// ([`root_key_users`]). On a standby the primary does it. A failure is a
/// WARNING, once per backend: reading keys must not fail for it.
fn note_root_key_use(path: &str, rows: &[RootKeyRow]) {
    thread_local! {
        static WARNED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if backend::recovery_in_progress() {
        return;
    }
    let fingerprints = |retired: bool| -> Vec<root_key_users::Fingerprint> {
        rows.iter()
            .filter(|(_, _, wrapped)| wrapped.is_none() == retired)
            .filter_map(|(_, fp, _)| fp.as_slice().try_into().ok())
            .collect()
    };
    if let Err(e) = root_key_users::note(path, &fingerprints(false), &fingerprints(true)) {
        if !WARNED.replace(true) {
            pgrx::warning!(
                "pseudo_ext: could not record this database's use of the root key file ({}): pseudo_destroy_root_key in another database sharing it cannot see that this one needs its keys",
                e.kind()
            );
        }
    }
}

/// Records the first root key epoch with a new subject-digest key.
fn first_root_key_row(client: &mut SpiClient<'_>, source: &Source, root: &RootKey) -> Result<DigestKey, PseudoError> {
    let digest = DigestKey::generate()?;
    let wrapped = root.wrap_digest_key(1, &digest)?;
    xact::note_key_write();
    let fingerprint = root.fingerprint().to_vec();
    let inserted = client.update(
        "INSERT INTO pseudo_keys.root_key (epoch, fingerprint, wrapped_digest_key) VALUES (1, $1, $2)
         ON CONFLICT (epoch) DO NOTHING",
        None,
        &[fingerprint.as_slice().into(), wrapped.as_slice().into()],
    )?;
    if inserted.len() == 1 {
        return Ok(digest);
    }
    // Another backend won the race; use its row (visible in READ COMMITTED).
    let (fp, wrapped) = first_row(client.select(
        "SELECT fingerprint, wrapped_digest_key FROM pseudo_keys.root_key WHERE epoch = 1",
        None,
        &[],
    )?)?
    .map(|t| t.get_two::<Vec<u8>, Vec<u8>>())
    .transpose()?
    .unwrap_or((None, None));
    match (fp, wrapped) {
        (Some(fp), Some(wrapped)) if fp == fingerprint => {
            Ok(root.unwrap_digest_key(1, &wrapped).map_err(|_| PseudoError::DigestKeyUnwrap { epoch: 1 })?)
        }
        (Some(_), Some(_)) => Err(PseudoError::RootKeyRejected {
            source: source.describe(),
            why: "another root key was registered concurrently",
            hint: "Make every server use the same pseudo_ext.root_key_file.",
        }),
        _ => Err(PseudoError::ConcurrentKeyCreation),
    }
}

/// Looks a key up by id (decryption path: reads only).
pub fn key_by_id(keyring: &Keyring, id: &KeyId) -> Result<StoredKey, PseudoError> {
    Spi::connect(|client| {
        static KEY_BY_ID: Statement = Statement {
            sql: "SELECT wrapped_key, root_epoch FROM pseudo_keys.subject_key WHERE key_id = $1",
            args: &[UUIDOID],
            mutating: false,
        };
        let row = first_row(client.select(KEY_BY_ID.plan(client)?, None, &[uuid(id).into()])?)?
            .map(|t| t.get_two::<Vec<u8>, i32>())
            .transpose()?;
        if let Some((Some(wrapped), Some(epoch))) = row {
            return Ok(StoredKey::Live(keyring.root_of(epoch)?.unwrap_subject_key(id, &wrapped)?));
        }
        let shredded = client
            .select("SELECT EXISTS (SELECT FROM pseudo_keys.shredded_key WHERE key_id = $1)", None, &[uuid(id).into()])?
            .first()
            .get_one::<bool>()?
            .unwrap_or(false);
        Ok(if shredded { StoredKey::Shredded } else { StoredKey::Unknown })
    })
}

/// The planner's estimate of the number of keys (`pg_class.reltuples`),
/// when the key table was ever vacuumed or analyzed.
pub fn estimated_key_count() -> Option<usize> {
    let rel = crate::pg::owner_context::key_table_oid(c"subject_key").ok()?;
    catalog::estimated_rows(rel).filter(|rows| *rows > 0.0).map(|rows| rows as usize)
}

/// Unwraps up to `limit` live keys of the key table, in no particular order,
/// handing each to `f` (bulk loading of the key cache). Rows this keyring
/// cannot unwrap are skipped: a lookup of that key reports why.
pub fn for_each_key(
    keyring: &Keyring,
    limit: usize,
    mut f: impl FnMut(&KeyId, &SubjectKeyBytes),
) -> Result<(), PseudoError> {
    const BATCH: usize = 10_000;
    Spi::connect(|client| {
        let mut cursor =
            client.try_open_cursor("SELECT key_id, wrapped_key, root_epoch FROM pseudo_keys.subject_key", &[])?;
        let mut left = limit;
        while left > 0 {
            let batch = cursor.fetch(BATCH.min(left) as libc::c_long)?;
            if batch.is_empty() {
                break;
            }
            left = left.saturating_sub(batch.len());
            spi_rows::for_each_uuid_bytea_int4(batch, |id, wrapped, epoch| {
                if let Ok(key) = keyring.root_of(epoch).and_then(|root| Ok(root.unwrap_subject_key(id, wrapped)?)) {
                    f(id, &key);
                }
            })?;
        }
        Ok(())
    })
}

/// The current key of the subject that key `id` belongs to, if it has one
/// (rewrap path).
pub fn current_key_of(keyring: &Keyring, id: &KeyId) -> Result<Option<(KeyId, SubjectKeyBytes)>, PseudoError> {
    Spi::connect(|client| {
        let row = first_row(client.select(
            "SELECT cur.key_id, cur.wrapped_key, cur.root_epoch
             FROM pseudo_keys.subject_key k
             CROSS JOIN LATERAL (SELECT c.key_id, c.wrapped_key, c.root_epoch FROM pseudo_keys.subject_key c
                                 WHERE c.subject_digest = k.subject_digest
                                 ORDER BY c.version DESC LIMIT 1) cur
             WHERE k.key_id = $1",
            None,
            &[uuid(id).into()],
        )?)?
        .map(|t| t.get_three::<Uuid, Vec<u8>, i32>())
        .transpose()?;
        match row {
            Some((Some(cur), Some(wrapped), Some(epoch))) => {
                let cur = *cur.as_bytes();
                Ok(Some((cur, keyring.root_of(epoch)?.unwrap_subject_key(&cur, &wrapped)?)))
            }
            _ => Ok(None),
        }
    })
}

static CURRENT_KEY: Statement = Statement {
    sql: "SELECT s.shredded_at IS NOT NULL, k.key_id, k.wrapped_key, k.root_epoch
     FROM pseudo_keys.subject s
     LEFT JOIN LATERAL (SELECT key_id, wrapped_key, root_epoch FROM pseudo_keys.subject_key sk
                        WHERE sk.subject_digest = s.subject_digest
                        ORDER BY sk.version DESC LIMIT 1) k ON true
     WHERE s.subject_digest = $1",
    args: &[BYTEAOID],
    mutating: false,
};

type CurrentRow = (bool, Option<Uuid>, Option<Vec<u8>>, Option<i32>);

fn read_current(client: &SpiClient<'_>, digest: &[u8]) -> Result<Option<CurrentRow>, PseudoError> {
    let table = client.select(CURRENT_KEY.plan(client)?, None, &[digest.into()])?;
    if table.is_empty() {
        return Ok(None);
    }
    let row = table.first();
    Ok(Some((row.get::<bool>(1)?.unwrap_or(false), row.get::<Uuid>(2)?, row.get::<Vec<u8>>(3)?, row.get::<i32>(4)?)))
}

/// Takes the subject row's lock (creating the row), refusing a shredded
/// subject. Returns whether this call created the row: then no key of the
/// subject can exist (keys are created and shredded only under this lock).
fn lock_subject(client: &mut SpiClient<'_>, digest: &[u8]) -> Result<bool, PseudoError> {
    static INSERT_SUBJECT: Statement = Statement {
        sql: "INSERT INTO pseudo_keys.subject (subject_digest) VALUES ($1) ON CONFLICT (subject_digest) DO NOTHING RETURNING true",
        args: &[BYTEAOID],
        mutating: true,
    };
    static LOCK_SUBJECT: Statement = Statement {
        sql: "SELECT shredded_at IS NOT NULL FROM pseudo_keys.subject WHERE subject_digest = $1 FOR UPDATE",
        args: &[BYTEAOID],
        mutating: true,
    };
    if !client.update(INSERT_SUBJECT.plan(client)?, None, &[digest.into()])?.is_empty() {
        return Ok(true);
    }
    let locked = client.update(LOCK_SUBJECT.plan(client)?, None, &[digest.into()])?;
    if locked.is_empty() {
        return Err(PseudoError::ConcurrentKeyCreation);
    }
    if locked.first().get_one::<bool>()?.unwrap_or(false) {
        return Err(PseudoError::SubjectShredded);
    }
    Ok(false)
}

/// The current key of the subject with this keyed digest, created on first
/// use (encryption path).
pub fn current_key(keyring: &Keyring, digest: &[u8; 32]) -> Result<(KeyId, SubjectKeyBytes), PseudoError> {
    let key = current_key_in(keyring, digest.as_slice())?;
    crate::pseudo::key_audit::write_if_full()?;
    Ok(key)
}

thread_local! {
    /// The last subject looked up here was new: the next one probably is too
    /// (a load of new subjects), so try creating its first key before
    /// reading: one statement per new subject, one more for a known one.
    static CREATING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn current_key_in(keyring: &Keyring, digest: &[u8]) -> Result<(KeyId, SubjectKeyBytes), PseudoError> {
    Spi::connect_mut(|client| {
        let unwrap = |id: Uuid, wrapped: Vec<u8>, epoch: i32| -> Result<(KeyId, SubjectKeyBytes), PseudoError> {
            let id = *id.as_bytes();
            Ok((id, keyring.root_of(epoch)?.unwrap_subject_key(&id, &wrapped)?))
        };
        if CREATING.get() && !backend::read_only_transaction() {
            if let Some(key) = insert_subject_and_first_key(client, keyring, digest)? {
                return Ok(key);
            }
            CREATING.set(false);
        }
        let read = read_current(client, digest)?;
        match read {
            Some((true, ..)) => return Err(PseudoError::SubjectShredded),
            Some((false, Some(id), Some(wrapped), Some(epoch))) => return unwrap(id, wrapped, epoch),
            _ => {}
        }
        // First use. A subject without a row: its row and first key in one
        // statement (no key can exist: keys are only made under that row's lock).
        refuse_if_read_only()?;
        if citus::creates_keys_on_coordinator(client)? {
            return match citus::current_key_from_coordinator(client, digest)? {
                citus::Answer::Shredded => Err(PseudoError::SubjectShredded),
                citus::Answer::Key { id, epoch, wrapped } => {
                    Ok((id, keyring.root_of(epoch)?.unwrap_subject_key(&id, &wrapped)?))
                }
            };
        }
        if read.is_none() {
            if let Some(key) = insert_subject_and_first_key(client, keyring, digest)? {
                CREATING.set(true);
                return Ok(key);
            }
        }
        // The row exists (or appeared meanwhile): take its lock, then look again.
        let created = lock_subject(client, digest)?;
        if !created {
            if let Some((false, Some(id), Some(wrapped), Some(epoch))) = read_current(client, digest)? {
                return unwrap(id, wrapped, epoch);
            }
        }
        insert_key(client, keyring, digest)
    })
}

/// Adds a new key version for the subject and makes it current (`pseudo_rotate`).
pub fn rotate_subject(keyring: &Keyring, subject: &[u8]) -> Result<KeyId, PseudoError> {
    let digest = keyring.digest.digest(subject);
    refuse_if_read_only()?;
    Spi::connect_mut(|client| {
        if citus::creates_keys_on_coordinator(client)? {
            return Err(PseudoError::CoordinatorOnly { what: "pseudo_rotate" });
        }
        lock_subject(client, &digest)?;
        Ok(insert_key(client, keyring, &digest)?.0)
    })
}

thread_local! {
    /// The transaction (by [`xact::transaction_serial`]) and root
    /// epoch last locked: the lock holds until the transaction ends, so later
    /// keys of the same transaction need not take it again. Forgotten when a
    /// subtransaction aborts (that releases the locks it took).
    static EPOCH_LOCKED: std::cell::Cell<Option<(u64, i32)>> = const { std::cell::Cell::new(None) };
}

/// A subtransaction aborted: the epoch lock may have gone with it.
pub fn forget_epoch_lock() {
    EPOCH_LOCKED.set(None);
}

/// Locks the keyring's epoch against rotation and checks it is still current.
pub fn lock_current_epoch(client: &mut SpiClient<'_>, keyring: &Keyring) -> Result<(), PseudoError> {
    static LOCK_EPOCH: Statement = Statement {
        sql: "SELECT FROM pseudo_keys.root_key WHERE epoch = $1 FOR SHARE",
        args: &[INT4OID],
        mutating: true,
    };
    static NEWEST_EPOCH: Statement =
        Statement { sql: "SELECT max(epoch) FROM pseudo_keys.root_key", args: &[], mutating: false };
    let this = (xact::transaction_serial(), keyring.epoch);
    if EPOCH_LOCKED.get() == Some(this) {
        return Ok(());
    }
    client.update(LOCK_EPOCH.plan(client)?, None, &[keyring.epoch.into()])?;
    let newest = client.select(NEWEST_EPOCH.plan(client)?, None, &[])?.first().get_one::<i32>()?;
    if newest != Some(keyring.epoch) {
        return Err(PseudoError::StaleRootEpoch);
    }
    EPOCH_LOCKED.set(Some(this));
    Ok(())
}

/// A new key needs a write: refused with a clear error on a hot standby or in a
/// read-only transaction (encrypting under an existing key needs none).
fn refuse_if_read_only() -> Result<(), PseudoError> {
    if backend::read_only_transaction() {
        Err(PseudoError::ReadOnly)
    } else {
        Ok(())
    }
}

/// Inserts the subject's row and its first key together; `None` when the row
/// exists by then (a concurrent first use or shred committed): the caller
/// takes the row's lock instead.
fn insert_subject_and_first_key(
    client: &mut SpiClient<'_>,
    keyring: &Keyring,
    digest: &[u8],
) -> Result<Option<(KeyId, SubjectKeyBytes)>, PseudoError> {
    static INSERT_SUBJECT_AND_KEY: Statement = Statement {
        sql: "WITH s AS (INSERT INTO pseudo_keys.subject (subject_digest) VALUES ($2)
                         ON CONFLICT (subject_digest) DO NOTHING RETURNING subject_digest)
              INSERT INTO pseudo_keys.subject_key (key_id, subject_digest, version, root_epoch, wrapped_key)
              SELECT $1, s.subject_digest, 1, $3, $4 FROM s
              RETURNING version",
        args: &[UUIDOID, BYTEAOID, INT4OID, BYTEAOID],
        mutating: true,
    };
    lock_current_epoch(client, keyring)?;
    let id = new_key_id()?;
    let key = SubjectKey::generate_bytes()?;
    let wrapped = keyring.current_root().wrap_subject_key(&id, &key)?;
    xact::note_key_write();
    let inserted = client.update(
        INSERT_SUBJECT_AND_KEY.plan(client)?,
        None,
        &[uuid(&id).into(), digest.into(), keyring.epoch.into(), wrapped.as_slice().into()],
    )?;
    if inserted.is_empty() {
        return Ok(None);
    }
    crate::pseudo::key_audit::note_create(&id);
    Ok(Some((id, key)))
}

/// Creates the subject's next key version (the caller holds the subject lock).
fn insert_key(
    client: &mut SpiClient<'_>,
    keyring: &Keyring,
    digest: &[u8],
) -> Result<(KeyId, SubjectKeyBytes), PseudoError> {
    lock_current_epoch(client, keyring)?;
    let id = new_key_id()?;
    let key = SubjectKey::generate_bytes()?;
    xact::note_key_write();
    let wrapped = keyring.current_root().wrap_subject_key(&id, &key)?;
    // The next version is read first, then inserted with VALUES: one
    // INSERT ... SELECT from the table into itself is what Citus cannot
    // send to the copies of a reference table. The subject lock held by the
    // caller keeps the number free.
    static NEXT_VERSION: Statement = Statement {
        sql: "SELECT COALESCE(max(version), 0) + 1 FROM pseudo_keys.subject_key WHERE subject_digest = $1",
        args: &[BYTEAOID],
        mutating: false,
    };
    static INSERT_KEY: Statement = Statement {
        sql: "INSERT INTO pseudo_keys.subject_key (key_id, subject_digest, version, root_epoch, wrapped_key)
             VALUES ($1, $2, $3, $4, $5)",
        args: &[UUIDOID, BYTEAOID, INT4OID, INT4OID, BYTEAOID],
        mutating: true,
    };
    let version =
        client.select(NEXT_VERSION.plan(client)?, None, &[digest.into()])?.first().get_one::<i32>()?.unwrap_or(1);
    client.update(
        INSERT_KEY.plan(client)?,
        None,
        &[uuid(&id).into(), digest.into(), version.into(), keyring.epoch.into(), wrapped.as_slice().into()],
    )?;
    if version == 1 {
        // One row per transaction ([`crate::pseudo::key_audit`]).
        crate::pseudo::key_audit::note_create(&id);
    } else {
        audit(client, "rotate", vec![uuid(&id)], &format!("{{\"version\": {version}}}"))?;
    }
    Ok((id, key))
}

/// Appends a row to `pseudo_keys.audit_log` (absent before 0.2.0's upgrade
/// script ran: then nothing is recorded). `detail` is a JSON object built
/// from numbers only; it is bound as a parameter.
pub fn audit(client: &mut SpiClient<'_>, action: &str, key_ids: Vec<Uuid>, detail: &str) -> Result<(), PseudoError> {
    if !relation_exists(c"audit_log") {
        return Ok(());
    }
    static AUDIT: Statement = Statement {
        sql: "INSERT INTO pseudo_keys.audit_log (action, key_ids, detail) VALUES ($1, $2, $3::jsonb)",
        args: &[TEXTOID, UUIDARRAYOID, TEXTOID],
        mutating: true,
    };
    client.update(AUDIT.plan(client)?, None, &[action.into(), key_ids.into(), detail.into()])?;
    Ok(())
}

/// A random (version 4) UUID.
fn new_key_id() -> Result<KeyId, PseudoError> {
    let mut id = random::bytes::<16>()?;
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    Ok(id)
}

/// Registers the key store's transaction work: the root epoch lock goes with
/// a rolled-back subtransaction, so the next first key takes it again.
pub fn install() {
    xact::register(Participant { at_subtransaction_abort: |_| forget_epoch_lock(), ..Participant::NONE });
}
