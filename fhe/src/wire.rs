//! The bytes a client and the database exchange, and the bytes of a slot.
//!
//! A blob is a 22-byte header and a bincode payload:
//!
//! ```text
//! "PXF" | format 1 | kind | key id (16 bytes) | bits | bincode(TFHE objects)
//! ```
//!
//! The key id is 16 random bytes the client draws with its client key: the
//! server key and every ciphertext carry it, so a ciphertext made under
//! another client key is refused with a clear error instead of computing
//! garbage. It is a label, not a secret, and the server cannot check it is
//! honest: it catches mistakes, not attacks (see the threat model in docs/security.md).
//!
//! Decoding is bounded (bincode size limits, so a forged length cannot
//! allocate gigabytes) and conformant: every TFHE object from a client is
//! checked against [`crate::params::PARAMS`] and the expected block count
//! before it reaches a computation.

use crate::boxed::Boxed;
use crate::chunks::{self, Chunked, Chunks};
use crate::params::{self, blocks_for};
use crate::store::{Found, KEY_NOISE_MAX};
use crate::FheError;
use bincode::Options;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tfhe::conformance::ParameterSetConformant;
use tfhe::core_crypto::prelude::{CiphertextModulus, GlweCiphertextConformanceParams, GlweCiphertextOwned};
use tfhe::integer::{BooleanBlock, CompressedServerKey, RadixCiphertext};
use tfhe::shortint::Ciphertext;

pub const MAGIC: &[u8; 3] = b"PXF";
pub const FORMAT: u8 = 1;
pub const HEADER_LEN: usize = 22;
pub type KeyId = [u8; 16];

/// Upper bounds for bincode: a 2-bit block of these parameters serializes to
/// about 16 KiB; the compressed server key to tens of MiB.
const BLOCK_LIMIT: u64 = 64 * 1024;
const SERVER_KEY_LIMIT: u64 = 512 * 1024 * 1024;
/// A GLWE ciphertext of these parameters: 2 x 2048 64-bit words, 32 KiB.
const GLWE_LIMIT: u64 = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    ServerKey = 1,
    Ciphertext = 2,
    GetAnswer = 3,
    SetAnswer = 4,
    SetKey = 5,
    SetValue = 6,
}

impl Kind {
    fn from_byte(b: u8) -> Result<Kind, FheError> {
        Ok(match b {
            1 => Kind::ServerKey,
            2 => Kind::Ciphertext,
            3 => Kind::GetAnswer,
            4 => Kind::SetAnswer,
            5 => Kind::SetKey,
            6 => Kind::SetValue,
            _ => return Err(FheError::Malformed("unknown blob kind")),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::ServerKey => "a server key",
            Kind::Ciphertext => "a key or value ciphertext",
            Kind::GetAnswer => "a GET answer",
            Kind::SetAnswer => "a SET answer",
            Kind::SetKey => "a key to SET",
            Kind::SetValue => "a value to SET",
        }
    }
}

/// A parsed header and the payload after it.
pub struct Blob<'a> {
    pub kind: Kind,
    pub key_id: KeyId,
    pub bits: usize,
    pub payload: &'a [u8],
}

fn options(limit: u64) -> impl Options {
    bincode::DefaultOptions::new().with_fixint_encoding().with_little_endian().with_limit(limit)
}

fn to_bincode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    options(u64::MAX).serialize(value).expect("TFHE objects serialize")
}

fn from_bincode<T: DeserializeOwned>(bytes: &[u8], limit: u64) -> Result<T, FheError> {
    if bytes.len() as u64 > limit {
        return Err(FheError::Malformed("too long"));
    }
    options(limit).deserialize(bytes).map_err(|_| FheError::Malformed("payload does not decode"))
}

pub fn encode<T: Serialize + ?Sized>(kind: Kind, key_id: &KeyId, bits: usize, payload: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT);
    out.push(kind as u8);
    out.extend_from_slice(key_id);
    out.push(u8::try_from(bits).expect("bit widths fit a byte"));
    out.extend_from_slice(&to_bincode(payload));
    out
}

pub fn parse(bytes: &[u8]) -> Result<Blob<'_>, FheError> {
    if bytes.len() < HEADER_LEN || &bytes[..3] != MAGIC {
        return Err(FheError::Malformed("not a pseudo_fhe blob"));
    }
    if bytes[3] != FORMAT {
        return Err(FheError::Malformed("unsupported format version"));
    }
    Ok(Blob {
        kind: Kind::from_byte(bytes[4])?,
        key_id: bytes[5..21].try_into().expect("16 bytes"),
        bits: bytes[21] as usize,
        payload: &bytes[HEADER_LEN..],
    })
}

/// Parses a blob that must be of `kind`.
pub fn parse_kind(bytes: &[u8], kind: Kind) -> Result<Blob<'_>, FheError> {
    let blob = parse(bytes)?;
    if blob.kind != kind {
        return Err(FheError::WrongKind { expected: kind.name(), got: blob.kind.name() });
    }
    Ok(blob)
}

// ---- server key --------------------------------------------------------------

pub fn encode_server_key(key_id: &KeyId, key: &CompressedServerKey) -> Vec<u8> {
    encode(Kind::ServerKey, key_id, 0, key)
}

/// The key id and the compressed server key, checked against the parameter set.
pub fn decode_server_key(bytes: &[u8]) -> Result<(KeyId, CompressedServerKey), FheError> {
    let blob = parse_kind(bytes, Kind::ServerKey)?;
    let key: CompressedServerKey = from_bincode(blob.payload, SERVER_KEY_LIMIT)?;
    if !key.is_conformant(&params::atomic_pattern()) {
        return Err(FheError::Malformed("server key is not for this extension's TFHE parameter set"));
    }
    Ok((blob.key_id, key))
}

// ---- client ciphertexts --------------------------------------------------------

pub fn encode_radix(key_id: &KeyId, bits: usize, ct: &RadixCiphertext) -> Vec<u8> {
    encode(Kind::Ciphertext, key_id, bits, ct)
}

/// A blob of `kind` made under the client key `key_id`: the one check of a
/// client blob's header, for operands and answers alike.
fn parse_for<'a>(bytes: &'a [u8], kind: Kind, key_id: &KeyId) -> Result<Blob<'a>, FheError> {
    let blob = parse_kind(bytes, kind)?;
    if blob.key_id != *key_id {
        return Err(FheError::OtherClientKey);
    }
    Ok(blob)
}

/// A client's operand blob of `kind`, made under the store's client key
/// `key_id`, for a `what` ("key" or "value") of `bits` bits.
fn parse_operand<'a>(
    bytes: &'a [u8],
    kind: Kind,
    key_id: &KeyId,
    what: &'static str,
    bits: usize,
) -> Result<Blob<'a>, FheError> {
    let blob = parse_for(bytes, kind, key_id)?;
    if blob.bits != bits {
        return Err(FheError::WrongWidth { what, expected: bits, got: blob.bits });
    }
    Ok(blob)
}

/// A fresh key or value ciphertext from a client, for a store whose client key
/// id is `key_id` and whose `what` ("key" or "value") is `bits` wide.
pub fn decode_radix(
    bytes: &[u8],
    key_id: &KeyId,
    what: &'static str,
    bits: usize,
) -> Result<RadixCiphertext, FheError> {
    let blob = parse_operand(bytes, Kind::Ciphertext, key_id, what, bits)?;
    let ct: RadixCiphertext = from_bincode(blob.payload, blocks_for(bits) as u64 * BLOCK_LIMIT)?;
    if !ct.is_conformant(&params::fresh_radix(bits)) {
        return Err(FheError::Malformed("ciphertext does not match its width or the TFHE parameter set"));
    }
    Ok(ct)
}

/// A key or value to SET (`Kind::SetKey` or `Kind::SetValue`): a GLWE
/// ciphertext of the parameter set, boxed by the client ([`crate::boxed`]).
pub fn encode_boxed(kind: Kind, key_id: &KeyId, bits: usize, glwe: &GlweCiphertextOwned<u64>) -> Vec<u8> {
    encode(kind, key_id, bits, glwe)
}

pub fn decode_boxed(
    bytes: &[u8],
    kind: Kind,
    key_id: &KeyId,
    what: &'static str,
    bits: usize,
) -> Result<Boxed, FheError> {
    let blob = parse_operand(bytes, kind, key_id, what, bits)?;
    let glwe: GlweCiphertextOwned<u64> = from_bincode(blob.payload, GLWE_LIMIT)?;
    let shape = GlweCiphertextConformanceParams {
        glwe_dim: params::PARAMS.glwe_dimension,
        polynomial_size: params::PARAMS.polynomial_size,
        ct_modulus: CiphertextModulus::new_native(),
    };
    if !glwe.is_conformant(&shape) {
        return Err(FheError::Malformed("ciphertext does not match the TFHE parameter set"));
    }
    Ok(Boxed { glwe, chunks: chunks::count_for(blocks_for(bits)) })
}

// ---- answers -------------------------------------------------------------------

pub fn encode_get_answer(key_id: &KeyId, bits: usize, answer: &Found) -> Vec<u8> {
    encode(Kind::GetAnswer, key_id, bits, &(&answer.chunks, &answer.found))
}

/// A GET answer: the value's chunks and the found flag, each a ciphertext
/// of the parameter set (their degree and noise are sums, not fresh).
pub fn decode_get_answer(bytes: &[u8], key_id: &KeyId) -> Result<Found, FheError> {
    let blob = parse_for(bytes, Kind::GetAnswer, key_id)?;
    let expected = chunks::count_for(blocks_for(blob.bits));
    let (chunks, found): (Vec<Ciphertext>, Ciphertext) =
        from_bincode(blob.payload, (expected as u64 + 1) * BLOCK_LIMIT)?;
    if chunks.len() != expected {
        return Err(FheError::Malformed("answer has the wrong number of chunks"));
    }
    if !chunks.iter().chain([&found]).all(shaped_by_params) {
        return Err(FheError::Malformed("answer does not match the TFHE parameter set"));
    }
    Ok(Found { chunks, found })
}

/// Whether a ciphertext has the parameter set's shape, whatever its degree and noise.
fn shaped_by_params(ct: &Ciphertext) -> bool {
    let mut shape = params::PARAMS.to_shortint_conformance_param();
    shape.degree = ct.degree;
    shape.noise_level = ct.noise_level();
    ct.is_conformant(&shape)
}

pub fn encode_set_answer(key_id: &KeyId, stored: &BooleanBlock) -> Vec<u8> {
    encode(Kind::SetAnswer, key_id, 0, stored)
}

pub fn decode_set_answer(bytes: &[u8], key_id: &KeyId) -> Result<BooleanBlock, FheError> {
    let blob = parse_for(bytes, Kind::SetAnswer, key_id)?;
    from_bincode(blob.payload, BLOCK_LIMIT)
}

// ---- slots (written and read by the database only) -----------------------------

pub fn slot_flag(flag: &BooleanBlock) -> Vec<u8> {
    to_bincode(flag)
}

/// A stored key: its chunks.
pub fn slot_key(key: &Chunks) -> Vec<u8> {
    to_bincode(key)
}

pub fn read_slot_key(bytes: &[u8], bits: usize) -> Result<Chunks, FheError> {
    let expected = chunks::count_for(blocks_for(bits));
    let key: Chunks = from_bincode(bytes, expected as u64 * BLOCK_LIMIT)?;
    if key.len() != expected {
        return Err(FheError::Malformed("stored slot has the wrong number of key chunks"));
    }
    // A SET trusts this bookkeeping to decide when a key is cleaned.
    if key.iter().any(|c| c.noise_level().get() > KEY_NOISE_MAX) {
        return Err(FheError::Malformed("stored key chunk is noisier than a store keeps its keys"));
    }
    Ok(key)
}

/// A stored value: the halves of its chunks.
pub fn slot_value(value: &Chunked) -> Vec<u8> {
    to_bincode(value)
}

pub fn read_slot_value(bytes: &[u8], bits: usize) -> Result<Chunked, FheError> {
    let expected = chunks::count_for(blocks_for(bits));
    let number: Chunked = from_bincode(bytes, 2 * expected as u64 * BLOCK_LIMIT)?;
    if number.halves.len() != expected {
        return Err(FheError::Malformed("stored slot has the wrong number of chunks"));
    }
    Ok(number)
}

pub fn read_slot_flag(bytes: &[u8]) -> Result<BooleanBlock, FheError> {
    from_bincode(bytes, BLOCK_LIMIT)
}
