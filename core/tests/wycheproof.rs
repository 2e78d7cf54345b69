//! Project Wycheproof AES-CCM vectors. The group with our exact parameters
//! (128-bit key, 13-byte nonce, 128-bit tag) runs through the primitive; every
//! other nonce or tag size must be refused by the envelope before any crypto,
//! since a pseudo_text envelope can only carry 13-byte nonces and 16-byte tags.

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

fn load() -> File {
    let path = format!("{}/tests/vectors/aes_ccm_test.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn matching_group_encrypts_and_decrypts() {
    let file = load();
    let mut checked = 0;
    for g in file.groups.iter().filter(|g| g.iv_size == 104 && g.key_size == 128 && g.tag_size == 128) {
        for t in &g.tests {
            let key: [u8; 16] = hex::decode(&t.key).unwrap().try_into().unwrap();
            let nonce: [u8; 13] = hex::decode(&t.iv).unwrap().try_into().unwrap();
            let cipher = SubjectKey::new(&key);
            let aad = hex::decode(&t.aad).unwrap();
            let msg = hex::decode(&t.msg).unwrap();
            let sealed = [hex::decode(&t.ct).unwrap(), hex::decode(&t.tag).unwrap()].concat();
            match t.result.as_str() {
                "valid" => {
                    assert_eq!(cipher.ccm_encrypt(&nonce, &aad, &msg).unwrap(), sealed, "tc {}", t.id);
                    assert_eq!(cipher.ccm_decrypt(&nonce, &aad, &sealed).unwrap(), msg, "tc {}", t.id);
                }
                _ => assert!(cipher.ccm_decrypt(&nonce, &aad, &sealed).is_err(), "tc {} accepted", t.id),
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "expected the 13-byte-nonce/128-bit-tag group, checked {checked}");
    println!("Wycheproof: {checked} matching vectors checked");
}

/// A value laid out with another nonce or tag size is not an envelope we accept
/// as that value: either its length is refused up front or, where the lengths
/// happen to fit, the tag check refuses it.
#[test]
fn other_nonce_and_tag_sizes_are_refused() {
    let file = load();
    let mut refused = 0;
    for g in file.groups.iter().filter(|g| g.key_size == 128 && (g.iv_size != 104 || g.tag_size != 128)) {
        for t in &g.tests {
            let key: [u8; 16] = hex::decode(&t.key).unwrap().try_into().unwrap();
            let key_id = [0x42u8; 16];
            let mut bytes = vec![envelope::VERSION_1];
            bytes.extend_from_slice(&key_id);
            bytes.extend(hex::decode(&t.iv).unwrap());
            bytes.extend(hex::decode(&t.ct).unwrap());
            bytes.extend(hex::decode(&t.tag).unwrap());
            let accepted = Envelope::parse(&bytes)
                .ok()
                .map(|env| SubjectKey::new(&key).open(&env, b"").is_ok())
                .unwrap_or(false);
            assert!(!accepted, "tc {} (iv {} bits, tag {} bits) accepted", t.id, g.iv_size, g.tag_size);
            refused += 1;
        }
    }
    assert!(refused > 100, "only {refused} negative vectors found");
    println!("Wycheproof: {refused} other-size vectors refused");
}
