//! SQL-callable functions: one-line wrappers over the core and the key cache.
//! Who may call each is decided by grants in the scripts under `sql/`.
//!
//! `text` arguments arrive as their raw bytes (in the database encoding), so no
//! UTF-8 re-validation happens per call; a subject or context is compared byte
//! for byte. Functions with a context argument are not STRICT: a NULL context
//! is an error (22004), never a silently unbound value.

use crate::error::{OrRaise, PseudoError};
use crate::pg::varlena_out::{varlena_with, Varlena};
use crate::pg::{backend, log_filter, roles, xact};
use crate::pseudo::{config_check, key_audit, key_cache, root_rotation, search, search_store};
use pgrx::prelude::*;
use pgrx::Uuid;
use pseudo_core::envelope::{self, Envelope, KeyId};
use zeroize::Zeroizing;

/// The value, and the id of the key it is sealed under.
fn encrypt(subject: &[u8], context: &[u8], plaintext: &[u8]) -> (Varlena, KeyId) {
    log_filter::note_plaintext_statement();
    // Refuse an over-long plaintext before a key is created for nothing.
    let len = envelope::sealed_len(plaintext.len()).or_raise();
    key_cache::with_current_key(subject, |id, key| {
        varlena_with(len, |out| key.seal_into_in_process(backend::process_id(), id, context, plaintext, out))
            .map(|value| (value, *id))
    })
    .or_raise()
    .or_raise()
}

/// [`encrypt`], and the value's term recorded in the search index `index`.
fn encrypt_searchable(index: &str, subject: &[u8], context: &[u8], plaintext: &[u8]) -> Varlena {
    let (search_key, term) = search::current_term(index, plaintext).or_raise();
    let (value, key_id) = encrypt(subject, context, plaintext);
    search::note_term(search_key, term, key_id);
    value
}

fn decrypt(value: &[u8], context: &[u8]) -> Option<Varlena> {
    log_filter::note_plaintext_statement();
    let env = Envelope::parse(value).map_err(|_| PseudoError::DecryptionFailed).or_raise();
    key_cache::with_key_by_id(&env.key_id(), |key| {
        key.map(|k| varlena_with(env.plaintext_len(), |out| k.open_into(&env, context, out)))
    })
    .or_raise()
    .map(OrRaise::or_raise)
}

fn context_arg(context: Option<&[u8]>) -> &[u8] {
    context.ok_or(PseudoError::NullContext).or_raise()
}

/// Encrypts `plaintext` under the subject's current key (created on first use).
#[pg_extern(sql = false)]
fn pseudo_encrypt(subject: &[u8], plaintext: &[u8]) -> Varlena {
    encrypt(subject, b"", plaintext).0
}

/// [`pseudo_encrypt`] with a context bound as associated data.
#[pg_extern(sql = false)]
fn pseudo_encrypt_in_context(
    subject: Option<&[u8]>,
    plaintext: Option<&[u8]>,
    context: Option<&[u8]>,
) -> Option<Varlena> {
    let context = context_arg(context);
    Some(encrypt(subject?, context, plaintext?).0)
}

/// Decrypts a value; NULL when its key was shredded.
#[pg_extern(sql = false)]
fn pseudo_decrypt(value: &[u8]) -> Option<Varlena> {
    decrypt(value, b"")
}

/// [`pseudo_decrypt`] of a value encrypted with a context.
#[pg_extern(sql = false)]
fn pseudo_decrypt_in_context(value: Option<&[u8]>, context: Option<&[u8]>) -> Option<Varlena> {
    let context = context_arg(context);
    decrypt(value?, context)
}

/// The value's key id; no key access, no crypto.
#[pg_extern(sql = false)]
fn pseudo_key_id(value: &[u8]) -> Uuid {
    let env = Envelope::parse(value).map_err(|cause| PseudoError::InvalidBinary { cause }).or_raise();
    Uuid::from_bytes(env.key_id())
}

fn rewrap(value: &[u8], context: &[u8]) -> Vec<u8> {
    if !(roles::current_user_has(c"pseudo_reader") && roles::current_user_has(c"pseudo_writer")) {
        PseudoError::NotPermitted {
            what: "permission denied: pseudo_rewrap requires the privileges of both pseudo_reader and pseudo_writer",
        }
        .raise();
    }
    let env = Envelope::parse(value).map_err(|_| PseudoError::DecryptionFailed).or_raise();
    let id = env.key_id();
    let (value, new_key) = key_cache::with_key_and_current(&id, |old, current| match (old, current) {
        (Some(old), Some((cur_id, cur))) if *cur_id != id => {
            if backend::read_only_transaction() {
                return Err(PseudoError::ReadOnlyRewrap);
            }
            let mut plaintext = Zeroizing::new(vec![0u8; env.plaintext_len()]);
            old.open_into(&env, context, &mut plaintext)?;
            Ok((cur.seal_in_process(backend::process_id(), cur_id, context, &plaintext)?, Some(*cur_id)))
        }
        // Already current, or shredded: nothing to re-encrypt.
        _ => Ok((value.to_vec(), None)),
    })
    .or_raise()
    .or_raise();
    if let Some(key) = new_key {
        key_audit::note_rewrap(&key);
    }
    value
}

/// Re-encrypts a value under its subject's current key; unchanged when it
/// already is, or when its key was shredded.
#[pg_extern(sql = false)]
fn pseudo_rewrap(value: &[u8]) -> Vec<u8> {
    rewrap(value, b"")
}

/// [`pseudo_rewrap`] of a value encrypted with a context.
#[pg_extern(sql = false)]
fn pseudo_rewrap_in_context(value: Option<&[u8]>, context: Option<&[u8]>) -> Option<Vec<u8>> {
    let context = context_arg(context);
    Some(rewrap(value?, context))
}

/// Whether `pseudo_rewrap` would change the value: its key is live and not its
/// subject's current key.
#[pg_extern(sql = false)]
fn pseudo_needs_rewrap(value: &[u8]) -> bool {
    let env = Envelope::parse(value).map_err(|cause| PseudoError::InvalidBinary { cause }).or_raise();
    let id = env.key_id();
    key_cache::with_key_and_current(&id, |old, current| {
        old.is_some() && current.is_some_and(|(cur_id, _)| *cur_id != id)
    })
    .or_raise()
}

/// A new key version becomes the subject's current key; returns its id.
#[pg_extern(sql = false)]
fn pseudo_rotate(subject: &[u8]) -> Uuid {
    Uuid::from_bytes(key_cache::rotate_subject(subject).or_raise())
}

/// A new root key epoch; every subject key rewrapped under it. Returns the epoch.
#[pg_extern(sql = false)]
fn pseudo_rotate_root_key() -> i32 {
    root_rotation::administer(root_rotation::rotate).or_raise()
}

/// Retires a root key epoch; returns how many keys had to be rewrapped first.
#[pg_extern(sql = false)]
fn pseudo_retire_root_key(epoch: i32) -> i64 {
    root_rotation::administer(|| root_rotation::retire(epoch)).or_raise()
}

/// Destroys a retired epoch's root key (removed from the file at commit).
#[pg_extern(sql = false)]
fn pseudo_destroy_root_key(epoch: i32) -> bool {
    root_rotation::administer(|| root_rotation::destroy(epoch)).or_raise()
}

/// Internal, for `pseudo_check_config`: findings about the root key source.
#[pg_extern(sql = false)]
fn pseudo_root_key_source_check(
) -> TableIterator<'static, (name!(setting, String), name!(value, String), name!(risk, Option<String>))> {
    TableIterator::new(config_check::root_key_source_findings().or_raise())
}

/// Internal, for `pseudo_shred` and the admin functions: the keyed digest of
/// a subject, as stored in `pseudo_keys.subject`.
#[pg_extern(sql = false)]
fn pseudo_subject_digest(subject: &[u8]) -> Vec<u8> {
    key_cache::subject_digest(subject).or_raise().to_vec()
}

/// Internal, for `pseudo_shred`: makes every backend drop cached keys from its
/// next transaction on.
#[pg_extern(sql = false)]
fn pseudo_invalidate_key_cache() {
    xact::invalidate_everywhere().or_raise()
}

/// Internal, for Citus workers: run on the coordinator (as the extension
/// owner, through Citus's connection), the subject's current key wrapped
/// under the root key, created on first use.
#[pg_extern(sql = false)]
fn pseudo_coordinator_current_key(digest: &[u8]) -> String {
    key_cache::current_key_for_worker(digest).or_raise().encode()
}

/// Internal, asked by a Citus coordinator before a root key rotation:
/// whether this server's root key source holds the key with this fingerprint.
#[pg_extern(sql = false)]
fn pseudo_holds_root_key(fingerprint: &[u8]) -> bool {
    root_rotation::source_holds(fingerprint).or_raise()
}

/// Trigger on the key tables: every backend, on every node that applies the
/// change (Citus applies it to each node's copy), drops its cached keys at its
/// next transaction. Only queues the invalidation: the transaction itself did
/// not create keys this backend could have cached, so it may be prepared
/// (Citus prepares each worker's part of a distributed transaction).
#[pg_trigger(sql = false)]
fn pseudo_key_state_changed<'a>(
    _trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<pgrx::heap_tuple::PgHeapTuple<'a, pgrx::AllocatedByPostgres>>, std::convert::Infallible> {
    xact::invalidate_at_commit().or_raise();
    Ok(None)
}

/// [`pseudo_encrypt`] that also records the value's term in a search index.
#[pg_extern(sql = false)]
fn pseudo_encrypt_searchable(index: &str, subject: &[u8], plaintext: &[u8]) -> Varlena {
    encrypt_searchable(index, subject, b"", plaintext)
}

/// [`pseudo_encrypt_searchable`] with a context bound as associated data.
#[pg_extern(sql = false)]
fn pseudo_encrypt_searchable_in_context(
    index: Option<&str>,
    subject: Option<&[u8]>,
    plaintext: Option<&[u8]>,
    context: Option<&[u8]>,
) -> Option<Varlena> {
    let context = context_arg(context);
    Some(encrypt_searchable(index?, subject?, context, plaintext?))
}

/// The key ids of the subjects with a value equal to `plaintext` in the index.
#[pg_extern(sql = false)]
fn pseudo_search(index: &str, plaintext: &[u8]) -> Vec<Uuid> {
    search::search(index, plaintext).or_raise()
}

/// Whether a candidate value equals `plaintext` (after the index's normalization).
#[pg_extern(sql = false)]
fn pseudo_matches(index: &str, value: &[u8], plaintext: &[u8]) -> bool {
    search::matches(index, value, plaintext, b"").or_raise()
}

/// [`pseudo_matches`] of a value encrypted with a context.
#[pg_extern(sql = false)]
fn pseudo_matches_in_context(
    index: Option<&str>,
    value: Option<&[u8]>,
    plaintext: Option<&[u8]>,
    context: Option<&[u8]>,
) -> Option<bool> {
    let context = context_arg(context);
    Some(search::matches(index?, value?, plaintext?, context).or_raise())
}

/// Internal, for `pseudo_reindex_search_column`: records a stored value's term.
#[pg_extern(sql = false)]
fn pseudo_index_value(index: &str, value: &[u8]) -> bool {
    search::index_value(index, value, b"").or_raise()
}

/// [`pseudo_index_value`] of a value encrypted with a context.
#[pg_extern(sql = false)]
fn pseudo_index_value_in_context(index: Option<&str>, value: Option<&[u8]>, context: Option<&[u8]>) -> Option<bool> {
    let context = context_arg(context);
    Some(search::index_value(index?, value?, context).or_raise())
}

/// A new search index with its first key.
#[pg_extern(sql = false)]
fn pseudo_create_search_index(name: &str, normalization: &str) {
    search::check_new_index(name, normalization).or_raise();
    search::administer(true, |ring| search_store::create_index(ring, name, normalization)).or_raise()
}

/// Starts a search index key rotation; returns the new key version.
#[pg_extern(sql = false)]
fn pseudo_rotate_search_index(name: &str) -> i32 {
    search::administer(false, |ring| search_store::rotate_index(ring, name)).or_raise()
}

/// Internal, for `pseudo_reindex_search_column`: drops older key versions.
#[pg_extern(sql = false)]
fn pseudo_finish_search_rotation(name: &str) -> i32 {
    search::administer(false, |_| search_store::finish_rotation(name)).or_raise()
}

/// Drops a search index, its keys and its terms.
#[pg_extern(sql = false)]
fn pseudo_drop_search_index(name: &str) -> bool {
    search::administer(false, |_| search_store::drop_index(name)).or_raise()
}
