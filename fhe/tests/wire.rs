//! The wire format refuses what it must, with the error the extension maps
//! to a SQLSTATE: wrong kind, another client key, wrong width, truncation,
//! trailing bytes, foreign parameters, garbage.

use pseudo_fhe::client::ClientKeys;
use pseudo_fhe::wire::{self, Kind};
use pseudo_fhe::FheError;
use tfhe::integer::ClientKey;
use tfhe::shortint::parameters::PARAM_MESSAGE_2_CARRY_2_KS_PBS;

#[test]
fn blobs_are_checked_before_use() {
    let keys = ClientKeys::generate().unwrap();
    let other = ClientKeys::generate().unwrap();
    let id = *keys.key_id();
    let ct = keys.encrypt(8, 200).unwrap();

    // A good ciphertext decodes; its width and client key are checked.
    assert!(wire::decode_radix(&ct, &id, "key", 8).is_ok());
    assert_eq!(
        wire::decode_radix(&ct, &id, "key", 16).err(),
        Some(FheError::WrongWidth { what: "key", expected: 16, got: 8 })
    );
    assert_eq!(wire::decode_radix(&other.encrypt(8, 1).unwrap(), &id, "key", 8).err(), Some(FheError::OtherClientKey));

    // Truncated at every length of the header and at points in the payload.
    for len in (0..wire::HEADER_LEN + 64).chain([ct.len() / 2, ct.len() - 1]) {
        assert!(
            matches!(wire::decode_radix(&ct[..len], &id, "key", 8), Err(FheError::Malformed(_))),
            "truncated to {len} bytes"
        );
    }
    let mut trailing = ct.clone();
    trailing.push(0);
    assert!(matches!(wire::decode_radix(&trailing, &id, "key", 8), Err(FheError::Malformed(_))), "trailing byte");
    let mut version = ct.clone();
    version[3] = 2;
    assert!(matches!(wire::decode_radix(&version, &id, "key", 8), Err(FheError::Malformed(_))), "format version");
    assert!(matches!(wire::decode_radix(b"hello world, not a ciphertext", &id, "key", 8), Err(FheError::Malformed(_))));

    // A width the header claims but the payload does not have.
    let mut lying = ct.clone();
    lying[21] = 10;
    assert!(
        matches!(wire::decode_radix(&lying, &id, "key", 10), Err(FheError::Malformed(_))),
        "5 blocks claimed, 4 sent"
    );

    // Kinds are not interchangeable.
    let answer = wire::encode_set_answer(&id, &keys.tfhe_key().encrypt_bool(true));
    assert_eq!(
        wire::decode_radix(&answer, &id, "key", 8).err(),
        Some(FheError::WrongKind { expected: Kind::Ciphertext.name(), got: Kind::SetAnswer.name() })
    );
    assert!(keys.decrypt_set(&answer).unwrap());
    assert_eq!(other.decrypt_set(&answer).err(), Some(FheError::OtherClientKey));

    // A ciphertext under another parameter set, correctly framed, is refused.
    let foreign = ClientKey::new(PARAM_MESSAGE_2_CARRY_2_KS_PBS);
    let framed = wire::encode_radix(&id, 8, &foreign.encrypt_radix(5u64, 4));
    assert!(matches!(wire::decode_radix(&framed, &id, "key", 8), Err(FheError::Malformed(_))), "foreign parameters");

    // Values must fit their width; widths must be supported.
    assert!(matches!(keys.encrypt(8, 256), Err(FheError::Unsupported(_))));
    assert!(matches!(keys.encrypt(7, 1), Err(FheError::Unsupported(_))));
    assert!(keys.encrypt(64, u64::MAX).is_ok());

    // The client key file round-trips; garbage does not load.
    let reloaded = ClientKeys::from_bytes(&keys.to_bytes()).unwrap();
    assert_eq!(reloaded.key_id(), keys.key_id());
    assert!(ClientKeys::from_bytes(b"PXFCKEY1 but nothing after it").is_err());
}

/// A SET's key and value (boxed GLWE ciphertexts) get the same checks:
/// kind, client key, width, truncation, trailing bytes, and the GLWE shape
/// of the parameter set.
#[test]
fn set_operands_are_checked_before_use() {
    use tfhe::core_crypto::prelude::{CiphertextModulus, GlweCiphertext, GlweSize, PolynomialSize};
    let keys = ClientKeys::generate().unwrap();
    let other = ClientKeys::generate().unwrap();
    let id = *keys.key_id();
    let key = keys.encrypt_set_key(8, 200).unwrap();
    let value = keys.encrypt_set_value(16, 7).unwrap();

    assert_eq!(wire::decode_boxed(&key, Kind::SetKey, &id, "key", 8).unwrap().chunks, 2);
    assert_eq!(wire::decode_boxed(&value, Kind::SetValue, &id, "value", 16).unwrap().chunks, 4);
    assert_eq!(
        wire::decode_boxed(&value, Kind::SetValue, &id, "value", 8).err(),
        Some(FheError::WrongWidth { what: "value", expected: 8, got: 16 })
    );
    let foreign = other.encrypt_set_key(8, 200).unwrap();
    assert_eq!(wire::decode_boxed(&foreign, Kind::SetKey, &id, "key", 8).err(), Some(FheError::OtherClientKey));
    // A key is not a value, and a GET query is not a key to SET.
    assert_eq!(
        wire::decode_boxed(&key, Kind::SetValue, &id, "value", 8).err(),
        Some(FheError::WrongKind { expected: Kind::SetValue.name(), got: Kind::SetKey.name() })
    );
    assert_eq!(
        wire::decode_boxed(&keys.encrypt(8, 200).unwrap(), Kind::SetKey, &id, "key", 8).err(),
        Some(FheError::WrongKind { expected: Kind::SetKey.name(), got: Kind::Ciphertext.name() })
    );

    for len in (0..wire::HEADER_LEN + 64).chain([key.len() / 2, key.len() - 1]) {
        assert!(
            matches!(wire::decode_boxed(&key[..len], Kind::SetKey, &id, "key", 8), Err(FheError::Malformed(_))),
            "truncated to {len} bytes"
        );
    }
    let mut trailing = key.clone();
    trailing.push(0);
    assert!(matches!(wire::decode_boxed(&trailing, Kind::SetKey, &id, "key", 8), Err(FheError::Malformed(_))));

    // Well-framed GLWE ciphertexts of other shapes.
    for (size, n) in [(2usize, 1024usize), (3, 2048), (2, 4096)] {
        let glwe = GlweCiphertext::new(0u64, GlweSize(size), PolynomialSize(n), CiphertextModulus::new_native());
        let framed = wire::encode_boxed(Kind::SetKey, &id, 8, &glwe);
        assert!(
            matches!(wire::decode_boxed(&framed, Kind::SetKey, &id, "key", 8), Err(FheError::Malformed(_))),
            "GLWE size {size}, polynomial {n}"
        );
    }

    assert!(matches!(keys.encrypt_set_key(8, 256), Err(FheError::Unsupported(_))));
    assert!(matches!(keys.encrypt_set_value(66, 1), Err(FheError::Unsupported(_))));
    assert!(keys.encrypt_set_value(64, u64::MAX).is_ok());
}

#[test]
fn server_keys_are_checked() {
    let keys = ClientKeys::generate().unwrap();
    let blob = keys.server_key_blob();
    let (id, _) = wire::decode_server_key(&blob).unwrap();
    assert_eq!(&id, keys.key_id());
    for len in [0, 10, wire::HEADER_LEN, blob.len() / 2, blob.len() - 1] {
        assert!(matches!(wire::decode_server_key(&blob[..len]), Err(FheError::Malformed(_))), "truncated to {len}");
    }
    assert!(matches!(wire::decode_server_key(&keys.encrypt(8, 1).unwrap()), Err(FheError::WrongKind { .. })));
    // A server key of the default parameter set, framed as ours.
    let foreign = ClientKey::new(PARAM_MESSAGE_2_CARRY_2_KS_PBS);
    let framed =
        wire::encode_server_key(&id, &tfhe::integer::CompressedServerKey::new_radix_compressed_server_key(&foreign));
    assert!(matches!(wire::decode_server_key(&framed), Err(FheError::Malformed(_))), "foreign parameters");
}

#[test]
fn stored_keys_noisier_than_the_store_keeps_them_are_refused() {
    use pseudo_fhe::store::{age_key, KEY_CLEAN_PERIOD, KEY_NOISE_MAX};
    let keys = ClientKeys::generate().unwrap();
    let sks = tfhe::integer::ServerKey::new_radix_server_key(keys.tfhe_key());
    let max = AsRef::<tfhe::shortint::ServerKey>::as_ref(&sks).max_noise_level;
    let mut key = pseudo_fhe::chunks::pack(&sks, &keys.tfhe_key().encrypt_radix(77u64, 4));
    // A fresh key and one aged to the last SET before its cleaning are fine.
    assert!(wire::read_slot_key(&wire::slot_key(&key), 8).is_ok());
    age_key(&mut key, KEY_CLEAN_PERIOD - 1, max);
    assert_eq!(key[0].noise_level().get(), KEY_NOISE_MAX);
    assert!(wire::read_slot_key(&wire::slot_key(&key), 8).is_ok());
    // One more SET without cleaning is what a store never writes.
    age_key(&mut key, 1, max);
    assert!(matches!(wire::read_slot_key(&wire::slot_key(&key), 8), Err(FheError::Malformed(_))));
}

#[test]
fn get_answers_are_checked_before_decryption() {
    use pseudo_fhe::encoding::{FLAG, UNIT};
    use pseudo_fhe::Found;
    let keys = ClientKeys::generate().unwrap();
    let id = *keys.key_id();
    let short: &tfhe::shortint::ClientKey = keys.tfhe_key().as_ref();
    // 0x5c found: chunks 12 and 5, the found flag 16 units.
    // An encryption of 0 moved by a torus constant: any value, as in an answer.
    let at = |torus: u64| {
        let mut ct = short.encrypt(0);
        pseudo_fhe::encoding::add_constant(&mut ct, torus);
        ct
    };
    let answer = Found { chunks: vec![at(12 * UNIT), at(5 * UNIT)], found: at(FLAG) };
    assert_eq!(keys.decrypt_get(&wire::encode_get_answer(&id, 8, &answer)).unwrap(), Some(0x5c));
    assert_eq!(keys.decrypt_answer(&answer).unwrap(), (true, 0x5c));
    // The width in the header must match the number of chunks.
    assert!(matches!(keys.decrypt_get(&wire::encode_get_answer(&id, 16, &answer)), Err(FheError::Malformed(_))));
    // A chunk that rounds outside [0, 15] is not a value.
    let wrong = Found { chunks: vec![at(20 * UNIT), at(0)], found: at(0) };
    assert!(matches!(keys.decrypt_answer(&wrong), Err(FheError::Malformed(_))));
    // Ciphertexts of another parameter set are refused.
    let foreign = ClientKey::new(PARAM_MESSAGE_2_CARRY_2_KS_PBS);
    let f: &tfhe::shortint::ClientKey = foreign.as_ref();
    let alien = Found { chunks: vec![f.encrypt(1), f.encrypt(1)], found: f.encrypt(0) };
    assert!(matches!(keys.decrypt_get(&wire::encode_get_answer(&id, 8, &alien)), Err(FheError::Malformed(_))));
}
