//! SQL-callable functions: one-line wrappers over the core and the key cache.
//! Who may call each is decided by grants in `sql/pseudo_ext.sql`.
//!
//! `text` arguments arrive as their raw bytes (in the database encoding), so no
//! UTF-8 re-validation happens per call; a subject is compared byte for byte.

use crate::error::{OrRaise, PseudoError};
use crate::key_cache;
use pgrx::prelude::*;
use pgrx::Uuid;
use pseudo_core::envelope::{self, Envelope};

/// Encrypts `plaintext` under the subject's current key (created on first use).
#[pg_extern(sql = false)]
fn pseudo_encrypt(subject: &[u8], plaintext: &[u8]) -> Vec<u8> {
    // Refuse an over-long plaintext before a key is created for nothing.
    let mut out = vec![0u8; envelope::sealed_len(plaintext.len()).or_raise()];
    key_cache::with_current_key(subject, |id, key| key.seal_into(id, plaintext, &mut out))
        .or_raise()
        .or_raise();
    out
}

/// Decrypts a value; NULL when its key was shredded.
#[pg_extern(sql = false)]
fn pseudo_decrypt(value: &[u8]) -> Option<Vec<u8>> {
    let env = Envelope::parse(value).map_err(|_| PseudoError::DecryptionFailed).or_raise();
    key_cache::with_key_by_id(&env.key_id(), |key| key.map(|k| k.open(&env)))
        .or_raise()
        .map(OrRaise::or_raise)
}

/// The value's key id; no key access, no crypto.
#[pg_extern(sql = false)]
fn pseudo_key_id(value: &[u8]) -> Uuid {
    let env = Envelope::parse(value).map_err(PseudoError::InvalidBinary).or_raise();
    Uuid::from_bytes(env.key_id())
}

/// Internal, for `pseudo_shred` only (EXECUTE revoked from PUBLIC): the keyed
/// digest of a subject, as stored in `pseudo_keys.subject`.
#[pg_extern(sql = false)]
fn pseudo_subject_digest(subject: &[u8]) -> Vec<u8> {
    key_cache::subject_digest(subject).or_raise().to_vec()
}

/// Internal, for `pseudo_shred` only: makes every backend drop cached keys
/// from its next transaction on.
#[pg_extern(sql = false)]
fn pseudo_invalidate_key_cache() {
    key_cache::invalidate_everywhere().or_raise()
}
