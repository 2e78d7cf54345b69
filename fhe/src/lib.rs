//! A private key/value store computed on TFHE ciphertexts (TFHE-rs integer
//! API). The client holds the secret key; the server holds only the server
//! (evaluation) key and the slots, and computes:
//!
//! * **private GET**: the value stored under an encrypted key, and an
//!   encrypted "found" flag, without learning the key, the value or whether
//!   it was found;
//! * **private SET**: overwrite the slot holding an encrypted key, or fill the
//!   first free slot, without learning which happened. Keys stay unique, so a
//!   repeated SET of the same key leaves one slot. A full store is reported
//!   only inside the encrypted result.
//!
//! Nothing here branches on a secret: every operation touches every slot the
//! same way, so its cost depends only on the capacity and the bit widths.
//!
//! Layout: a fixed number of slots, each an encrypted key, an encrypted value
//! and an encrypted "occupied" flag, kept as three parallel vectors (the
//! dot product that selects a value takes a slice of values).

use rayon::prelude::*;
use tfhe::integer::{BooleanBlock, RadixCiphertext, ServerKey};

/// The message bits per radix block of the parameter sets we use
/// (`PARAM_MESSAGE_2_CARRY_2_*`).
pub const BITS_PER_BLOCK: usize = 2;

/// Blocks of a radix ciphertext of `bits` bits.
pub fn blocks_for(bits: usize) -> usize {
    bits.div_ceil(BITS_PER_BLOCK)
}

/// The slots of a store.
#[derive(Clone)]
pub struct Store {
    pub keys: Vec<RadixCiphertext>,
    pub values: Vec<RadixCiphertext>,
    pub occupied: Vec<BooleanBlock>,
}

/// An encrypted GET answer.
pub struct Found {
    pub value: RadixCiphertext,
    pub found: BooleanBlock,
}

/// OR of encrypted booleans, as a balanced tree (depth log2 n).
pub fn any(sks: &ServerKey, flags: &[BooleanBlock]) -> BooleanBlock {
    flags
        .par_iter()
        .cloned()
        .reduce_with(|a, b| sks.boolean_bitor(&a, &b))
        .unwrap_or_else(|| sks.create_trivial_boolean_block(false))
}

impl Store {
    /// An empty store of `capacity` slots. The slots are trivial encryptions
    /// (of 0 and "free"): that a new store is empty is public anyway; the
    /// first SET turns them into real ciphertexts.
    pub fn empty(sks: &ServerKey, capacity: usize, key_bits: usize, value_bits: usize) -> Store {
        Store {
            keys: (0..capacity).map(|_| sks.create_trivial_zero_radix(blocks_for(key_bits))).collect(),
            values: (0..capacity).map(|_| sks.create_trivial_zero_radix(blocks_for(value_bits))).collect(),
            occupied: (0..capacity).map(|_| sks.create_trivial_boolean_block(false)).collect(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.keys.len()
    }

    /// One encrypted flag per slot: occupied and holding `key`. At most one is
    /// true, since SET keeps keys unique.
    pub fn matches(&self, sks: &ServerKey, key: &RadixCiphertext) -> Vec<BooleanBlock> {
        self.keys
            .par_iter()
            .zip(self.occupied.par_iter())
            .map(|(k, occupied)| sks.boolean_bitand(&sks.eq_parallelized(k, key), occupied))
            .collect()
    }

    /// Private GET: the value under `key` (an encryption of 0 when absent) and
    /// whether it was found.
    pub fn get(&self, sks: &ServerKey, key: &RadixCiphertext) -> Found {
        let flags = self.matches(sks, key);
        let (value, found) = rayon::join(|| sks.boolean_one_hot_dot_prod(&flags, &self.values), || any(sks, &flags));
        Found { value, found }
    }

    /// Private SET: stores `value` under `key`, overwriting the slot that
    /// holds `key` or else filling the first free slot. Returns an encrypted
    /// "stored" flag, false only when the key was absent and no slot was free.
    pub fn set(&mut self, sks: &ServerKey, key: &RadixCiphertext, value: &RadixCiphertext) -> BooleanBlock {
        let matches = self.matches(sks, key);
        let found = any(sks, &matches);
        let absent = sks.boolean_bitnot(&found);
        // first_free[i] = free[i] AND no slot before i is free (a prefix OR).
        let mut free_before = sks.create_trivial_boolean_block(false);
        let mut place = Vec::with_capacity(self.capacity());
        for (occupied, matched) in self.occupied.iter().zip(&matches) {
            let free = sks.boolean_bitnot(occupied);
            let (first_free, next) = rayon::join(
                || sks.boolean_bitand(&free, &sks.boolean_bitnot(&free_before)),
                || sks.boolean_bitor(&free_before, &free),
            );
            free_before = next;
            place.push(sks.boolean_bitor(matched, &sks.boolean_bitand(&first_free, &absent)));
        }
        let stored = sks.boolean_bitor(&found, &free_before);
        self.keys
            .par_iter_mut()
            .zip(self.values.par_iter_mut())
            .zip(self.occupied.par_iter_mut())
            .zip(place.par_iter())
            .for_each(|(((k, v), occupied), place)| {
                let (new_k, new_v) = rayon::join(
                    || sks.cmux_parallelized(place, key, k),
                    || sks.cmux_parallelized(place, value, v),
                );
                *k = new_k;
                *v = new_v;
                *occupied = sks.boolean_bitor(occupied, place);
            });
        stored
    }
}
