//! Project Wycheproof AES-CCM vectors.
//!
//! * The one group with our exact parameters (128-bit key, 13-byte nonce,
//!   128-bit tag) runs through the primitive, and so do copies of its vectors
//!   with the tag, nonce, associated data or ciphertext changed: those must be
//!   refused.
//! * Every other nonce or tag size must be refused by the envelope, since a
//!   `pseudo_text` envelope can only carry 13-byte nonces and 16-byte tags. To
//!   make that refusal mean something, each such value is a genuine CCM
//!   ciphertext at its own sizes, sealed with the envelope's header as
//!   associated data (the construction is first checked against the vector
//!   itself); the same construction at our sizes must be accepted (the positive
//!   control), and each refusal must come from the reason the layout predicts:
//!   the length check, or the tag.

use aes::Aes128;
use ccm::aead::generic_array::{ArrayLength, GenericArray};
use ccm::aead::{AeadInPlace, KeyInit};
use ccm::consts::{U10, U11, U12, U13, U14, U16, U4, U6, U7, U8, U9};
use ccm::{Ccm, NonceSize, TagSize};
use pseudo_core::envelope::{self, Envelope};
use pseudo_core::subject_key::SubjectKey;
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    #[serde(rename = "testGroups")]
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    #[serde(rename = "ivSize")]
    iv_size: usize,
    #[serde(rename = "keySize")]
    key_size: usize,
    #[serde(rename = "tagSize")]
    tag_size: usize,
    tests: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    #[serde(rename = "tcId")]
    id: u32,
    key: String,
    iv: String,
    aad: String,
    msg: String,
    ct: String,
    tag: String,
    result: String,
}

/// One changed input to ccm_decrypt: what changed, nonce, associated data, sealed bytes.
type Changed = (&'static str, [u8; 13], Vec<u8>, Vec<u8>);

fn load() -> File {
    let path = format!("{}/tests/vectors/aes_ccm_test.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// A key id for the envelopes built here; it is part of their associated data.
const KEY_ID: [u8; 16] = *b"wycheproof-key-1";

/// AES-128-CCM at any nonce and tag size CCM defines, independent of the
/// product's fixed-size cipher: `ct || tag`, or `None` where CCM has no such size.
enum Ccm128<'a> {
    Seal { msg: &'a [u8] },
    Open { sealed: &'a [u8] },
}

fn run<M, N>(op: &Ccm128<'_>, key: &[u8], nonce: &[u8], aad: &[u8]) -> Result<Vec<u8>, ()>
where
    M: ArrayLength<u8> + TagSize,
    N: ArrayLength<u8> + NonceSize,
{
    let cipher = Ccm::<Aes128, M, N>::new_from_slice(key).unwrap();
    let nonce = GenericArray::from_slice(nonce);
    match op {
        Ccm128::Seal { msg } => {
            let mut buf = msg.to_vec();
            let tag = cipher.encrypt_in_place_detached(nonce, aad, &mut buf).map_err(|_| ())?;
            buf.extend_from_slice(&tag);
            Ok(buf)
        }
        Ccm128::Open { sealed } => {
            let split = sealed.len().checked_sub(M::USIZE).ok_or(())?;
            let mut buf = sealed[..split].to_vec();
            cipher
                .decrypt_in_place_detached(nonce, aad, &mut buf, GenericArray::from_slice(&sealed[split..]))
                .map_err(|_| ())?;
            Ok(buf)
        }
    }
}

fn by_tag<N: ArrayLength<u8> + NonceSize>(
    tag_len: usize,
    op: &Ccm128<'_>,
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
) -> Option<Result<Vec<u8>, ()>> {
    Some(match tag_len {
        4 => run::<U4, N>(op, key, nonce, aad),
        6 => run::<U6, N>(op, key, nonce, aad),
        8 => run::<U8, N>(op, key, nonce, aad),
        10 => run::<U10, N>(op, key, nonce, aad),
        12 => run::<U12, N>(op, key, nonce, aad),
        14 => run::<U14, N>(op, key, nonce, aad),
        16 => run::<U16, N>(op, key, nonce, aad),
        _ => return None,
    })
}

fn ccm(tag_len: usize, op: Ccm128<'_>, key: &[u8], nonce: &[u8], aad: &[u8]) -> Option<Result<Vec<u8>, ()>> {
    match nonce.len() {
        7 => by_tag::<U7>(tag_len, &op, key, nonce, aad),
        8 => by_tag::<U8>(tag_len, &op, key, nonce, aad),
        9 => by_tag::<U9>(tag_len, &op, key, nonce, aad),
        10 => by_tag::<U10>(tag_len, &op, key, nonce, aad),
        11 => by_tag::<U11>(tag_len, &op, key, nonce, aad),
        12 => by_tag::<U12>(tag_len, &op, key, nonce, aad),
        13 => by_tag::<U13>(tag_len, &op, key, nonce, aad),
        _ => None,
    }
}

/// `version || key_id || nonce || CCM(msg, aad = version || key_id)` at the
/// given tag size: an envelope laid out the way this nonce and tag would be.
fn envelope_at_sizes(key: &[u8], nonce: &[u8], tag_len: usize, msg: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = vec![envelope::VERSION_1];
    bytes.extend_from_slice(&KEY_ID);
    let sealed = ccm(tag_len, Ccm128::Seal { msg }, key, nonce, &bytes.clone())?.unwrap();
    bytes.extend_from_slice(nonce);
    bytes.extend(sealed);
    Some(bytes)
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Accepted(Vec<u8>),
    RefusedLength,
    RefusedTag,
}

fn open_as_envelope(key: &[u8; 16], bytes: &[u8]) -> Outcome {
    match Envelope::parse(bytes) {
        Err(_) => Outcome::RefusedLength,
        Ok(env) => match SubjectKey::new(key).open(&env, b"") {
            Ok(plain) => Outcome::Accepted(plain),
            Err(_) => Outcome::RefusedTag,
        },
    }
}

fn flip(bytes: &[u8], i: usize, mask: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[i] ^= mask;
    out
}

#[test]
fn matching_group_encrypts_decrypts_and_refuses_every_changed_copy() {
    let file = load();
    let groups: Vec<_> =
        file.groups.iter().filter(|g| g.iv_size == 104 && g.key_size == 128 && g.tag_size == 128).collect();
    assert_eq!(groups.len(), 1, "one group with our parameters");
    let tests = &groups[0].tests;
    assert_eq!(tests.len(), 6, "the group holds 6 vectors");
    assert!(tests.iter().all(|t| t.result == "valid"), "all 6 are valid: the changed copies below are the negatives");
    let mut refused = 0;
    let mut expected_refusals = 0;
    for t in tests {
        let key: [u8; 16] = unhex(&t.key).try_into().unwrap();
        let nonce: [u8; 13] = unhex(&t.iv).try_into().unwrap();
        let cipher = SubjectKey::new(&key);
        let aad = unhex(&t.aad);
        let msg = unhex(&t.msg);
        let sealed = [unhex(&t.ct), unhex(&t.tag)].concat();
        assert_eq!(cipher.ccm_encrypt(&nonce, &aad, &msg).unwrap(), sealed, "tc {}", t.id);
        assert_eq!(cipher.ccm_decrypt(&nonce, &aad, &sealed).unwrap(), msg, "tc {}", t.id);

        let last = sealed.len() - 1;
        let mut changed: Vec<Changed> = vec![
            ("tag, last bit", nonce, aad.clone(), flip(&sealed, last, 0x01)),
            ("tag, first bit", nonce, aad.clone(), flip(&sealed, sealed.len() - 16, 0x80)),
            ("nonce, first byte", flip(&nonce, 0, 0x01).try_into().unwrap(), aad.clone(), sealed.clone()),
            ("nonce, last byte", flip(&nonce, 12, 0x80).try_into().unwrap(), aad.clone(), sealed.clone()),
            ("aad, one byte longer", nonce, [aad.as_slice(), &[0]].concat(), sealed.clone()),
        ];
        if !aad.is_empty() {
            changed.push(("aad, one bit", nonce, flip(&aad, aad.len() / 2, 0x04), sealed.clone()));
        }
        if !msg.is_empty() {
            changed.push(("ciphertext, one bit", nonce, aad.clone(), flip(&sealed, 0, 0x10)));
        }
        for (what, nonce, aad, sealed) in changed {
            expected_refusals += 1;
            assert!(
                cipher.ccm_decrypt(&nonce, &aad, &sealed).is_err(),
                "tc {} with its {what} changed was accepted",
                t.id
            );
            refused += 1;
        }
    }
    assert_eq!(refused, expected_refusals);
    assert!(refused >= 6 * 5, "every vector has at least 5 changed copies");
    println!("Wycheproof: 6 matching vectors checked, {refused} changed copies refused");
}

/// A value laid out with another nonce or tag size is not an envelope we accept:
/// its length is refused up front or, where the length fits, the tag check
/// refuses it (the parser reads 13 nonce bytes and a 16-byte tag from it).
#[test]
fn other_nonce_and_tag_sizes_are_refused() {
    let file = load();

    // Positive control: the same construction at our sizes is an envelope we open.
    let ours = file.groups.iter().find(|g| g.iv_size == 104 && g.key_size == 128 && g.tag_size == 128).unwrap();
    for t in &ours.tests {
        let key: [u8; 16] = unhex(&t.key).try_into().unwrap();
        let msg = unhex(&t.msg);
        let bytes = envelope_at_sizes(&key, &unhex(&t.iv), 16, &msg).unwrap();
        assert_eq!(open_as_envelope(&key, &bytes), Outcome::Accepted(msg), "control tc {} not accepted", t.id);
    }

    let (mut by_length, mut by_tag, mut undefined_sizes) = (0, 0, 0);
    for g in file.groups.iter().filter(|g| g.key_size == 128 && (g.iv_size != 104 || g.tag_size != 128)) {
        let tag_len = g.tag_size / 8;
        for t in &g.tests {
            let key: [u8; 16] = unhex(&t.key).try_into().unwrap();
            let (nonce, aad, msg) = (unhex(&t.iv), unhex(&t.aad), unhex(&t.msg));
            let sealed = [unhex(&t.ct), unhex(&t.tag)].concat();
            let Some(reproduced) = ccm(tag_len, Ccm128::Open { sealed: &sealed }, &key, &nonce, &aad) else {
                // A size CCM does not define (Wycheproof's InvalidNonceSize and
                // InvalidTagSize): nothing can be sealed at it. Its bytes laid
                // out as an envelope are refused all the same.
                assert_eq!(t.result, "invalid", "tc {}", t.id);
                let mut bytes = vec![envelope::VERSION_1];
                bytes.extend_from_slice(&KEY_ID);
                bytes.extend([nonce.as_slice(), &sealed].concat());
                assert!(!matches!(open_as_envelope(&key, &bytes), Outcome::Accepted(_)), "tc {} accepted", t.id);
                undefined_sizes += 1;
                continue;
            };
            // The construction reproduces the vector: it is real CCM at these sizes.
            match t.result.as_str() {
                "valid" => assert_eq!(reproduced, Ok(msg.clone()), "tc {}: vector not reproduced", t.id),
                _ => {
                    assert!(reproduced.is_err(), "tc {}: invalid vector opened", t.id);
                    continue; // a forged vector: there is no genuine value to lay out
                }
            }
            let bytes = envelope_at_sizes(&key, &nonce, tag_len, &msg).unwrap();
            let fits = (envelope::MIN_LEN..=envelope::MAX_LEN).contains(&bytes.len());
            match open_as_envelope(&key, &bytes) {
                Outcome::RefusedLength if !fits => by_length += 1,
                Outcome::RefusedTag if fits => by_tag += 1,
                other => panic!(
                    "tc {} (nonce {} bytes, tag {tag_len}, {} bytes): {other:?}, expected a refusal by {}",
                    t.id,
                    nonce.len(),
                    bytes.len(),
                    if fits { "tag" } else { "length" }
                ),
            }
        }
    }
    assert!(by_length > 0 && by_tag > 0, "both refusals exercised: {by_length} by length, {by_tag} by tag");
    assert!(by_length + by_tag > 100, "only {} genuine other-size values", by_length + by_tag);
    println!(
        "Wycheproof: {} other-size values refused ({by_length} by length, {by_tag} by tag), \
         {undefined_sizes} vectors of sizes CCM does not define refused; 6 controls accepted",
        by_length + by_tag
    );
}
