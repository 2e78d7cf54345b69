//! The client's side: the secret client key, the server key it uploads, and
//! encryption and decryption of what travels. Only the client ever holds the
//! client key; the database sees the server key and ciphertexts.

use crate::boxed;
use crate::chunks;
use crate::encoding::{FLAG, UNIT};
use crate::params::{self, blocks_for};
use crate::store::Found;
use crate::wire::{self, KeyId, Kind};
use crate::FheError;
use bincode::Options;
use tfhe::core_crypto::prelude::*;
use tfhe::integer::{ClientKey, CompressedServerKey};
use tfhe::shortint::client_key::atomic_pattern::AtomicPatternClientKey;

const KEY_FILE_MAGIC: &[u8; 8] = b"PXFCKEY1";

/// A client key and its id. No `Debug`: it is the secret.
pub struct ClientKeys {
    key_id: KeyId,
    key: ClientKey,
}

fn check_width(bits: usize, value: u64) -> Result<(), FheError> {
    if !params::bits_supported(bits) {
        return Err(FheError::Unsupported(format!("{bits}-bit values are not supported (even widths 2 to 64)")));
    }
    if bits < 64 && value >> bits != 0 {
        return Err(FheError::Unsupported(format!("the value does not fit in {bits} bits")));
    }
    Ok(())
}

fn key_file_options() -> impl Options {
    bincode::DefaultOptions::new().with_fixint_encoding().with_little_endian().with_limit(64 * 1024 * 1024)
}

impl ClientKeys {
    /// A new client key with a random id (from the OS).
    pub fn generate() -> Result<ClientKeys, FheError> {
        let mut key_id = [0u8; 16];
        getrandom::getrandom(&mut key_id)
            .map_err(|_| FheError::Unsupported("the OS random generator failed".into()))?;
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
        let key: ClientKey = key_file_options()
            .deserialize(&bytes[24..])
            .map_err(|_| FheError::Malformed("client key does not decode"))?;
        Ok(ClientKeys { key_id: bytes[8..24].try_into().expect("16 bytes"), key })
    }

    /// A key to GET from a store of `bits`-bit keys.
    pub fn encrypt(&self, bits: usize, value: u64) -> Result<Vec<u8>, FheError> {
        check_width(bits, value)?;
        let ct = self.key.encrypt_radix(value, blocks_for(bits));
        Ok(wire::encode_radix(&self.key_id, bits, &ct))
    }

    /// A key to SET in a store of `bits`-bit keys: its chunks as -q/2, boxed
    /// (see [`crate::boxed`]).
    pub fn encrypt_set_key(&self, bits: usize, key: u64) -> Result<Vec<u8>, FheError> {
        check_width(bits, key)?;
        Ok(wire::encode_boxed(Kind::SetKey, &self.key_id, bits, &self.boxed(bits, key, UNIT / 2)))
    }

    /// A value to SET in a store of `bits`-bit values: its chunks as -v/4, boxed.
    pub fn encrypt_set_value(&self, bits: usize, value: u64) -> Result<Vec<u8>, FheError> {
        check_width(bits, value)?;
        Ok(wire::encode_boxed(Kind::SetValue, &self.key_id, bits, &self.boxed(bits, value, UNIT / 4)))
    }

    /// The 4-bit chunks of `value`, each times `-scale`, encrypted as a boxed
    /// accumulator under the GLWE secret key (the bootstrap's output key),
    /// with the parameter set's GLWE noise.
    fn boxed(&self, bits: usize, value: u64, scale: u64) -> GlweCiphertextOwned<u64> {
        let count = chunks::count_for(blocks_for(bits));
        let constants: Vec<u64> = (0..count).map(|k| (((value >> (4 * k)) & 15) * scale).wrapping_neg()).collect();
        let plaintext = PlaintextList::from_container(boxed::layout(&constants));
        let short: &tfhe::shortint::ClientKey = self.key.as_ref();
        let AtomicPatternClientKey::KeySwitch32(ap) = &short.atomic_pattern else {
            unreachable!("the parameter set is a keyswitch-32 one")
        };
        // The GLWE key is the large LWE key, viewed as polynomials (no copy of the secret).
        let glwe_key =
            GlweSecretKey::from_container(ap.large_lwe_secret_key().into_container(), ap.parameters.polynomial_size);
        let mut seeder = new_seeder();
        let mut generator = EncryptionRandomGenerator::<DefaultRandomGenerator>::new(seeder.seed(), seeder.as_mut());
        let mut glwe = GlweCiphertext::new(
            0u64,
            glwe_key.glwe_dimension().to_glwe_size(),
            glwe_key.polynomial_size(),
            CiphertextModulus::new_native(),
        );
        encrypt_glwe_ciphertext(
            &glwe_key,
            &mut glwe,
            &plaintext,
            ap.parameters.glwe_noise_distribution,
            &mut generator,
        );
        glwe
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
