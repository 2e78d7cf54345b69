//! The `pseudo_keys` tables, read and written through SPI. Every function here
//! runs inside [`crate::owner_context::as_extension_owner`]; queries are fixed
//! strings with bound parameters and schema-qualified table names.
//!
//! Concurrency rules (they keep "exactly one first key per subject" and "no key
//! survives a committed shred"):
//! * a subject's row in `pseudo_keys.subject` is the lock both key creation and
//!   `pseudo_shred` take (`INSERT .. ON CONFLICT` then `FOR UPDATE`, or the
//!   shred's upsert), so they serialize per subject;
//! * in READ COMMITTED each statement after the first write sees rows committed
//!   meanwhile; in REPEATABLE READ a row committed after our snapshot is a
//!   serialization failure (40001), never a second key.

use crate::error::PseudoError;
use crate::root_key_file;
use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiTupleTable};
use pgrx::Uuid;
use pseudo_core::subject_key::{SubjectKey, SubjectKeyBytes};
use pseudo_core::{random, DigestKey, KeyId, RootKey};

/// The root key and what it unlocks in this database.
pub struct Keyring {
    pub path: String,
    pub root: RootKey,
    pub digest: DigestKey,
    pub epoch: i32,
}

/// What the key table says about a key id.
pub enum StoredKey {
    Live(SubjectKeyBytes),
    Shredded,
    Unknown,
}

/// The first row of a result, or `None` for an empty one (pgrx's getters
/// report an empty result as an error).
fn first_row(table: SpiTupleTable<'_>) -> Result<Option<SpiTupleTable<'_>>, PseudoError> {
    Ok(if table.is_empty() { None } else { Some(table.first()) })
}

fn uuid(id: &KeyId) -> Uuid {
    Uuid::from_bytes(*id)
}

/// Loads the root key file and this database's root-key row. With `create`,
/// a database without any keys gets its first root key (file and row).
pub fn load_keyring(create: bool) -> Result<Keyring, PseudoError> {
    let path = root_key_file::configured_path()?;
    Spi::connect_mut(|client| {
        let row = first_row(client.select(
            "SELECT epoch, fingerprint, wrapped_digest_key FROM pseudo_keys.root_key ORDER BY epoch DESC LIMIT 1",
            None,
            &[],
        )?)?
        .map(|t| t.get_three::<i32, Vec<u8>, Vec<u8>>())
        .transpose()?
        .unwrap_or((None, None, None));
        let root = match root_key_file::read(&path)? {
            Some(root) => root,
            None => {
                let any_keys = client
                    .select(
                        "SELECT EXISTS (SELECT FROM pseudo_keys.subject) OR EXISTS (SELECT FROM pseudo_keys.root_key)",
                        None,
                        &[],
                    )?
                    .first()
                    .get_one::<bool>()?
                    .unwrap_or(true);
                if any_keys || !create {
                    return Err(PseudoError::RootKeyMissing(path));
                }
                root_key_file::create(&path)?
            }
        };
        let (epoch, digest) = match row {
            (Some(epoch), Some(fingerprint), Some(wrapped)) => {
                if fingerprint != root.fingerprint() {
                    return Err(PseudoError::RootKeyRejected(
                        path,
                        "it is not the root key this database's keys are wrapped under",
                        "Point pseudo_ext.root_key_file at the root key file backed up with this database.",
                    ));
                }
                let digest = root.unwrap_digest_key(epoch as u32, &wrapped).map_err(|_| PseudoError::DecryptionFailed)?;
                (epoch, digest)
            }
            _ if !create => return Err(PseudoError::RootKeyMissing(path)),
            _ => first_root_key_row(client, &root)?,
        };
        Ok(Keyring { path, root, digest, epoch })
    })
}

/// Records the first root key epoch with a new subject-digest key.
fn first_root_key_row(client: &mut SpiClient<'_>, root: &RootKey) -> Result<(i32, DigestKey), PseudoError> {
    let digest = DigestKey::generate()?;
    let wrapped = root.wrap_digest_key(1, &digest)?;
    crate::key_cache::note_key_write();
    let fingerprint = root.fingerprint().to_vec();
    let inserted = client.update(
        "INSERT INTO pseudo_keys.root_key (epoch, fingerprint, wrapped_digest_key) VALUES (1, $1, $2)
         ON CONFLICT (epoch) DO NOTHING",
        None,
        &[fingerprint.as_slice().into(), wrapped.as_slice().into()],
    )?;
    if inserted.len() == 1 {
        return Ok((1, digest));
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
            Ok((1, root.unwrap_digest_key(1, &wrapped).map_err(|_| PseudoError::DecryptionFailed)?))
        }
        (Some(_), Some(_)) => Err(PseudoError::RootKeyRejected(
            String::new(),
            "another root key was registered concurrently",
            "Make every server use the same pseudo_ext.root_key_file.",
        )),
        _ => Err(PseudoError::ConcurrentKeyCreation),
    }
}

/// Looks a key up by id (decryption path: reads only).
pub fn key_by_id(keyring: &Keyring, id: &KeyId) -> Result<StoredKey, PseudoError> {
    Spi::connect(|client| {
        let wrapped = first_row(client.select(
            "SELECT wrapped_key FROM pseudo_keys.subject_key WHERE key_id = $1",
            None,
            &[uuid(id).into()],
        )?)?
        .map(|t| t.get_one::<Vec<u8>>())
        .transpose()?
        .flatten();
        if let Some(wrapped) = wrapped {
            return Ok(StoredKey::Live(keyring.root.unwrap_subject_key(id, &wrapped)?));
        }
        let shredded = client
            .select("SELECT EXISTS (SELECT FROM pseudo_keys.shredded_key WHERE key_id = $1)", None, &[uuid(id).into()])?
            .first()
            .get_one::<bool>()?
            .unwrap_or(false);
        Ok(if shredded { StoredKey::Shredded } else { StoredKey::Unknown })
    })
}

const CURRENT_KEY: &str = "SELECT s.shredded_at IS NOT NULL, k.key_id, k.wrapped_key
     FROM pseudo_keys.subject s
     LEFT JOIN LATERAL (SELECT key_id, wrapped_key FROM pseudo_keys.subject_key sk
                        WHERE sk.subject_digest = s.subject_digest
                        ORDER BY sk.version DESC LIMIT 1) k ON true
     WHERE s.subject_digest = $1";

/// The subject's current key, created on first use (encryption path).
pub fn current_key(keyring: &Keyring, subject: &[u8]) -> Result<(KeyId, SubjectKeyBytes), PseudoError> {
    let digest = keyring.digest.digest(subject);
    let digest = digest.as_slice();
    Spi::connect_mut(|client| {
        let read_current = |client: &SpiClient<'_>| -> Result<Option<(bool, Option<Uuid>, Option<Vec<u8>>)>, PseudoError> {
            let table = client.select(CURRENT_KEY, None, &[digest.into()])?;
            if table.is_empty() {
                return Ok(None);
            }
            let (shredded, id, wrapped) = table.first().get_three::<bool, Uuid, Vec<u8>>()?;
            Ok(Some((shredded.unwrap_or(false), id, wrapped)))
        };
        let unwrap = |id: Uuid, wrapped: Vec<u8>| -> Result<(KeyId, SubjectKeyBytes), PseudoError> {
            let id = *id.as_bytes();
            Ok((id, keyring.root.unwrap_subject_key(&id, &wrapped)?))
        };
        match read_current(client)? {
            Some((true, _, _)) => return Err(PseudoError::SubjectShredded),
            Some((false, Some(id), Some(wrapped))) => return unwrap(id, wrapped),
            _ => {}
        }
        // First use: take the subject row's lock, then look again.
        client.update(
            "INSERT INTO pseudo_keys.subject (subject_digest) VALUES ($1) ON CONFLICT (subject_digest) DO NOTHING",
            None,
            &[digest.into()],
        )?;
        let locked = client.update(
            "SELECT shredded_at IS NOT NULL FROM pseudo_keys.subject WHERE subject_digest = $1 FOR UPDATE",
            None,
            &[digest.into()],
        )?;
        if locked.is_empty() {
            return Err(PseudoError::ConcurrentKeyCreation);
        }
        if locked.first().get_one::<bool>()?.unwrap_or(false) {
            return Err(PseudoError::SubjectShredded);
        }
        if let Some((false, Some(id), Some(wrapped))) = read_current(client)? {
            return unwrap(id, wrapped);
        }
        let id = new_key_id()?;
        let key = SubjectKey::generate_bytes()?;
        crate::key_cache::note_key_write();
        let wrapped = keyring.root.wrap_subject_key(&id, &key)?;
        client.update(
            "INSERT INTO pseudo_keys.subject_key (key_id, subject_digest, version, root_epoch, wrapped_key)
             SELECT $1, $2, COALESCE(max(version), 0) + 1, $3, $4
             FROM pseudo_keys.subject_key WHERE subject_digest = $2",
            None,
            &[uuid(&id).into(), digest.into(), keyring.epoch.into(), wrapped.as_slice().into()],
        )?;
        Ok((id, key))
    })
}

/// A random (version 4) UUID.
fn new_key_id() -> Result<KeyId, PseudoError> {
    let mut id = random::bytes::<16>()?;
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    Ok(id)
}
