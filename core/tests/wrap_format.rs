//! The key wrap as docs/formats.md describes it, rebuilt from the raw
//! primitives (HMAC-SHA256, AES-256-CCM): a wrapped subject key and a wrapped
//! digest key unwrap with the documented key, nonce and associated data, so
//! another AES-CCM library can read the key tables with the root key.

use aes::Aes256;
use ccm::aead::generic_array::GenericArray;
use ccm::aead::{AeadInPlace, KeyInit};
use ccm::consts::{U13, U16};
use hmac::{Hmac, Mac};
use pseudo_core::root_key::{DigestKey, RootKey};
use pseudo_core::subject_key::{SubjectKey, KEY_LEN};
use sha2::Sha256;

const ROOT: [u8; 32] = [0x5a; 32];

/// Unwraps `0x01 || nonce (13) || ciphertext || tag (16)` with
/// `HMAC-SHA256(root, "pseudo_ext/v1/wrap")` and the associated data `aad`.
fn unwrap_by_hand(wrapped: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&ROOT).unwrap();
    mac.update(b"pseudo_ext/v1/wrap");
    let wrap_key = mac.finalize().into_bytes();
    let cipher = ccm::Ccm::<Aes256, U16, U13>::new(GenericArray::from_slice(&wrap_key));
    assert_eq!(wrapped[0], 0x01, "version byte");
    let (nonce, rest) = wrapped[1..].split_at(13);
    let (body, tag) = rest.split_at(rest.len() - 16);
    let mut out = body.to_vec();
    cipher
        .decrypt_in_place_detached(GenericArray::from_slice(nonce), aad, &mut out, GenericArray::from_slice(tag))
        .expect("the documented associated data authenticates");
    out
}

#[test]
fn a_wrapped_subject_key_unwraps_with_the_documented_parameters() {
    let root = RootKey::from_bytes(&ROOT);
    let key = SubjectKey::generate_bytes().unwrap();
    let id = [0x11u8; 16];
    let wrapped = root.wrap_subject_key(&id, &key).unwrap();
    assert_eq!((wrapped.len(), KEY_LEN), (46, 16), "docs/formats.md: 46 bytes");
    let aad = [b"pseudo_ext/v1/subject-key/".as_slice(), &id].concat();
    assert_eq!(unwrap_by_hand(&wrapped, &aad), key[..].to_vec());
}

#[test]
fn a_wrapped_digest_key_unwraps_with_the_documented_parameters() {
    let root = RootKey::from_bytes(&ROOT);
    let digest = DigestKey::generate().unwrap();
    let epoch: u32 = 7;
    let wrapped = root.wrap_digest_key(epoch, &digest).unwrap();
    assert_eq!(wrapped.len(), 62, "docs/formats.md: 62 bytes");
    let aad = [b"pseudo_ext/v1/digest-key/".as_slice(), &epoch.to_be_bytes()].concat();
    let bytes = root.unwrap_digest_key_bytes(epoch, &wrapped).unwrap();
    assert_eq!(unwrap_by_hand(&wrapped, &aad), bytes[..].to_vec());
}
