//! The store and its two operations, on TFHE ciphertexts only.
//!
//! Nothing here branches on a secret: every operation touches every slot the
//! same way, so its cost depends only on the capacity and the bit widths.
//!
//! Work on slots runs in steps ([`Pace`]); between steps the calling thread
//! runs a callback (the extension checks for query cancel and
//! `statement_timeout` there). The callback never runs on a worker thread.

use rayon::prelude::*;
use tfhe::core_crypto::algorithms::lwe_ciphertext_opposite_assign;
use tfhe::integer::{BooleanBlock, RadixCiphertext, ServerKey};
use tfhe::shortint::ciphertext::{Degree, MaxNoiseLevel, NoiseLevel};
use tfhe::shortint::server_key::LookupTableOwned;
use tfhe::shortint::{Ciphertext, ServerKey as ShortKey};

use crate::boxed::Boxed;
use crate::chunks::{self, short, Chunked, Chunks};
use crate::encoding;
use crate::matching::Matcher;
use crate::params::blocks_for;

/// Slots whose picks a GET sums before cleaning the sum (stores of more
/// than 128 slots): the answer's noise depends on it, not on the pace.
pub const BATCH: usize = 8;

/// How slot work is split for the caller to be interrupted: `step` slots at
/// a time, in parallel, `between` called on the calling thread after each
/// step. One slot per worker thread makes the wait for an interrupt one
/// slot's work, whatever the machine's speed.
pub struct Pace<'a> {
    step: usize,
    between: Box<dyn FnMut() + 'a>,
}

impl<'a> Pace<'a> {
    pub fn new(step: usize, between: impl FnMut() + 'a) -> Pace<'a> {
        Pace { step: step.max(1), between: Box::new(between) }
    }

    /// One slot per thread of rayon's pool between calls of `between`.
    pub fn per_thread(between: impl FnMut() + 'a) -> Pace<'a> {
        Pace::new(rayon::current_num_threads(), between)
    }

    /// All slots at once, nothing between.
    pub fn unpaced() -> Pace<'static> {
        Pace::new(usize::MAX, || {})
    }

    /// `f` of every slot in `slots`, in order: in parallel, `step` at a
    /// time, calling `between` after each step.
    fn map<T: Send>(&mut self, slots: std::ops::Range<usize>, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
        let mut out = Vec::with_capacity(slots.len());
        let mut start = slots.start;
        while start < slots.end {
            let end = start.saturating_add(self.step).min(slots.end);
            out.par_extend((start..end).into_par_iter().map(&f));
            (self.between)();
            start = end;
        }
        out
    }
}

fn batches(n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..n).step_by(BATCH).map(move |start| start..(start + BATCH).min(n))
}

/// The slots of a store, as parallel vectors: the key as 4-bit chunks, the
/// value as halves of chunks ([`crate::chunks`]) and an encrypted
/// "occupied" flag. A free slot holds key 0 and value 0 (new slots are
/// zero and only a SET fills one): SET relies on it.
#[derive(Clone)]
pub struct Store {
    pub keys: Vec<Chunks>,
    pub values: Vec<Chunked>,
    pub occupied: Vec<BooleanBlock>,
}

/// An encrypted GET answer, for the client alone: sums of bootstrap outputs
/// that are never bootstrapped again, so the client decrypts them with its
/// key (`ClientKeys::decrypt_answer`) and the server spends no bootstrap on
/// cleaning, unpacking or reading the found flag.
pub struct Found {
    /// The value's 4-bit chunks, least significant first (0 when absent),
    /// each with a variance of at most [`ANSWER_VARIANCE_MAX`].
    pub chunks: Vec<Ciphertext>,
    /// The padding flag of "found" (16 units), variance the capacity.
    pub found: Ciphertext,
}

/// Most variance (in fresh-bootstrap units) of an answer's chunk. The client
/// decrypts without a bootstrap, so the bound is its rounding margin, half a
/// unit: 463 standard deviations of one bootstrap output (measured by
/// `stored_noise_stays_at_its_design_level`), 20 at this variance. Stores
/// whose picks ([`PICK_VARIANCE`] each) would sum past it clean each batch's
/// sum.
pub const ANSWER_VARIANCE_MAX: usize = 512;

/// Variance of one slot's pick: a bootstrap output plus the stored half.
pub const PICK_VARIANCE: usize = 1 + VALUE_HALF_VARIANCE;

/// Sum of terms of which at most one is non-zero (so the sum stays in
/// [0, 15]), each of `variance`: added in groups within the budget, each
/// group cleaned by one bootstrap, until one clean ciphertext is left.
fn sum_one_hot(
    sk: &ShortKey,
    mut terms: Vec<Ciphertext>,
    mut variance: usize,
    identity: &LookupTableOwned,
) -> Ciphertext {
    loop {
        if terms.len() == 1 && variance <= 1 {
            return terms.pop().expect("one term");
        }
        let group = (encoding::VARIANCE_BUDGET / variance).max(1);
        terms = terms.par_chunks(group).map(|g| sk.apply_lookup_table(&encoding::sum(sk, g), identity)).collect();
        variance = 1;
    }
}

/// Whether one of the padding flags is set, given that at most one is: their
/// sum is 16 units exactly then (and 0 otherwise, modulo 32).
fn one_hot_any(sk: &ShortKey, mut flags: Vec<Ciphertext>) -> BooleanBlock {
    while flags.len() > encoding::VARIANCE_BUDGET {
        flags = flags
            .par_chunks(encoding::VARIANCE_BUDGET)
            .map(|g| encoding::clean_flag(sk, &encoding::sum(sk, g)))
            .collect();
    }
    BooleanBlock::new_unchecked(encoding::flag_to_bit(sk, &encoding::sum(sk, &flags)))
}

/// Slots per block of the first-free search.
const FREE_BLOCK: usize = 8;

/// For bits f (each of variance 1): for every i, a ciphertext whose value is
/// 0 exactly when no bit before i is set (value at most 8, variance at most
/// 8), and whether any bit is set (clean). Blocks of 8, recursively: about
/// one bootstrap per 4 bits.
fn none_before(sk: &ShortKey, bits: &[Ciphertext], nonzero: &LookupTableOwned) -> (Vec<Ciphertext>, Ciphertext) {
    if bits.len() <= FREE_BLOCK {
        let mut running = sk.create_trivial(0);
        let mut before = Vec::with_capacity(bits.len());
        for b in bits {
            before.push(running.clone());
            sk.unchecked_add_assign(&mut running, b);
        }
        return (before, sk.apply_lookup_table(&running, nonzero));
    }
    let blocks: Vec<(Vec<Ciphertext>, Ciphertext)> =
        bits.par_chunks(FREE_BLOCK).map(|b| none_before(sk, b, nonzero)).collect();
    let block_any: Vec<Ciphertext> = blocks.iter().map(|(_, any)| any.clone()).collect();
    let (blocks_before, any) = none_before(sk, &block_any, nonzero);
    let blocks_before: Vec<Ciphertext> = blocks_before.par_iter().map(|s| sk.apply_lookup_table(s, nonzero)).collect();
    let before = blocks
        .into_iter()
        .zip(blocks_before)
        .flat_map(|((inner, _), outer)| {
            inner.into_iter().map(move |mut s| {
                sk.unchecked_add_assign(&mut s, &outer);
                s
            })
        })
        .collect();
    (before, any)
}

/// Noise bookkeeping of stored keys. A key chunk is not cleaned by every
/// SET: a SET adds the (usually zero) filled chunk, the variance of one
/// bootstrap output, and TFHE-rs' `NoiseLevel` of the chunk (persisted with
/// it) counts that up. A chunk is cleaned, one bootstrap, when the sum would
/// pass [`KEY_NOISE_MAX`]: a stored chunk then feeds a match with at most 15
/// (the query's own noise is the client's encryption noise, negligible) and
/// a cleaning with 16, within the budget. Cleaned chunks restart at 1, so
/// each key is cleaned every [`KEY_CLEAN_PERIOD`] SETs.
pub const KEY_NOISE_MAX: u64 = 15;
/// The variance one SET adds to a stored key chunk.
const KEY_FILL_NOISE: u64 = 1;
/// SETs between two cleanings of a key: levels 1, 2, ..., 15, then clean.
pub const KEY_CLEAN_PERIOD: usize = 15;

/// Raises the noise bookkeeping of a key as if `sets` SETs had passed (an
/// upper bound stays an upper bound). New stores age slot i by i mod
/// [`KEY_CLEAN_PERIOD`], so every SET cleans about a seventh of the keys
/// instead of all of them every seventh SET.
pub fn age_key(key: &mut Chunks, sets: usize, max: MaxNoiseLevel) {
    for chunk in key {
        chunk.set_noise_level(chunk.noise_level() + NoiseLevel::NOMINAL * (KEY_FILL_NOISE * sets as u64), max);
    }
}

/// The key of a slot after a SET: the query's chunks added where the padding
/// flag `fill` is set (a filled slot was free, so held 0). One blind
/// rotation of the client's boxed -q/2 gives ±q/2 for every chunk; adding
/// q/2 makes q or 0 (variance 1). Plus one bootstrap a chunk to clean it
/// when its noise is due (see [`KEY_NOISE_MAX`]).
fn fill_key(
    sk: &ShortKey,
    old: &Chunks,
    query: &Boxed,
    query_halves: &[Ciphertext],
    fill: &Ciphertext,
    tables: &Tables,
) -> Chunks {
    let rotated = query.rotate_by_flag(sk, fill);
    old.par_iter()
        .zip(rotated.par_iter().zip(query_halves))
        .map(|(old, (r, q_half))| {
            let mut key = encoding::sum(sk, [old, r, q_half]);
            key.degree = Degree::new(15);
            key.set_noise_level(old.noise_level() + NoiseLevel::NOMINAL * KEY_FILL_NOISE, sk.max_noise_level);
            if key.noise_level().get() > KEY_NOISE_MAX {
                key = sk.apply_lookup_table(&key, &tables.identity); // at most 15 + 1
            }
            key
        })
        .collect()
}

/// `c` where the padding flag `flag` is set, 0 where it is clear: one
/// bootstrap, `bootstrap(c + flag + 16)/2 + c/2` (variance: c's + flag's
/// into the bootstrap, 1 + c/2's out).
fn select(
    sk: &ShortKey,
    c: &Ciphertext,
    c_half: &Ciphertext,
    flag: &Ciphertext,
    half: &LookupTableOwned,
) -> Ciphertext {
    let mut x = encoding::sum(sk, [c, flag]);
    encoding::add_constant(&mut x, encoding::FLAG);
    encoding::sum(sk, [&sk.apply_lookup_table(&x, half), c_half])
}

/// Most variance of a stored half: a SET writes the sum of three bootstrap
/// outputs (see [`place_value`]), so a chunk (twice the half) carries 12.
pub const VALUE_HALF_VARIANCE: usize = 3;

/// The value of a slot after a SET: `new` where the padding flag `place` is
/// set, `old` where it is clear, as halves. Per chunk, from old = 2·(old/2):
/// `bootstrap(old + place)` and `bootstrap(old)`, both with the table x/4,
/// sum to old/2 where place is clear and 0 where set; for all chunks at once,
/// one blind rotation of the client's boxed -v/4, plus v/4, gives v/2 where
/// place is set and 0 where clear. Two bootstraps a chunk and one rotation
/// (variance 3: [`VALUE_HALF_VARIANCE`]).
fn place_value(
    sk: &ShortKey,
    old: &Chunked,
    new: &Boxed,
    new_quarters: &[Ciphertext],
    place: &Ciphertext,
    tables: &Tables,
) -> Chunked {
    let (taken, kept): (Vec<Ciphertext>, Vec<Ciphertext>) = rayon::join(
        || new.rotate_by_flag(sk, place),
        || {
            old.halves
                .par_iter()
                .map(|old_h| {
                    // Variances into the bootstraps: old chunk 4 · 3, + place 2.
                    let chunk = chunks::double(sk, old_h);
                    let (signed, plain) = rayon::join(
                        || sk.apply_lookup_table(&encoding::sum(sk, [&chunk, place]), &tables.quarter),
                        || sk.apply_lookup_table(&chunk, &tables.quarter),
                    );
                    encoding::sum(sk, [&signed, &plain])
                })
                .collect()
        },
    );
    let halves = kept
        .iter()
        .zip(taken.iter().zip(new_quarters))
        .map(|(k, (t, q))| {
            let mut half = encoding::sum(sk, [k, t, q]);
            half.degree = Degree::new(15);
            half
        })
        .collect();
    Chunked { halves }
}

/// A SET's operands as the client encrypts them ([`crate::boxed`]): the
/// key's chunks as -q/2 and the value's as -v/4 (half and quarter units).
pub struct SetOperands {
    pub key: Boxed,
    pub value: Boxed,
}

/// The lookup tables of one GET or SET.
struct Tables {
    identity: LookupTableOwned,
    half: LookupTableOwned,
    quarter: LookupTableOwned,
    nonzero: LookupTableOwned,
    flag_is_zero: LookupTableOwned,
    /// (o + fill flag) -> o OR fill, in half units less 1/2.
    or_flag: LookupTableOwned,
}

impl Tables {
    fn new(sk: &ShortKey) -> Tables {
        Tables {
            identity: sk.generate_lookup_table(|x| x),
            half: encoding::half_identity(sk),
            quarter: encoding::quarter_identity(sk),
            nonzero: sk.generate_lookup_table(|x| u64::from(x != 0)),
            flag_is_zero: encoding::flag_of(sk, |x| x == 0),
            // 0 -> -1/2, 1 -> +1/2, and 16 (negacyclic) -> +1/2.
            or_flag: encoding::halves(sk, |x| if x == 0 { 31 } else { 1 }),
        }
    }
}

impl Store {
    /// An empty store of `capacity` slots. The slots are trivial encryptions
    /// (of 0 and "free"): that a new store is empty is public anyway; the
    /// first SET turns every slot into a real ciphertext. Slot i's key is
    /// aged by i mod [`KEY_CLEAN_PERIOD`] SETs ([`age_key`]).
    pub fn empty(sks: &ServerKey, capacity: usize, key_bits: usize, value_bits: usize) -> Store {
        let zero = short(sks).create_trivial(0);
        let key = vec![zero; chunks::count_for(blocks_for(key_bits))];
        Store {
            keys: (0..capacity)
                .map(|i| {
                    let mut k = key.clone();
                    age_key(&mut k, i % KEY_CLEAN_PERIOD, short(sks).max_noise_level);
                    k
                })
                .collect(),
            values: vec![Chunked::zero(sks, blocks_for(value_bits)); capacity],
            occupied: (0..capacity).map(|_| sks.create_trivial_boolean_block(false)).collect(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.keys.len()
    }

    /// One padding flag per slot (16 units when true): occupied and holding
    /// the matcher's key. At most one is set, since SET keeps keys unique.
    pub fn matches(&self, matcher: &Matcher, pace: &mut Pace) -> Vec<Ciphertext> {
        pace.map(0..self.capacity(), |i| matcher.matches(&self.keys[i], &self.occupied[i]))
    }

    /// The chunks of the value of the slot whose flag is set (0 when none
    /// is), in batches: one bootstrap per chunk and slot, summed for the
    /// client to decrypt (see [`Found`]); stores of more than 128 slots add
    /// one bootstrap per chunk and batch to clean the batch's sum.
    pub fn select(&self, sks: &ServerKey, flags: &[Ciphertext], pace: &mut Pace) -> Vec<Ciphertext> {
        let sk = short(sks);
        let tables = Tables::new(sk);
        let width = self.values[0].halves.len();
        let clean = PICK_VARIANCE * self.capacity() > ANSWER_VARIANCE_MAX;
        let mut total: Vec<Option<Ciphertext>> = vec![None; width];
        for range in batches(self.capacity()) {
            let picked: Vec<Vec<Ciphertext>> = pace.map(range, |i| {
                let value = &self.values[i];
                // The chunk is twice its half: variance 4 · 3, + flag 1; out PICK_VARIANCE.
                value
                    .halves
                    .par_iter()
                    .map(|h| select(sk, &chunks::double(sk, h), h, &flags[i], &tables.half))
                    .collect()
            });
            let sums: Vec<Ciphertext> = (0..width)
                .into_par_iter()
                .map(|c| {
                    let terms: Vec<Ciphertext> = picked.iter().map(|p| p[c].clone()).collect();
                    if clean {
                        sum_one_hot(sk, terms, PICK_VARIANCE, &tables.identity) // variance 1 a batch: 128 at 1024 slots
                    } else {
                        encoding::sum(sk, &terms) // PICK_VARIANCE a slot: at most 512
                    }
                })
                .collect();
            for (t, s) in total.iter_mut().zip(sums) {
                match t {
                    Some(t) => sk.unchecked_add_assign(t, &s),
                    None => *t = Some(s),
                }
            }
        }
        total.into_iter().map(|t| t.expect("a store has at least one slot")).collect()
    }

    /// Private GET: the value under `key` (0 when absent) and whether it was
    /// found, for the client to decrypt.
    pub fn get(&self, sks: &ServerKey, key: &RadixCiphertext, pace: &mut Pace) -> Found {
        let flags = self.matches(&Matcher::new(sks, key), pace);
        let chunks = self.select(sks, &flags, pace);
        // At most one flag is set: their sum is the flag of "found".
        let found = encoding::sum(short(sks), &flags);
        Found { chunks, found }
    }

    /// Private SET: stores the operands' value under their key, overwriting
    /// the slot that holds the key or else filling the first free slot.
    /// Returns an encrypted "stored" flag, false only when the key was
    /// absent and no slot was free.
    pub fn set(&mut self, sks: &ServerKey, operands: &SetOperands, pace: &mut Pace) -> BooleanBlock {
        let sk = short(sks);
        let tables = Tables::new(sk);
        // Read without a rotation: -q/2 and -v/4, with the client's noise only.
        let minus_key_halves = operands.key.constants(sk);
        let negated_query: Chunks = minus_key_halves.iter().map(|h| chunks::double(sk, h)).collect();
        let key_halves = encoding::negated(&minus_key_halves);
        let value_quarters = encoding::negated(&operands.value.constants(sk));
        let matched = self.matches(&Matcher::from_negated(sks, negated_query), pace);
        let found = one_hot_any(sk, matched.clone());
        let found: &Ciphertext = found.as_ref();

        // The first free slot: x = (free slots before it) + occupied + found
        // is 0 only there, and only when the key is absent (variance <= 10).
        let free: Vec<Ciphertext> = self
            .occupied
            .iter()
            .map(|o| {
                let mut f: Ciphertext = AsRef::<Ciphertext>::as_ref(o).clone();
                lwe_ciphertext_opposite_assign(&mut f.ct);
                encoding::add_constant(&mut f, encoding::UNIT);
                f
            })
            .collect();
        let (none_before, any_free) = none_before(sk, &free, &tables.nonzero);
        let stored = sk.apply_lookup_table(&encoding::sum(sk, [found, &any_free]), &tables.nonzero);
        let updated: Vec<(Chunks, Chunked, Ciphertext)> = pace.map(0..self.capacity(), |i| {
            let occupied: &Ciphertext = self.occupied[i].as_ref();
            let x = encoding::sum(sk, [&none_before[i], occupied, found]);
            let fill = sk.apply_lookup_table(&x, &tables.flag_is_zero);
            // Filling and matching exclude each other (a fill needs an absent key).
            let place = encoding::sum(sk, [&fill, &matched[i]]);
            let ((new_key, new_value), new_occupied) = rayon::join(
                || {
                    rayon::join(
                        || fill_key(sk, &self.keys[i], &operands.key, &key_halves, &fill, &tables),
                        || place_value(sk, &self.values[i], &operands.value, &value_quarters, &place, &tables),
                    )
                },
                || {
                    // occupied + fill flag is 0, 1 or 16 (never 17).
                    let mut o = sk.apply_lookup_table(&encoding::sum(sk, [occupied, &fill]), &tables.or_flag);
                    encoding::add_constant(&mut o, encoding::UNIT / 2);
                    o.degree = Degree::new(1);
                    o
                },
            );
            (new_key, new_value, new_occupied)
        });
        for (i, (k, v, o)) in updated.into_iter().enumerate() {
            self.keys[i] = k;
            self.values[i] = v;
            self.occupied[i] = BooleanBlock::new_unchecked(o);
        }
        BooleanBlock::new_unchecked(stored)
    }
}
