//! The store and its two operations, on TFHE ciphertexts only.
//!
//! Nothing here branches on a secret: every operation touches every slot the
//! same way, so its cost depends only on the capacity and the bit widths.
//!
//! Work runs in batches of slots ([`Pace`]); between batches the calling
//! thread runs a callback (the extension checks for query cancel and
//! `statement_timeout` there). The callback never runs on a worker thread.

use rayon::prelude::*;
use tfhe::integer::{BooleanBlock, IntegerCiphertext, RadixCiphertext, ServerKey};

use crate::matching::{self, Chunks, Matcher};
use crate::params::blocks_for;

/// Slots per batch: a second or two of work at 16-bit keys on two cores.
pub const BATCH: usize = 8;

/// How work is split: `batch` slots at a time, `between` called on the
/// calling thread after each batch.
pub struct Pace<'a> {
    batch: usize,
    between: Box<dyn FnMut() + 'a>,
}

impl<'a> Pace<'a> {
    pub fn new(batch: usize, between: impl FnMut() + 'a) -> Pace<'a> {
        Pace { batch: batch.max(1), between: Box::new(between) }
    }

    /// Batches of [`BATCH`], nothing between them.
    pub fn unpaced() -> Pace<'static> {
        Pace::new(BATCH, || {})
    }

    fn batches(&self, n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
        let batch = self.batch;
        (0..n).step_by(batch).map(move |start| start..(start + batch).min(n))
    }

    fn between(&mut self) {
        (self.between)()
    }
}

/// The slots of a store: an encrypted key (also as 4-bit chunks, for
/// matching: see [`crate::matching`]), an encrypted value and an encrypted
/// "occupied" flag each, kept as parallel vectors (the dot product that
/// selects a value takes a slice of values).
#[derive(Clone)]
pub struct Store {
    pub keys: Vec<RadixCiphertext>,
    pub key_chunks: Vec<Chunks>,
    pub values: Vec<RadixCiphertext>,
    pub occupied: Vec<BooleanBlock>,
}

/// An encrypted GET answer.
pub struct Found {
    pub value: RadixCiphertext,
    pub found: BooleanBlock,
}

/// OR of encrypted booleans: sums of up to 5 (the noise budget) tested for
/// non-zero by one bootstrap each, repeated: n/4 bootstraps instead of the
/// n - 1 of a tree of ORs.
pub fn any(sks: &ServerKey, flags: &[BooleanBlock]) -> BooleanBlock {
    let short: &tfhe::shortint::ServerKey = sks.as_ref();
    let non_zero = short.generate_lookup_table(|x| u64::from(x != 0));
    let mut level: Vec<tfhe::shortint::Ciphertext> = flags.iter().map(|f| AsRef::<tfhe::shortint::Ciphertext>::as_ref(f).clone()).collect();
    if level.is_empty() {
        return sks.create_trivial_boolean_block(false);
    }
    while level.len() > 1 {
        level = level
            .par_chunks(5)
            .map(|group| {
                let mut sum = group[0].clone();
                for flag in &group[1..] {
                    short.unchecked_add_assign(&mut sum, flag);
                }
                short.apply_lookup_table(&sum, &non_zero)
            })
            .collect();
    }
    BooleanBlock::new_unchecked(level.pop().expect("one flag left"))
}

impl Store {
    /// An empty store of `capacity` slots. The slots are trivial encryptions
    /// (of 0 and "free"): that a new store is empty is public anyway; the
    /// first SET turns every slot into a real ciphertext.
    pub fn empty(sks: &ServerKey, capacity: usize, key_bits: usize, value_bits: usize) -> Store {
        let zero_key: RadixCiphertext = sks.create_trivial_zero_radix(blocks_for(key_bits));
        let zero_chunks = matching::chunks(sks, &zero_key);
        Store {
            keys: vec![zero_key; capacity],
            key_chunks: vec![zero_chunks; capacity],
            values: (0..capacity).map(|_| sks.create_trivial_zero_radix(blocks_for(value_bits))).collect(),
            occupied: (0..capacity).map(|_| sks.create_trivial_boolean_block(false)).collect(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.keys.len()
    }

    /// One encrypted flag per slot: occupied and holding `key`. At most one is
    /// true, since SET keeps keys unique.
    pub fn matches(&self, sks: &ServerKey, key: &RadixCiphertext, pace: &mut Pace) -> Vec<BooleanBlock> {
        let matcher = Matcher::new(sks, key);
        let mut flags = Vec::with_capacity(self.capacity());
        for range in pace.batches(self.capacity()) {
            flags.par_extend(
                self.key_chunks[range.clone()]
                    .par_iter()
                    .zip(self.occupied[range].par_iter())
                    .map(|(chunks, occupied)| matcher.matches(chunks, occupied)),
            );
            pace.between();
        }
        flags
    }

    /// The value of the slot whose flag is set (0 when none is), in batches.
    fn select(&self, sks: &ServerKey, flags: &[BooleanBlock], pace: &mut Pace) -> RadixCiphertext {
        // At most one part is non-zero, so parts add without carries; a sum
        // of 5 reaches the noise budget and is cleaned (one bootstrap a block).
        let short: &tfhe::shortint::ServerKey = sks.as_ref();
        let mut value: Option<(RadixCiphertext, usize)> = None;
        for range in pace.batches(self.capacity()) {
            let part = sks.boolean_one_hot_dot_prod(&flags[range.clone()], &self.values[range]);
            value = Some(match value {
                None => (part, 1),
                Some((mut sum, mut parts)) => {
                    if parts == 5 {
                        sum.blocks_mut().par_iter_mut().for_each(|b| short.message_extract_assign(b));
                        parts = 1;
                    }
                    sum.blocks_mut().iter_mut().zip(part.blocks()).for_each(|(l, r)| short.unchecked_add_assign(l, r));
                    (sum, parts + 1)
                }
            });
            pace.between();
        }
        let (mut sum, parts) = value.expect("a store has at least one slot");
        if parts > 1 {
            sum.blocks_mut().par_iter_mut().for_each(|b| short.message_extract_assign(b));
        }
        sum
    }

    /// Private GET: the value under `key` (an encryption of 0 when absent) and
    /// whether it was found.
    pub fn get(&self, sks: &ServerKey, key: &RadixCiphertext, pace: &mut Pace) -> Found {
        let flags = self.matches(sks, key, pace);
        let found = any(sks, &flags);
        let value = self.select(sks, &flags, pace);
        Found { value, found }
    }

    /// Private SET: stores `value` under `key`, overwriting the slot that
    /// holds `key` or else filling the first free slot. Returns an encrypted
    /// "stored" flag, false only when the key was absent and no slot was free.
    pub fn set(
        &mut self,
        sks: &ServerKey,
        key: &RadixCiphertext,
        value: &RadixCiphertext,
        pace: &mut Pace,
    ) -> BooleanBlock {
        let matches = self.matches(sks, key, pace);
        let found = any(sks, &matches);
        let absent = sks.boolean_bitnot(&found);
        // first_free[i] = free[i] AND no slot before i is free (a prefix OR).
        let mut free_before = sks.create_trivial_boolean_block(false);
        let mut place = Vec::with_capacity(self.capacity());
        for range in pace.batches(self.capacity()) {
            for i in range {
                let free = sks.boolean_bitnot(&self.occupied[i]);
                let (first_free, next) = rayon::join(
                    || sks.boolean_bitand(&free, &sks.boolean_bitnot(&free_before)),
                    || sks.boolean_bitor(&free_before, &free),
                );
                free_before = next;
                place.push(sks.boolean_bitor(&matches[i], &sks.boolean_bitand(&first_free, &absent)));
            }
            pace.between();
        }
        let stored = sks.boolean_bitor(&found, &free_before);
        for range in pace.batches(self.capacity()) {
            self.keys[range.clone()]
                .par_iter_mut()
                .zip(self.values[range.clone()].par_iter_mut())
                .zip(self.occupied[range.clone()].par_iter_mut())
                .zip(place[range.clone()].par_iter())
                .for_each(|(((k, v), occupied), place)| {
                    let (new_k, new_v) = rayon::join(
                        || sks.cmux_parallelized(place, key, k),
                        || sks.cmux_parallelized(place, value, v),
                    );
                    *k = new_k;
                    *v = new_v;
                    *occupied = sks.boolean_bitor(occupied, place);
                });
            // Every slot's chunks are recomputed: which key changed is the secret.
            let chunks: Vec<Chunks> = self.keys[range.clone()].par_iter().map(|k| matching::chunks(sks, k)).collect();
            self.key_chunks.splice(range, chunks);
            pace.between();
        }
        stored
    }
}
