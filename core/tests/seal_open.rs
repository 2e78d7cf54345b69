//! Envelope-level properties of sealing and opening.

use pseudo_core::envelope::{self, Envelope, MAX_PLAINTEXT_LEN, MIN_LEN};
use pseudo_core::subject_key::SubjectKey;
use pseudo_core::CoreError;

const KEY_ID: [u8; 16] = [0x11; 16];

fn key(byte: u8) -> SubjectKey {
    SubjectKey::new(&[byte; 16])
}

#[test]
fn round_trips_including_empty_and_utf8() {
    for pt in ["", "a", "Zoë Müller, 12 rue de la Paix", &"x".repeat(1000)] {
        let sealed = key(1).seal(&KEY_ID, b"", pt.as_bytes()).unwrap();
        assert_eq!(sealed.len(), MIN_LEN + pt.len());
        let env = Envelope::parse(&sealed).unwrap();
        assert_eq!(env.key_id(), KEY_ID);
        assert_eq!(key(1).open(&env, b"").unwrap(), pt.as_bytes());
    }
}

#[test]
fn every_seal_uses_a_fresh_nonce() {
    let a = key(1).seal(&KEY_ID, b"", b"same").unwrap();
    let b = key(1).seal(&KEY_ID, b"", b"same").unwrap();
    assert_ne!(Envelope::parse(&a).unwrap().nonce(), Envelope::parse(&b).unwrap().nonce());
    assert_ne!(a, b);
}

#[test]
fn known_answer_matches_raw_ccm_with_header_as_aad() {
    // The documented layout, rebuilt from the raw primitive: another AES-CCM
    // library given (key, nonce, aad = first 17 bytes) produces the same bytes.
    let nonce = [0x22u8; 13];
    let mut out = vec![0u8; envelope::sealed_len(5).unwrap()];
    key(3).seal_with_nonce_into(&KEY_ID, &nonce, b"", b"hello", &mut out).unwrap();
    let mut header = vec![envelope::VERSION_1];
    header.extend_from_slice(&KEY_ID);
    let raw = key(3).ccm_encrypt(&nonce, &header, b"hello").unwrap();
    assert_eq!(out, [header.as_slice(), &nonce, &raw].concat());
}

#[test]
fn tamper_at_every_byte_position_is_refused() {
    let sealed = key(1).seal(&KEY_ID, b"", b"account 12345").unwrap();
    for i in 0..sealed.len() {
        for flip in [0x01u8, 0x80] {
            let mut bad = sealed.clone();
            bad[i] ^= flip;
            let refused = match Envelope::parse(&bad) {
                Err(_) => i == 0, // only the version byte is caught structurally
                Ok(env) => key(1).open(&env, b"") == Err(CoreError::DecryptionFailed),
            };
            assert!(refused, "tamper at byte {i} (xor {flip:#x}) not refused");
        }
    }
}

#[test]
fn truncation_and_extension_are_refused() {
    let sealed = key(1).seal(&KEY_ID, b"", b"0123456789").unwrap();
    for len in 0..sealed.len() {
        let cut = &sealed[..len];
        let refused = Envelope::parse(cut).map(|env| key(1).open(&env, b"").is_err()).unwrap_or(true);
        assert!(refused, "truncation to {len} accepted");
    }
    let mut longer = sealed.clone();
    longer.push(0);
    assert!(key(1).open(&Envelope::parse(&longer).unwrap(), b"").is_err());
}

#[test]
fn wrong_key_is_refused_and_output_zeroed() {
    let sealed = key(1).seal(&KEY_ID, b"", b"secret").unwrap();
    let env = Envelope::parse(&sealed).unwrap();
    let mut out = vec![0xffu8; 6];
    assert_eq!(key(2).open_into(&env, b"", &mut out), Err(CoreError::DecryptionFailed));
    assert_eq!(out, vec![0u8; 6], "unauthenticated plaintext left in the buffer");
}

#[test]
fn plaintext_length_boundary_of_ccm_with_13_byte_nonce() {
    let max = vec![b'm'; MAX_PLAINTEXT_LEN];
    let sealed = key(1).seal(&KEY_ID, b"", &max).unwrap();
    assert_eq!(sealed.len(), envelope::MAX_LEN);
    assert_eq!(key(1).open(&Envelope::parse(&sealed).unwrap(), b"").unwrap(), max);
    let over = vec![b'm'; MAX_PLAINTEXT_LEN + 1];
    assert_eq!(key(1).seal(&KEY_ID, b"", &over).err(), Some(CoreError::PlaintextTooLong(MAX_PLAINTEXT_LEN + 1)));
}

#[test]
fn context_is_bound_as_associated_data_after_the_header() {
    let nonce = [0x33u8; 13];
    let mut out = vec![0u8; envelope::sealed_len(4).unwrap()];
    key(4).seal_with_nonce_into(&KEY_ID, &nonce, b"patient.name", b"Zoe!", &mut out).unwrap();
    // Documented rule: aad = version || key_id || context bytes.
    let mut aad = vec![envelope::VERSION_1];
    aad.extend_from_slice(&KEY_ID);
    aad.extend_from_slice(b"patient.name");
    assert_eq!(&out[30..], key(4).ccm_encrypt(&nonce, &aad, b"Zoe!").unwrap().as_slice());
    let env = Envelope::parse(&out).unwrap();
    assert_eq!(key(4).open(&env, b"patient.name").unwrap(), b"Zoe!");
    for wrong in [&b""[..], b"patient.phone", b"patient.nam", b"patient.name\0", b"PATIENT.NAME"] {
        assert_eq!(key(4).open(&env, wrong), Err(CoreError::DecryptionFailed), "{wrong:?}");
    }
}

#[test]
fn value_without_context_does_not_open_with_one() {
    let sealed = key(1).seal(&KEY_ID, b"", b"x").unwrap();
    let env = Envelope::parse(&sealed).unwrap();
    assert_eq!(key(1).open(&env, b"t.c"), Err(CoreError::DecryptionFailed));
    assert_eq!(key(1).open(&env, b"").unwrap(), b"x");
}

#[test]
fn long_contexts_round_trip() {
    // Past the 256-byte stack buffer the associated data is joined on the heap.
    for len in [238, 239, 240, 1000, 70_000] {
        let context = vec![b'c'; len];
        let sealed = key(5).seal(&KEY_ID, &context, b"v").unwrap();
        let env = Envelope::parse(&sealed).unwrap();
        assert_eq!(key(5).open(&env, &context).unwrap(), b"v", "context of {len} bytes");
        assert!(key(5).open(&env, &context[1..]).is_err());
    }
}
