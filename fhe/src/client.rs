//! The client's side: the secret client key, the server key it uploads, and
//! encryption and decryption of what travels. Only the client ever holds the
//! client key; the database sees the server key and ciphertexts.

use crate::encoding::{FLAG, UNIT};
use crate::params::{self, blocks_for};
use crate::store::Found;
use crate::wire::{self, KeyId};
use crate::FheError;
use bincode::Options;
use tfhe::integer::{ClientKey, CompressedServerKey};

const KEY_FILE_MAGIC: &[u8; 8] = b"PXFCKEY1";

/// A client key and its id. No `Debug`: it is the secret.
pub struct ClientKeys {
    key_id: KeyId,
    key: ClientKey,
}

fn key_file_options() -> impl Options {
    bincode::DefaultOptions::new().with_fixint_encoding().with_little_endian().with_limit(64 * 1024 * 1024)
}

impl ClientKeys {
    /// A new client key with a random id (from the OS).
    pub fn generate() -> Result<ClientKeys, FheError> {
        let mut key_id = [0u8; 16];
        getrandom::getrandom(&mut key_id).map_err(|_| FheError::Unsupported("the OS random generator failed".into()))?;
        Ok(ClientKeys { key_id, key: ClientKey::new(params::PARAMS) })
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The compressed server key blob to upload with `pseudo_fhe_create_store`.
    pub fn server_key_blob(&self) -> Vec<u8> {
        wire::encode_server_key(&self.key_id, &CompressedServerKey::new_radix_compressed_server_key(&self.key))
    }

    /// The key file's bytes (keep them private: mode 0600).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = KEY_FILE_MAGIC.to_vec();
        out.extend_from_slice(&self.key_id);
        out.extend_from_slice(&key_file_options().serialize(&self.key).expect("client key serializes"));
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<ClientKeys, FheError> {
        if bytes.len() < 24 || &bytes[..8] != KEY_FILE_MAGIC {
            return Err(FheError::Malformed("not a pseudo_fhe client key file"));
        }
        let key: ClientKey =
            key_file_options().deserialize(&bytes[24..]).map_err(|_| FheError::Malformed("client key does not decode"))?;
        Ok(ClientKeys { key_id: bytes[8..24].try_into().expect("16 bytes"), key })
    }

    /// A key or value for a store of `bits`-bit keys or values.
    pub fn encrypt(&self, bits: usize, value: u64) -> Result<Vec<u8>, FheError> {
        if !params::bits_supported(bits) {
            return Err(FheError::Unsupported(format!("{bits}-bit values are not supported (even widths 2 to 64)")));
        }
        if bits < 64 && value >> bits != 0 {
            return Err(FheError::Unsupported(format!("the value does not fit in {bits} bits")));
        }
        let ct = self.key.encrypt_radix(value, blocks_for(bits));
        Ok(wire::encode_radix(&self.key_id, bits, &ct))
    }

    /// A GET answer: `Some(value)` when the key was found.
    pub fn decrypt_get(&self, answer: &[u8]) -> Result<Option<u64>, FheError> {
        let (was_found, value) = self.decrypt_answer(&wire::decode_get_answer(answer, &self.key_id)?)?;
        Ok(was_found.then_some(value))
    }

    /// Whether the key was found, and the value (0 when not): the answer's
    /// sums decrypted and rounded to the nearest unit (chunks) or flag.
    pub fn decrypt_answer(&self, answer: &Found) -> Result<(bool, u64), FheError> {
        let short: &tfhe::shortint::ClientKey = self.key.as_ref();
        let phase = |ct| short.decrypt_no_decode(ct).0;
        let mut value = 0u64;
        for (c, chunk) in answer.chunks.iter().enumerate() {
            let units = phase(chunk).wrapping_add(UNIT / 2) / UNIT;
            if units > 15 {
                return Err(FheError::Malformed("answer does not decrypt to a value"));
            }
            value |= units << (4 * c);
        }
        let found = phase(&answer.found).wrapping_add(FLAG / 2) / FLAG == 1;
        Ok((found, value))
    }

    /// A SET answer: whether the pair was stored (false only when the key was
    /// absent and the store full).
    pub fn decrypt_set(&self, answer: &[u8]) -> Result<bool, FheError> {
        Ok(self.key.decrypt_bool(&wire::decode_set_answer(answer, &self.key_id)?))
    }

    /// For tests: the underlying TFHE client key.
    pub fn tfhe_key(&self) -> &ClientKey {
        &self.key
    }
}
