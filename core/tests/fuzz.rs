//! Property-based fuzzing (proptest) of everything that parses untrusted
//! bytes: the hex parser, the envelope decoder, authenticated decryption, key
//! unwrapping and the root key file parser. Each must never panic, must accept
//! exactly what its documented rules accept, and must never authenticate
//! altered data.
//!
//! Cases per property: `PSEUDO_FUZZ_CASES` (default 1,000). docs/testing.md
//! records a 10-million-execution run; `scripts/test.sh` runs a short one.

use proptest::prelude::*;
use pseudo_core::envelope::{self, Envelope, MAX_LEN, MIN_LEN, VERSION_1};
use pseudo_core::root_key::{RootKey, ROOT_KEY_LEN};
use pseudo_core::subject_key::SubjectKey;
use pseudo_core::{key_file, CoreError};

fn cases() -> u32 {
    std::env::var("PSEUDO_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000)
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() }
}

const KEY: [u8; 16] = [0x5a; 16];
const KEY_ID: [u8; 16] = [0x11; 16];

/// Bytes near the interesting lengths (empty, around the minimum, ordinary),
/// and sometimes around the maximum.
fn raw_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        30 => proptest::collection::vec(any::<u8>(), 0..=120),
        1 => proptest::collection::vec(any::<u8>(), MAX_LEN - 1..=MAX_LEN + 1),
    ]
}

/// A valid envelope of a random plaintext and context, then mutated: byte
/// flips, truncation, extension, or left as it is.
fn mutated_envelope() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, Vec<u8>, bool)> {
    (
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec(any::<u8>(), 0..32),
        0u8..4,
        any::<prop::sample::Index>(),
        any::<u8>(),
    )
        .prop_map(|(plaintext, context, how, at, byte)| {
            let key = SubjectKey::new(&KEY);
            let mut env = key.seal(&KEY_ID, &context, &plaintext).unwrap();
            let original = env.clone();
            match how {
                0 => {
                    let i = at.index(env.len());
                    env[i] ^= byte | 1; // always a change
                }
                1 => env.truncate(at.index(env.len())),
                2 => env.push(byte),
                _ => {}
            }
            let changed = env != original;
            (env, plaintext, context, changed)
        })
}

/// Text inputs: hex of envelopes (either case, mutated), and arbitrary strings.
fn hex_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => mutated_envelope().prop_flat_map(|(env, ..)| {
            let hex = hex_of(&env);
            (Just(hex), any::<bool>(), any::<prop::sample::Index>(), prop::sample::select(vec![b' ', b'g', b'x', b'\\', 0u8, b'A', b'0']), 0u8..3)
                .prop_map(|(mut hex, upper, at, c, how)| {
                    if upper {
                        hex.make_ascii_uppercase();
                    }
                    if !hex.is_empty() {
                        let i = at.index(hex.len());
                        match how {
                            0 => hex[i] = c,
                            1 => hex.insert(i, c),
                            _ => {}
                        }
                    }
                    hex
                })
        }),
        2 => proptest::collection::vec(prop::sample::select(b"0123456789abcdefABCDEF".to_vec()), 0..200),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

fn hex_of(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; bytes.len() * 2];
    envelope::to_hex(bytes, &mut out);
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn envelope_decoder_accepts_exactly_the_documented_shapes(bytes in raw_bytes()) {
        let ok = Envelope::parse(&bytes).is_ok();
        let valid = (MIN_LEN..=MAX_LEN).contains(&bytes.len()) && bytes[0] == VERSION_1;
        prop_assert_eq!(ok, valid);
        if let Ok(env) = Envelope::parse(&bytes) {
            let parts = [env.associated_data(), env.nonce(), env.ciphertext(), env.tag()].concat();
            prop_assert_eq!(parts, bytes.clone());
            prop_assert_eq!(env.plaintext_len() + MIN_LEN, bytes.len());
        }
    }

    #[test]
    fn hex_parser_accepts_exactly_hex_of_valid_envelopes(text in hex_text()) {
        match envelope::from_hex(&text) {
            Ok(bytes) => {
                prop_assert!(Envelope::parse(&bytes).is_ok());
                prop_assert_eq!(hex_of(&bytes), text.to_ascii_lowercase());
            }
            Err(e) => {
                prop_assert!(matches!(e, CoreError::MalformedText(_) | CoreError::UnsupportedVersion(_)));
                let is_hex = text.len() % 2 == 0 && text.iter().all(u8::is_ascii_hexdigit);
                if is_hex {
                    let bytes: Vec<u8> = (0..text.len() / 2)
                        .map(|i| u8::from_str_radix(std::str::from_utf8(&text[2 * i..2 * i + 2]).unwrap(), 16).unwrap())
                        .collect();
                    prop_assert!(Envelope::parse(&bytes).is_err(), "valid envelope hex refused");
                }
            }
        }
    }

    #[test]
    fn decryption_never_authenticates_altered_data((env, plaintext, context, changed) in mutated_envelope(),
                                                   other_context in proptest::collection::vec(any::<u8>(), 0..32)) {
        let key = SubjectKey::new(&KEY);
        let opened = Envelope::parse(&env).ok().map(|e| key.open(&e, &context));
        match opened {
            Some(Ok(back)) => {
                prop_assert!(!changed, "altered envelope authenticated");
                prop_assert_eq!(back, plaintext);
            }
            Some(Err(e)) => {
                prop_assert!(changed);
                prop_assert_eq!(e, CoreError::DecryptionFailed);
            }
            None => prop_assert!(changed),
        }
        if other_context != context {
            if let Ok(e) = Envelope::parse(&env) {
                prop_assert!(key.open(&e, &other_context).is_err(), "wrong context authenticated");
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_decrypt_or_unwrap(bytes in raw_bytes(), id in any::<[u8; 16]>()) {
        if let Ok(env) = Envelope::parse(&bytes) {
            prop_assert!(SubjectKey::new(&KEY).open(&env, b"").is_err());
        }
        let root = RootKey::from_bytes(&[7u8; ROOT_KEY_LEN]);
        prop_assert!(root.unwrap_subject_key(&id, &bytes).is_err());
        prop_assert!(root.unwrap_digest_key(1, &bytes).is_err());
    }

    #[test]
    fn root_key_file_parser_never_panics_and_accepts_only_key_lines(
        lines in proptest::collection::vec(
            prop_oneof![
                3 => proptest::collection::vec(prop::sample::select(b"0123456789abcdefABCDEF".to_vec()), 64..=64),
                1 => proptest::collection::vec(prop::sample::select(b"0123456789abcdef #\t\r".to_vec()), 0..70),
                1 => proptest::collection::vec(any::<u8>(), 0..70),
            ],
            0..5,
        )
    ) {
        let contents = lines.join(&b'\n');
        let keys = contents
            .split(|&b| b == b'\n')
            .map(|l| l.trim_ascii())
            .filter(|l| !l.is_empty() && !l.starts_with(b"#"))
            .collect::<Vec<_>>();
        let all_keys = !keys.is_empty() && keys.iter().all(|l| l.len() == 64 && l.iter().all(u8::is_ascii_hexdigit));
        match key_file::parse(&contents) {
            Ok(parsed) => {
                prop_assert!(all_keys);
                prop_assert_eq!(parsed.len(), keys.len());
            }
            Err(_) => prop_assert!(!all_keys),
        }
    }
}
