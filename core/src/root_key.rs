//! The root key: 32 random bytes that never enter the database. It wraps every
//! subject key and the subject-digest key; only wrapped forms are stored.
//!
//! Two keys are derived from it with HMAC-SHA256, one per purpose, so the root
//! key itself is never used directly:
//! * the wrapping key `HMAC(root, "pseudo_ext/v1/wrap")`, an AES-256-CCM key;
//! * the fingerprint `HMAC(root, "pseudo_ext/v1/fingerprint")`, stored in the
//!   database so a wrong root key is named as such instead of as corrupt data.
//!
//! A wrapped key is `0x01 || nonce (13) || AES-256-CCM(key) || tag (16)` with the
//! associated data `label || id`, which binds a wrapped subject key to its key id:
//! swapping two wrapped keys between rows makes both fail to unwrap.
//!
//! Root keys are kept as 64 hex digits per line of a root key source (see
//! [`crate::key_file`]), so they can be copied, printed for a safe, or produced
//! by a command. Each root key epoch of a database is wrapped under one of them.

use crate::search_term::SEARCH_KEY_LEN;
use crate::subject_key::{SubjectKeyBytes, KEY_LEN};
use crate::{random, CoreError, KeyId};
use aes::Aes256;
use ccm::aead::generic_array::GenericArray;
use ccm::aead::{AeadInPlace, KeyInit};
use ccm::consts::{U13, U16};
use hmac::{Hmac, KeyInit as _, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

type Aes256Ccm = ccm::Ccm<Aes256, U16, U13>;
type HmacSha256 = Hmac<Sha256>;

pub const ROOT_KEY_LEN: usize = 32;
pub const DIGEST_KEY_LEN: usize = 32;
const WRAP_VERSION: u8 = 0x01;
const WRAP_NONCE_LEN: usize = 13;
const WRAP_TAG_LEN: usize = 16;
/// Length of a wrapped subject key.
pub const WRAPPED_SUBJECT_KEY_LEN: usize = 1 + WRAP_NONCE_LEN + KEY_LEN + WRAP_TAG_LEN;

const SUBJECT_KEY_LABEL: &[u8] = b"pseudo_ext/v1/subject-key/";
const DIGEST_KEY_LABEL: &[u8] = b"pseudo_ext/v1/digest-key/";
const SEARCH_KEY_LABEL: &[u8] = b"pseudo_ext/v1/search-key/";

/// A keyed HMAC-SHA256 state. Its inner and outer hash states are as secret
/// as the key: `hmac` and `sha2` are built with their `zeroize` features, so
/// every copy is wiped when dropped.
fn keyed(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length")
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    finish(keyed(key), message)
}

fn finish(mut mac: HmacSha256, message: &[u8]) -> [u8; 32] {
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The root key. No `Debug`; zeroized on drop.
pub struct RootKey {
    wrap: Aes256Ccm,
    fingerprint: [u8; 32],
}

impl RootKey {
    pub fn from_bytes(bytes: &[u8; ROOT_KEY_LEN]) -> Self {
        let wrap_key = Zeroizing::new(hmac(bytes, b"pseudo_ext/v1/wrap"));
        RootKey {
            wrap: Aes256Ccm::new(GenericArray::from_slice(&wrap_key[..])),
            fingerprint: hmac(bytes, b"pseudo_ext/v1/fingerprint"),
        }
    }

    /// Identifies this root key without revealing it.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    fn wrap(&self, label: &[u8], id: &[u8], secret: &[u8]) -> Result<Vec<u8>, CoreError> {
        let nonce = random::bytes::<WRAP_NONCE_LEN>()?;
        let mut out = Vec::with_capacity(1 + WRAP_NONCE_LEN + secret.len() + WRAP_TAG_LEN);
        out.push(WRAP_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(secret);
        let aad = [label, id].concat();
        let tag = self
            .wrap
            .encrypt_in_place_detached(GenericArray::from_slice(&nonce), &aad, &mut out[1 + WRAP_NONCE_LEN..])
            .map_err(|_| CoreError::WrapFailed)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    fn unwrap_into(&self, label: &[u8], id: &[u8], wrapped: &[u8], out: &mut [u8]) -> Result<(), CoreError> {
        if wrapped.len() != 1 + WRAP_NONCE_LEN + out.len() + WRAP_TAG_LEN || wrapped[0] != WRAP_VERSION {
            return Err(CoreError::UnwrapFailed);
        }
        let nonce = &wrapped[1..1 + WRAP_NONCE_LEN];
        let (body, tag) = wrapped[1 + WRAP_NONCE_LEN..].split_at(out.len());
        out.copy_from_slice(body);
        let aad = [label, id].concat();
        let ok = self.wrap.decrypt_in_place_detached(
            GenericArray::from_slice(nonce),
            &aad,
            out,
            GenericArray::<u8, U16>::from_slice(tag),
        );
        if ok.is_err() {
            out.iter_mut().for_each(|b| *b = 0);
            return Err(CoreError::UnwrapFailed);
        }
        Ok(())
    }

    /// Wraps a subject key, bound to its key id.
    pub fn wrap_subject_key(&self, key_id: &KeyId, key: &SubjectKeyBytes) -> Result<Vec<u8>, CoreError> {
        self.wrap(SUBJECT_KEY_LABEL, key_id, &key[..])
    }

    pub fn unwrap_subject_key(&self, key_id: &KeyId, wrapped: &[u8]) -> Result<SubjectKeyBytes, CoreError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        self.unwrap_into(SUBJECT_KEY_LABEL, key_id, wrapped, key.as_mut())?;
        Ok(key)
    }

    /// Wraps the subject-digest key of root key epoch `epoch`.
    pub fn wrap_digest_key(&self, epoch: u32, key: &DigestKey) -> Result<Vec<u8>, CoreError> {
        self.wrap(DIGEST_KEY_LABEL, &epoch.to_be_bytes(), &key.key[..])
    }

    pub fn unwrap_digest_key(&self, epoch: u32, wrapped: &[u8]) -> Result<DigestKey, CoreError> {
        Ok(DigestKey::from_key(self.unwrap_digest_key_bytes(epoch, wrapped)?))
    }

    /// Wraps a search index key, bound to its row id.
    pub fn wrap_search_key(&self, id: u32, key: &[u8; SEARCH_KEY_LEN]) -> Result<Vec<u8>, CoreError> {
        self.wrap(SEARCH_KEY_LABEL, &id.to_be_bytes(), key)
    }

    pub fn unwrap_search_key(&self, id: u32, wrapped: &[u8]) -> Result<Zeroizing<[u8; SEARCH_KEY_LEN]>, CoreError> {
        let mut key = Zeroizing::new([0u8; SEARCH_KEY_LEN]);
        self.unwrap_into(SEARCH_KEY_LABEL, &id.to_be_bytes(), wrapped, key.as_mut())?;
        Ok(key)
    }

    /// The digest key's bytes, unwrapped (for a root key holder's tools, such
    /// as the test that scans the data directory for leaked key bytes).
    pub fn unwrap_digest_key_bytes(
        &self,
        epoch: u32,
        wrapped: &[u8],
    ) -> Result<Zeroizing<[u8; DIGEST_KEY_LEN]>, CoreError> {
        let mut key = Zeroizing::new([0u8; DIGEST_KEY_LEN]);
        self.unwrap_into(DIGEST_KEY_LABEL, &epoch.to_be_bytes(), wrapped, key.as_mut())?;
        Ok(key)
    }
}

/// Keys the digest that identifies a subject in the key tables, so that neither
/// the tables nor a dump hold subject identifiers in clear, and a dictionary of
/// likely identifiers (e-mail addresses, phone numbers) cannot be hashed against
/// them without this key. Random, stored only wrapped under the root key.
pub struct DigestKey {
    key: Zeroizing<[u8; DIGEST_KEY_LEN]>,
    /// The key's HMAC state, computed once: a digest is then two SHA-256
    /// blocks for a short subject, not four (it runs on every encryption).
    mac: HmacSha256,
}

impl DigestKey {
    pub fn generate() -> Result<Self, CoreError> {
        Ok(DigestKey::from_key(Zeroizing::new(random::bytes::<DIGEST_KEY_LEN>()?)))
    }

    fn from_key(key: Zeroizing<[u8; DIGEST_KEY_LEN]>) -> Self {
        let mac = keyed(&key[..]);
        DigestKey { key, mac }
    }

    /// `HMAC-SHA256(digest key, subject)`.
    pub fn digest(&self, subject: &[u8]) -> [u8; 32] {
        finish(self.mac.clone(), subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(byte: u8) -> RootKey {
        RootKey::from_bytes(&[byte; ROOT_KEY_LEN])
    }

    #[test]
    fn fingerprints_differ_between_keys() {
        assert_ne!(root(1).fingerprint(), root(2).fingerprint());
        assert_eq!(root(1).fingerprint(), root(1).fingerprint());
    }

    #[test]
    fn subject_keys_unwrap_only_with_their_root_and_id() {
        let key = SubjectKeyBytes::new([7u8; KEY_LEN]);
        let id = [3u8; 16];
        let wrapped = root(1).wrap_subject_key(&id, &key).unwrap();
        assert_eq!(wrapped.len(), WRAPPED_SUBJECT_KEY_LEN);
        assert!(!wrapped.windows(KEY_LEN).any(|w| w == &key[..]), "key bytes visible in wrapped form");
        assert_eq!(&root(1).unwrap_subject_key(&id, &wrapped).unwrap()[..], &key[..]);
        assert!(matches!(root(2).unwrap_subject_key(&id, &wrapped), Err(CoreError::UnwrapFailed)));
        assert!(matches!(root(1).unwrap_subject_key(&[4u8; 16], &wrapped), Err(CoreError::UnwrapFailed)));
        for i in 0..wrapped.len() {
            let mut bad = wrapped.clone();
            bad[i] ^= 0x01;
            assert!(matches!(root(1).unwrap_subject_key(&id, &bad), Err(CoreError::UnwrapFailed)), "tamper at {i}");
        }
        assert!(matches!(root(1).unwrap_subject_key(&id, &wrapped[..wrapped.len() - 1]), Err(CoreError::UnwrapFailed)));
    }

    #[test]
    fn wraps_are_randomized() {
        let key = SubjectKeyBytes::new([7u8; KEY_LEN]);
        let r = root(1);
        assert_ne!(r.wrap_subject_key(&[0; 16], &key).unwrap(), r.wrap_subject_key(&[0; 16], &key).unwrap());
    }

    /// HMAC-SHA256 as RFC 4231 (test case 2) defines it, through the one-shot
    /// path and the digest key's precomputed state: the key tables hold
    /// digests and fingerprints computed by earlier versions.
    #[test]
    fn hmac_matches_rfc_4231() {
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(hex::encode(hmac(b"Jefe", b"what do ya want for nothing?")), expected);
        let mut key = [0u8; DIGEST_KEY_LEN];
        key[..4].copy_from_slice(b"Jefe");
        let dk = DigestKey::from_key(Zeroizing::new(key));
        assert_eq!(dk.digest(b"what do ya want for nothing?"), hmac(&key, b"what do ya want for nothing?"));
    }

    /// The keyed HMAC states (as secret as the keys) are wiped when dropped:
    /// an HMAC-SHA256 state is two SHA-256 cores (inner and outer) and a
    /// block buffer, each wiped on drop with the `zeroize` features of hmac
    /// and sha2; without them this does not compile.
    #[test]
    fn hmac_states_are_wiped_on_drop() {
        fn wiped<T: zeroize::ZeroizeOnDrop>() {}
        wiped::<<Sha256 as sha2::digest::block_api::EagerHash>::Core>();
        wiped::<Sha256>();
    }

    #[test]
    fn search_keys_unwrap_only_with_their_root_and_id() {
        let key = [5u8; SEARCH_KEY_LEN];
        let wrapped = root(1).wrap_search_key(7, &key).unwrap();
        assert!(!wrapped.windows(SEARCH_KEY_LEN).any(|w| w == key), "key bytes visible in wrapped form");
        assert_eq!(&root(1).unwrap_search_key(7, &wrapped).unwrap()[..], &key[..]);
        assert!(matches!(root(1).unwrap_search_key(8, &wrapped), Err(CoreError::UnwrapFailed)));
        assert!(matches!(root(2).unwrap_search_key(7, &wrapped), Err(CoreError::UnwrapFailed)));
        // A search key does not unwrap as a digest key of the same number (labels differ).
        assert!(matches!(root(1).unwrap_digest_key(7, &wrapped), Err(CoreError::UnwrapFailed)));
    }

    #[test]
    fn digest_key_round_trip_and_digests() {
        let r = root(9);
        let dk = DigestKey::generate().unwrap();
        let wrapped = r.wrap_digest_key(1, &dk).unwrap();
        let back = r.unwrap_digest_key(1, &wrapped).unwrap();
        assert_eq!(dk.digest(b"alice"), back.digest(b"alice"));
        assert_ne!(dk.digest(b"alice"), dk.digest(b"bob"));
        assert!(matches!(r.unwrap_digest_key(2, &wrapped), Err(CoreError::UnwrapFailed)));
        assert!(matches!(root(8).unwrap_digest_key(1, &wrapped), Err(CoreError::UnwrapFailed)));
        let other = DigestKey::generate().unwrap();
        assert_ne!(dk.digest(b"alice"), other.digest(b"alice"));
    }
}
