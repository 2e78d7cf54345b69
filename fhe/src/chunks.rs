//! Stored keys and values: 4-bit chunks, and halves of chunks.
//!
//! A client encrypts a number as 2-bit radix blocks. The store keeps a key
//! as 4-bit **chunks** (blocks 2c and 2c + 1 packed as `low + 4·high`, the
//! last block alone when the count is odd), and a value as the **halves** of
//! its chunks: c/2 in half units (see [`crate::encoding`]), from which the
//! chunk is recovered exactly by doubling (variance 4). Chunks halve the
//! bootstraps of matching and selection; halves make a selection one
//! bootstrap per chunk: `bootstrap(c + flag + 16)/2 + c/2` is c or 0.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tfhe::integer::{IntegerCiphertext, RadixCiphertext, ServerKey};
use tfhe::shortint::ciphertext::NoiseLevel;
use tfhe::shortint::Ciphertext;

use crate::encoding;

/// 4-bit chunks, least significant first.
pub type Chunks = Vec<Ciphertext>;

/// A number as the halves of its chunks.
#[derive(Clone, Serialize, Deserialize)]
pub struct Chunked {
    pub halves: Vec<Ciphertext>,
}

/// Chunks of a number of `blocks` radix blocks.
pub fn count_for(blocks: usize) -> usize {
    blocks.div_ceil(2)
}

pub(crate) fn short(sks: &ServerKey) -> &tfhe::shortint::ServerKey {
    sks.as_ref()
}

/// A block with at most nominal noise and a value in [0, 3].
fn clean_block(sks: &ServerKey, block: &Ciphertext) -> Ciphertext {
    if block.noise_level() <= NoiseLevel::NOMINAL && block.degree.get() <= 3 {
        block.clone()
    } else {
        short(sks).message_extract(block)
    }
}

/// The 4-bit chunks of a radix ciphertext of 2-bit blocks, each cleaned by
/// one bootstrap (noise: a packed pair has the 2-norm of TFHE-rs' own
/// bivariate packing, √17).
pub fn pack(sks: &ServerKey, number: &RadixCiphertext) -> Chunks {
    let sk = short(sks);
    let identity = sk.generate_lookup_table(|x| x);
    number
        .blocks()
        .par_chunks(2)
        .map(|pair| {
            let mut packed = clean_block(sks, &pair[0]);
            if let Some(high) = pair.get(1) {
                let mut high = clean_block(sks, high);
                sk.unchecked_scalar_mul_assign(&mut high, 4);
                sk.unchecked_add_assign(&mut packed, &high);
            }
            sk.apply_lookup_table(&packed, &identity)
        })
        .collect()
}

impl Chunked {
    /// Zero, as trivial ciphertexts (for empty slots).
    pub fn zero(sks: &ServerKey, blocks: usize) -> Chunked {
        Chunked { halves: vec![short(sks).create_trivial(0); count_for(blocks)] }
    }

    /// The halves of `chunks` (one bootstrap each).
    pub fn from_chunks(sks: &ServerKey, chunks: &[Ciphertext]) -> Chunked {
        let half = encoding::half_identity(short(sks));
        Chunked { halves: chunks.par_iter().map(|c| short(sks).apply_lookup_table(c, &half)).collect() }
    }

    /// A client's radix ciphertext, packed and halved.
    pub fn of(sks: &ServerKey, number: &RadixCiphertext) -> Chunked {
        Chunked::from_chunks(sks, &pack(sks, number))
    }
}

/// A chunk from its half: exact, with four times the half's variance.
pub fn double(sk: &tfhe::shortint::ServerKey, half: &Ciphertext) -> Ciphertext {
    sk.unchecked_scalar_mul(half, 2)
}
