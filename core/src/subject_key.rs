//! A data subject's key: 16 random bytes used with AES-128-CCM (13-byte nonce,
//! 16-byte tag) to seal and open [`Envelope`]s.

use crate::envelope::{self, Envelope, KeyId, HEADER_LEN, NONCE_LEN, TAG_LEN, VERSION_1};
use crate::{nonce, random, CoreError};
use aes::Aes128Enc;
use ccm::aead::generic_array::GenericArray;
use ccm::aead::{AeadInPlace, KeyInit};
use ccm::consts::{U13, U16};
use zeroize::Zeroizing;

/// CCM only runs the block cipher forwards: the encryption key schedule alone.
type Aes128Ccm = ccm::Ccm<Aes128Enc, U16, U13>;

/// Runs `f` with the associated data `header || context`. The header has a
/// fixed length, so the concatenation is unambiguous; short contexts are joined
/// on the stack (this runs for every value).
fn with_associated_data<R>(header: &[u8], context: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    if context.is_empty() {
        return f(header);
    }
    let mut buf = [0u8; 256];
    let len = header.len() + context.len();
    if len <= buf.len() {
        buf[..header.len()].copy_from_slice(header);
        buf[header.len()..len].copy_from_slice(context);
        f(&buf[..len])
    } else {
        f(&[header, context].concat())
    }
}

/// Length of a subject key in bytes.
pub const KEY_LEN: usize = 16;

/// Raw subject-key bytes, zeroized on drop. Exists only between generation or
/// unwrapping and building a [`SubjectKey`].
pub type SubjectKeyBytes = Zeroizing<[u8; KEY_LEN]>;

/// An expanded AES-128-CCM key. No `Debug`, no accessor for the key bytes; the
/// `aes` crate zeroizes its round keys on drop.
#[derive(Clone)]
pub struct SubjectKey {
    cipher: Aes128Ccm,
}

impl SubjectKey {
    pub fn new(bytes: &[u8; KEY_LEN]) -> Self {
        SubjectKey { cipher: Aes128Ccm::new(GenericArray::from_slice(bytes)) }
    }

    /// 16 fresh bytes from the OS CSPRNG.
    pub fn generate_bytes() -> Result<SubjectKeyBytes, CoreError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        random::fill(bytes.as_mut())?;
        Ok(bytes)
    }

    /// Seals `plaintext` with a fresh nonce into `out`, which must be
    /// exactly `envelope::sealed_len(plaintext.len())` bytes (callers allocate it
    /// in their own memory, e.g. a PostgreSQL varlena). `context` is bound as
    /// associated data after the header (empty: no context); the same context
    /// must be given to open the value. `process_id` is the caller's current
    /// process (PostgreSQL's `MyProcPid`): the nonce comes from that process's
    /// generator ([`crate::nonce`]), never from a state copied by `fork`.
    pub fn seal_into_in_process(
        &self,
        process_id: u32,
        key_id: &KeyId,
        context: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<(), CoreError> {
        let nonce = nonce::next(process_id)?;
        self.seal_with_nonce_into(key_id, &nonce, context, plaintext, out)
    }

    /// [`Self::seal_into_in_process`] for the current process (asks the OS
    /// for its id: a system call).
    pub fn seal_into(&self, key_id: &KeyId, context: &[u8], plaintext: &[u8], out: &mut [u8]) -> Result<(), CoreError> {
        self.seal_into_in_process(std::process::id(), key_id, context, plaintext, out)
    }

    /// [`Self::seal_into`] with a caller-chosen nonce: for known-answer tests only;
    /// production code must never reuse a nonce.
    pub fn seal_with_nonce_into(
        &self,
        key_id: &KeyId,
        nonce: &[u8; NONCE_LEN],
        context: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<(), CoreError> {
        let len = envelope::sealed_len(plaintext.len())?;
        assert_eq!(out.len(), len, "caller sizes out with envelope::sealed_len");
        out[0] = VERSION_1;
        out[1..HEADER_LEN].copy_from_slice(key_id);
        out[HEADER_LEN..envelope::BODY_OFFSET].copy_from_slice(nonce);
        let (head, body) = out.split_at_mut(envelope::BODY_OFFSET);
        let (ciphertext, tag_out) = body.split_at_mut(plaintext.len());
        ciphertext.copy_from_slice(plaintext);
        let tag = with_associated_data(&head[..HEADER_LEN], context, |aad| {
            self.cipher.encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, ciphertext)
        })
        .map_err(|_| CoreError::PlaintextTooLong(plaintext.len()))?;
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Convenience form of [`Self::seal_into_in_process`] that allocates.
    pub fn seal_in_process(
        &self,
        process_id: u32,
        key_id: &KeyId,
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CoreError> {
        let mut out = vec![0u8; envelope::sealed_len(plaintext.len())?];
        self.seal_into_in_process(process_id, key_id, context, plaintext, &mut out)?;
        Ok(out)
    }

    /// Convenience form of [`Self::seal_into`] that allocates.
    pub fn seal(&self, key_id: &KeyId, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CoreError> {
        self.seal_in_process(std::process::id(), key_id, context, plaintext)
    }

    /// Opens `env` into `out` (exactly `env.plaintext_len()` bytes), with the
    /// context it was sealed with. On failure `out` is zeroed, so
    /// unauthenticated plaintext never escapes.
    pub fn open_into(&self, env: &Envelope<'_>, context: &[u8], out: &mut [u8]) -> Result<(), CoreError> {
        assert_eq!(out.len(), env.plaintext_len(), "caller sizes out with plaintext_len");
        out.copy_from_slice(env.ciphertext());
        let result = with_associated_data(env.associated_data(), context, |aad| {
            self.cipher.decrypt_in_place_detached(
                GenericArray::from_slice(env.nonce()),
                aad,
                out,
                GenericArray::<u8, U16>::from_slice(env.tag()),
            )
        });
        if result.is_err() {
            out.iter_mut().for_each(|b| *b = 0);
            return Err(CoreError::DecryptionFailed);
        }
        Ok(())
    }

    /// Convenience form of [`Self::open_into`] that allocates.
    pub fn open(&self, env: &Envelope<'_>, context: &[u8]) -> Result<Vec<u8>, CoreError> {
        let mut out = vec![0u8; env.plaintext_len()];
        self.open_into(env, context, &mut out)?;
        Ok(out)
    }

    /// Raw AES-128-CCM (13-byte nonce, 16-byte tag) with arbitrary associated
    /// data, returning `ciphertext || tag`: the primitive under the envelope,
    /// exposed so the NIST and Wycheproof vectors test exactly what we run.
    pub fn ccm_encrypt(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CoreError> {
        let mut buf = plaintext.to_vec();
        let tag = self
            .cipher
            .encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, &mut buf)
            .map_err(|_| CoreError::PlaintextTooLong(plaintext.len()))?;
        buf.extend_from_slice(&tag);
        Ok(buf)
    }

    /// Inverse of [`Self::ccm_encrypt`]; refuses anything not exactly
    /// `ciphertext || 16-byte tag`.
    pub fn ccm_decrypt(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CoreError> {
        if sealed.len() < TAG_LEN {
            return Err(CoreError::DecryptionFailed);
        }
        let (ct, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        let mut buf = ct.to_vec();
        self.cipher
            .decrypt_in_place_detached(GenericArray::from_slice(nonce), aad, &mut buf, GenericArray::from_slice(tag))
            .map_err(|_| CoreError::DecryptionFailed)?;
        Ok(buf)
    }
}
