//! Matching one encrypted query key against every stored key, in 4-bit chunks.
//!
//! TFHE-rs' `eq_parallelized` compares two radix ciphertexts 2-bit block by
//! block (one bivariate bootstrap each) and then reduces the block results:
//! 8 + 3 bootstraps for 16-bit keys, plus one to AND the slot's "occupied"
//! flag. Here a stored key is also kept as 4-bit **chunks** (two blocks
//! packed, `low + 4 * high`, cleaned by one bootstrap when the key is
//! stored), and the query is packed the same way once per GET or SET. For a
//! stored chunk K and a query chunk Q, both in [0, 15], the difference
//! d = K - Q lies in [-15, 15]; modulo 32 (the padding bit included) it is 0
//! only when K = Q. One bootstrap with the table f(0) = 1, f(1..15) = 0 gives
//! [K = Q]: inputs in the negacyclic upper half (d < 0) return -f(d + 16) = 0.
//! The chunk results and the occupied flag are summed (at most 5 at a time,
//! the parameter set's noise budget) and one bootstrap checks the sum is
//! full. 16-bit keys: 4 + 1 bootstraps per slot instead of 12.
//!
//! Noise: every operand of a sum is a fresh bootstrap output or a fresh
//! encryption (nominal noise); K - Q has noise level 2, a packed chunk 5
//! (1 + 4, exactly TFHE-rs' own bivariate packing), a sum of flags at most
//! 5: all within the parameter set's maximum of 5.

use rayon::prelude::*;
use tfhe::core_crypto::algorithms::lwe_ciphertext_opposite_assign;
use tfhe::integer::{BooleanBlock, IntegerCiphertext, RadixCiphertext, ServerKey};
use tfhe::shortint::ciphertext::NoiseLevel;
use tfhe::shortint::server_key::LookupTableOwned;
use tfhe::shortint::Ciphertext;

/// The 4-bit chunks of one key.
pub type Chunks = Vec<Ciphertext>;

/// Most fresh ciphertexts one sum may hold (the parameter set's max noise level).
const MAX_SUM: usize = 5;

fn short(sks: &ServerKey) -> &tfhe::shortint::ServerKey {
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

/// The 4-bit chunks of a radix ciphertext of 2-bit blocks: blocks 2c and
/// 2c + 1 packed as `low + 4 * high` (the last block alone when the count
/// is odd), each cleaned by one bootstrap.
pub fn chunks(sks: &ServerKey, key: &RadixCiphertext) -> Chunks {
    let sk = short(sks);
    let identity = sk.generate_lookup_table(|x| x);
    key.blocks()
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

/// A query, packed and negated once, matched against many stored keys.
pub struct Matcher<'a> {
    sks: &'a ServerKey,
    negated_query: Chunks,
    is_zero: LookupTableOwned,
    /// `all_of[n]`: 1 when a sum of n flags is n.
    all_of: Vec<LookupTableOwned>,
}

impl<'a> Matcher<'a> {
    pub fn new(sks: &'a ServerKey, query: &RadixCiphertext) -> Matcher<'a> {
        let sk = short(sks);
        let mut negated_query = chunks(sks, query);
        for chunk in &mut negated_query {
            lwe_ciphertext_opposite_assign(&mut chunk.ct);
        }
        Matcher {
            sks,
            negated_query,
            is_zero: sk.generate_lookup_table(|x| u64::from(x == 0)),
            all_of: (0..=MAX_SUM as u64).map(|n| sk.generate_lookup_table(move |x| u64::from(x == n))).collect(),
        }
    }

    /// [stored key = query AND occupied], as an encrypted boolean.
    pub fn matches(&self, stored: &[Ciphertext], occupied: &BooleanBlock) -> BooleanBlock {
        assert_eq!(stored.len(), self.negated_query.len(), "stored key and query have the same width");
        let sk = short(self.sks);
        let mut flags: Vec<Ciphertext> = stored
            .par_iter()
            .zip(self.negated_query.par_iter())
            .map(|(k, minus_q)| {
                let mut d = k.clone();
                sk.unchecked_add_assign(&mut d, minus_q);
                sk.apply_lookup_table(&d, &self.is_zero)
            })
            .collect();
        let occupied: &Ciphertext = occupied.as_ref();
        flags.push(occupied.clone());
        while flags.len() > 1 {
            flags = flags
                .par_chunks(MAX_SUM)
                .map(|group| {
                    let mut sum = group[0].clone();
                    for flag in &group[1..] {
                        sk.unchecked_add_assign(&mut sum, flag);
                    }
                    sk.apply_lookup_table(&sum, &self.all_of[group.len()])
                })
                .collect();
        }
        BooleanBlock::new_unchecked(flags.pop().expect("one flag left"))
    }
}
