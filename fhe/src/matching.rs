//! Matching one encrypted query key against every stored key, in 4-bit chunks.
//!
//! TFHE-rs' `eq_parallelized` compares two radix ciphertexts 2-bit block by
//! block (one bivariate bootstrap each) and then reduces the block results:
//! 8 + 3 bootstraps for 16-bit keys, plus one to AND the slot's "occupied"
//! flag. Here stored keys are 4-bit chunks ([`crate::chunks`]) and the query
//! is packed the same way once per GET or SET. For a stored chunk K and a
//! query chunk Q, both in [0, 15], the difference d = K - Q lies in
//! [-15, 15]; modulo 32 (the padding bit included) it is 0 only when K = Q.
//! One bootstrap with the table f(0) = 1, f(1..15) = 0 gives [K = Q]: inputs
//! in the negacyclic upper half (d < 0) return -f(d + 16) = 0. The chunk
//! results and the occupied flag are summed (at most 5 at a time) and one
//! bootstrap checks the sum is full, returning the match as a padding flag
//! (16 units, see [`crate::encoding`]) ready for selection. 16-bit keys:
//! 4 + 1 bootstraps per slot instead of 12.
//!
//! Noise (variances in fresh-ciphertext units, see [`crate::encoding`]): a
//! stored key chunk is a bootstrap output and so is a packed query chunk,
//! so K - Q holds 2; a sum of flags at most 5.

use rayon::prelude::*;
use tfhe::core_crypto::algorithms::lwe_ciphertext_opposite_assign;
use tfhe::integer::{BooleanBlock, RadixCiphertext, ServerKey};
use tfhe::shortint::server_key::LookupTableOwned;
use tfhe::shortint::Ciphertext;

use crate::chunks::{pack, short, Chunks};
use crate::encoding;

/// Most fresh ciphertexts one sum may hold (the parameter set's max noise level).
const MAX_SUM: usize = 5;

/// A query, packed and negated once, matched against many stored keys.
pub struct Matcher<'a> {
    sks: &'a ServerKey,
    negated_query: Chunks,
    is_zero: LookupTableOwned,
    /// `all_of[n]`: 1 when a sum of n flags is n.
    all_of: Vec<LookupTableOwned>,
    /// `flag_all_of[n]`: the padding flag of the same test.
    flag_all_of: Vec<LookupTableOwned>,
}

impl<'a> Matcher<'a> {
    pub fn new(sks: &'a ServerKey, query: &RadixCiphertext) -> Matcher<'a> {
        Matcher::from_chunks(sks, pack(sks, query))
    }

    /// A query already packed into chunks.
    pub fn from_chunks(sks: &'a ServerKey, mut query: Chunks) -> Matcher<'a> {
        for chunk in &mut query {
            lwe_ciphertext_opposite_assign(&mut chunk.ct);
        }
        Matcher::from_negated(sks, query)
    }

    /// A query given as the negations of its chunks.
    pub fn from_negated(sks: &'a ServerKey, negated_query: Chunks) -> Matcher<'a> {
        let sk = short(sks);
        Matcher {
            sks,
            negated_query,
            is_zero: sk.generate_lookup_table(|x| u64::from(x == 0)),
            all_of: (0..=MAX_SUM as u64).map(|n| sk.generate_lookup_table(move |x| u64::from(x == n))).collect(),
            flag_all_of: (0..=MAX_SUM as u64).map(|n| encoding::flag_of(sk, move |x| x == n)).collect(),
        }
    }

    /// [stored key = query AND occupied], as a padding flag (16 units when
    /// true, see [`crate::encoding`]).
    pub fn matches(&self, stored: &[Ciphertext], occupied: &BooleanBlock) -> Ciphertext {
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
        loop {
            if flags.len() <= MAX_SUM {
                let sum = encoding::sum(sk, &flags);
                return sk.apply_lookup_table(&sum, &self.flag_all_of[flags.len()]);
            }
            flags = flags
                .par_chunks(MAX_SUM)
                .map(|group| sk.apply_lookup_table(&encoding::sum(sk, group), &self.all_of[group.len()]))
                .collect();
        }
    }

    /// The same, as an encrypted boolean (for tests).
    pub fn matches_bool(&self, stored: &[Ciphertext], occupied: &BooleanBlock) -> BooleanBlock {
        let sk = short(self.sks);
        BooleanBlock::new_unchecked(encoding::flag_to_bit(sk, &self.matches(stored, occupied)))
    }
}
