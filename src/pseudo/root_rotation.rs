//! Root key rotation and retirement: new epochs, rewrapping every subject key,
//! and destroying a retired epoch's root key. Runs as the extension owner.
//!
//! Crash safety, step by step:
//! 1. rotation first puts the new root key in the source (appended to the file
//!    and synced, or already present in a command's output): a crash now
//!    leaves an unused extra key, which the next rotation picks up;
//! 2. the new epoch row, the digest key and every subject key rewrapped under
//!    it are one transaction: a crash leaves the old epoch or the new one;
//! 3. retirement rewraps stragglers, then marks the epoch retired (its
//!    wrapped digest key erased);
//! 4. destruction, a separate call on a retired epoch, removes the old key
//!    from the file only after its transaction commits (a transaction
//!    callback), so no state exists in which a wrapped key needs a root key
//!    that is gone. It is separate because every database of a cluster
//!    shares the default root key file: the key may only go once all of
//!    them retired the epoch, and destruction refuses until the lists of
//!    `root_key_users` say so.
//!
//! Rotation and retirement take an `EXCLUSIVE` lock on `pseudo_keys.root_key` (see `key_store`),
//! and need READ COMMITTED so that, once the lock is held, they see every key
//! created before it.

use crate::error::PseudoError;
use crate::pg::backend;
use crate::pg::owner_context::as_extension_owner;
use crate::pg::xact::{self, Outcome, Participant};
use crate::pseudo::key_store::{self, first_row, load_keyring_in, Keyring};
use crate::pseudo::root_key_source::{self, Source};
use crate::pseudo::root_key_users;
use crate::pseudo::search_store;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{pg_sys, Uuid};
use pseudo_core::RootKey;
use std::cell::RefCell;

/// Keys rewrapped per UPDATE statement.
const REWRAP_BATCH: usize = 1000;

fn require_read_committed(what: &str) -> Result<(), PseudoError> {
    if !backend::read_committed() {
        return Err(PseudoError::KeyAdmin {
            message: format!("{what} must run in a READ COMMITTED transaction"),
            hint: "Run it on its own, outside an explicit REPEATABLE READ or SERIALIZABLE transaction.",
        });
    }
    Ok(())
}

fn lock_root_keys(client: &mut SpiClient<'_>) -> Result<Keyring, PseudoError> {
    client.update("LOCK TABLE pseudo_keys.root_key IN EXCLUSIVE MODE", None, &[])?;
    load_keyring_in(client, false, true)
}

/// Starts a new root key epoch and rewraps every key under it; returns the new epoch.
pub fn rotate() -> Result<i32, PseudoError> {
    require_read_committed("pseudo_rotate_root_key()")?;
    Spi::connect_mut(|client| {
        let mut ring = lock_root_keys(client)?;
        let mut known = Vec::new();
        for row in client.select("SELECT fingerprint FROM pseudo_keys.root_key", None, &[])? {
            known.push(row.get::<Vec<u8>>(1)?.unwrap_or_default());
        }
        let pending = |ring: &Keyring| -> Vec<usize> {
            let keys = ring.source_keys();
            (0..keys.len()).filter(|&i| !known.iter().any(|fp| fp[..] == keys[i].fingerprint())).collect()
        };
        let mut new = pending(&ring);
        if new.is_empty() {
            let Source::File(path) = &ring.source else {
                return Err(PseudoError::KeyAdmin { message: "pseudo_ext.root_key_command returned no new root key".into(), hint: "Add the new root key to the command's output (keep the current one too), then call pseudo_rotate_root_key() again." });
            };
            root_key_source::append_new_key(path)?;
            ring = load_keyring_in(client, false, true)?;
            new = pending(&ring);
        }
        // Several unused keys: another database sharing the file rotated more
        // than once since this one did; take the newest (last) one.
        let Some(&newest) = new.last() else {
            return Err(PseudoError::KeyAdmin {
                message: "the new root key left the root key source during the rotation".into(),
                hint: "The root key file changed while pseudo_rotate_root_key() ran; call it again.",
            });
        };
        let root = &ring.source_keys()[newest];
        crate::pseudo::citus::require_root_key_on_workers(client, &root.fingerprint())?;
        if let Source::File(path) = &ring.source {
            root_key_users::note(path, &[root.fingerprint()], &[])
                .map_err(|e| PseudoError::RootKeyUsers { why: e.kind().to_string() })?;
        }
        let old_epoch = ring.epoch;
        let epoch = old_epoch + 1;
        let wrapped_digest = root.wrap_digest_key(epoch as u32, &ring.digest)?;
        xact::note_key_write();
        client.update(
            "UPDATE pseudo_keys.root_key SET superseded_at = pg_catalog.now() WHERE epoch = $1",
            None,
            &[old_epoch.into()],
        )?;
        client.update(
            "INSERT INTO pseudo_keys.root_key (epoch, fingerprint, wrapped_digest_key) VALUES ($1, $2, $3)",
            None,
            &[epoch.into(), root.fingerprint().to_vec().into(), wrapped_digest.into()],
        )?;
        let rewrapped = rewrap_keys(client, &ring, root, epoch, None)?;
        let search_keys = search_store::rewrap_search_keys(client, &ring, root, epoch, None)?;
        key_store::audit(
            client,
            "root_rotate",
            vec![],
            &format!("{{\"epoch\": {epoch}, \"previous_epoch\": {old_epoch}, \"keys_rewrapped\": {rewrapped}, \"search_keys_rewrapped\": {search_keys}}}"),
        )?;
        Ok(epoch)
    })
}

/// The fingerprint of `epoch`'s root key and whether the epoch is retired.
fn epoch_row(client: &SpiClient<'_>, epoch: i32) -> Result<(Vec<u8>, bool), PseudoError> {
    let row = first_row(client.select(
        "SELECT fingerprint, retired_at IS NOT NULL FROM pseudo_keys.root_key WHERE epoch = $1",
        None,
        &[epoch.into()],
    )?)?
    .map(|t| t.get_two::<Vec<u8>, bool>())
    .transpose()?;
    match row {
        Some((Some(fingerprint), Some(retired))) => Ok((fingerprint, retired)),
        _ => Err(PseudoError::UnknownEpoch { epoch }),
    }
}

/// Retires `epoch`: rewraps any key still under it and erases its wrapped
/// digest key. Returns how many keys were rewrapped. The root key itself stays
/// in the source until [`destroy`]: other databases may share the file.
pub fn retire(epoch: i32) -> Result<i64, PseudoError> {
    require_read_committed("pseudo_retire_root_key()")?;
    Spi::connect_mut(|client| {
        let ring = lock_root_keys(client)?;
        let (fingerprint, already_retired) = epoch_row(client, epoch)?;
        if epoch == ring.epoch {
            return Err(PseudoError::KeyAdmin {
                message: format!("root key epoch {epoch} is the current epoch and cannot be retired"),
                hint: "Rotate the root key first with pseudo_rotate_root_key().",
            });
        }
        let mut rewrapped = 0;
        if !already_retired {
            rewrapped = rewrap_keys(client, &ring, ring.current_root(), ring.epoch, Some(epoch))?;
            search_store::rewrap_search_keys(client, &ring, ring.current_root(), ring.epoch, Some(epoch))?;
            xact::note_key_write();
            // Two statements, no now() inside COALESCE: Citus refuses that in a
            // write to a reference table (now() is one value per transaction).
            client.update(
                "UPDATE pseudo_keys.root_key SET superseded_at = pg_catalog.now() WHERE epoch = $1 AND superseded_at IS NULL",
                None,
                &[epoch.into()],
            )?;
            client.update(
                "UPDATE pseudo_keys.root_key SET retired_at = pg_catalog.now(), wrapped_digest_key = NULL WHERE epoch = $1",
                None,
                &[epoch.into()],
            )?;
            if let (Source::File(path), Ok(fp)) = (&ring.source, <[u8; 32]>::try_from(fingerprint.as_slice())) {
                schedule(path.clone(), fp, AtCommit::Unlist);
            }
            key_store::audit(
                client,
                "root_retire",
                vec![],
                &format!("{{\"epoch\": {epoch}, \"keys_rewrapped\": {rewrapped}}}"),
            )?;
        }
        Ok(rewrapped)
    })
}

/// Destroys a retired epoch's root key: removes its line from the root key
/// file when this transaction commits. Returns whether the file holds it now.
pub fn destroy(epoch: i32) -> Result<bool, PseudoError> {
    Spi::connect_mut(|client| {
        let ring = lock_root_keys(client)?;
        let (fingerprint, retired) = epoch_row(client, epoch)?;
        if !retired {
            return Err(PseudoError::KeyAdmin {
                message: format!("root key epoch {epoch} is not retired"),
                hint: "Retire it first with pseudo_retire_root_key(); that rewraps every key still under it.",
            });
        }
        let Source::File(path) = &ring.source else {
            return Err(PseudoError::KeyAdmin {
                message: "the root keys come from pseudo_ext.root_key_command, which pseudo_ext never edits".into(),
                hint: "Destroy the retired root key in the key management system behind the command.",
            });
        };
        let fp: [u8; 32] = fingerprint.as_slice().try_into().map_err(|_| PseudoError::KeyStore {
            why: format!("root key epoch {epoch} has a malformed fingerprint"),
        })?;
        let users = root_key_users::others_using(path, &fp)?;
        if !users.is_empty() {
            let names: Vec<String> = users.iter().map(root_key_users::describe).collect();
            return Err(PseudoError::RootKeyInUse { epoch, users: names.join(", ") });
        }
        let present = ring.source_keys().iter().any(|k| k.fingerprint() == fp);
        if present {
            schedule(path.clone(), fp, AtCommit::RemoveKey);
        }
        key_store::audit(
            client,
            "root_destroy",
            vec![],
            &format!("{{\"epoch\": {epoch}, \"was_in_file\": {present}}}"),
        )?;
        Ok(present)
    })
}

/// Rewraps keys under `root` / `epoch`: every key not already under it, or
/// with `only_from`, those under that epoch.
fn rewrap_keys(
    client: &mut SpiClient<'_>,
    ring: &Keyring,
    root: &RootKey,
    epoch: i32,
    only_from: Option<i32>,
) -> Result<i64, PseudoError> {
    let mut todo: Vec<(Uuid, Vec<u8>, i32)> = Vec::new();
    let table = match only_from {
        Some(from) => client.select(
            "SELECT key_id, wrapped_key, root_epoch FROM pseudo_keys.subject_key WHERE root_epoch = $1 FOR UPDATE",
            None,
            &[from.into()],
        )?,
        None => client.select(
            "SELECT key_id, wrapped_key, root_epoch FROM pseudo_keys.subject_key WHERE root_epoch <> $1 FOR UPDATE",
            None,
            &[epoch.into()],
        )?,
    };
    for row in table {
        if let (Some(id), Some(wrapped), Some(from)) = (row.get::<Uuid>(1)?, row.get::<Vec<u8>>(2)?, row.get::<i32>(3)?)
        {
            todo.push((id, wrapped, from));
        }
    }
    let mut done = 0i64;
    for batch in todo.chunks(REWRAP_BATCH) {
        let mut ids = Vec::with_capacity(batch.len());
        let mut wrapped = Vec::with_capacity(batch.len());
        for (id, old, from) in batch {
            let key_id = *id.as_bytes();
            let key = ring.root_of(*from)?.unwrap_subject_key(&key_id, old)?;
            ids.push(*id);
            wrapped.push(root.wrap_subject_key(&key_id, &key)?);
        }
        done += client
            .update(
                "UPDATE pseudo_keys.subject_key k SET wrapped_key = u.wrapped, root_epoch = $3
                 FROM ROWS FROM (pg_catalog.unnest($1::uuid[]), pg_catalog.unnest($2::bytea[])) AS u(key_id, wrapped)
                 WHERE k.key_id = u.key_id",
                None,
                &[ids.into(), wrapped.into(), epoch.into()],
            )?
            .len() as i64;
    }
    Ok(done)
}

/// What happens to a root key when the current transaction commits.
#[derive(Clone, Copy, PartialEq)]
enum AtCommit {
    /// Destroyed: its line leaves the root key file.
    RemoveKey,
    /// Retired: it leaves this database's list of keys in use.
    Unlist,
}

/// Root key changes to make in files when the current transaction commits,
/// with the subtransaction that asked (so a rolled-back savepoint cancels it).
struct PendingRemoval {
    path: String,
    fingerprint: [u8; 32],
    what: AtCommit,
    subxact: pg_sys::SubTransactionId,
}

thread_local! {
    static PENDING: RefCell<Vec<PendingRemoval>> = const { RefCell::new(Vec::new()) };
}

fn schedule(path: String, fingerprint: [u8; 32], what: AtCommit) {
    let subxact = backend::subtransaction_id();
    PENDING.with_borrow_mut(|p| p.push(PendingRemoval { path, fingerprint, what, subxact }));
}

/// Transaction callback: commit removes the scheduled keys; abort forgets them.
/// Must not raise an ERROR (the transaction is already committed): failures
/// become WARNINGs, and `pseudo_check_config()` keeps flagging the key.
pub fn at_transaction_end(committed: bool) {
    let pending = PENDING.with_borrow_mut(std::mem::take);
    if !committed {
        return;
    }
    for p in pending {
        let done = match p.what {
            AtCommit::RemoveKey => root_key_source::remove_key(&p.path, &p.fingerprint).map(|_| ()),
            AtCommit::Unlist => root_key_users::note(&p.path, &[], &[p.fingerprint]),
        };
        match (done, p.what) {
            (Ok(()), _) => {}
            (Err(e), AtCommit::RemoveKey) => pgrx::warning!(
                "pseudo_ext: could not remove the retired root key from root key file \"{}\": {}; remove it by hand",
                p.path,
                e.kind()
            ),
            // The next keyring load in this database removes it.
            (Err(e), AtCommit::Unlist) => {
                pgrx::warning!("pseudo_ext: could not record that this database retired a root key: {}", e.kind())
            }
        }
    }
}

/// Whether the current transaction scheduled a root key removal.
pub fn removal_pending() -> bool {
    PENDING.with_borrow(|p| !p.is_empty())
}

/// Subtransaction abort: forget removals scheduled inside it.
pub fn at_subtransaction_abort(subxact: pg_sys::SubTransactionId) {
    PENDING.with_borrow_mut(|p| p.retain(|r| r.subxact < subxact));
}

/// Runs a root key rotation, retirement or destruction as the extension
/// owner, then makes every backend reload its keyring.
pub fn administer<R>(f: impl FnOnce() -> Result<R, PseudoError>) -> Result<R, PseudoError> {
    xact::watch_key_table()?;
    let r = as_extension_owner(f)?;
    xact::invalidate_everywhere()?;
    Ok(r)
}

/// Registers root rotation's transaction work: a scheduled removal of
/// retired keys from the root key file refuses PREPARE, happens after
/// commit, and is forgotten with the (sub)transaction that scheduled it.
pub fn install() {
    xact::register(Participant {
        refuses_prepare: removal_pending,
        at_end: |outcome| at_transaction_end(outcome == Outcome::Committed),
        at_subtransaction_abort,
        ..Participant::NONE
    });
}

/// Whether this server's root key source holds the root key with this
/// fingerprint (asked by a Citus coordinator before a rotation).
pub fn source_holds(fingerprint: &[u8]) -> Result<bool, PseudoError> {
    let source = root_key_source::configured()?;
    Ok(root_key_source::read(&source, true)?
        .is_some_and(|keys| keys.iter().any(|k| k.fingerprint()[..] == *fingerprint)))
}
