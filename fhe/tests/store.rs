//! Every case of the private store, decrypted and checked, at small size:
//! 4 slots, 8-bit keys and values, in steps of 3 slots so that work crosses
//! a step boundary. Run optimized (`cargo test --release -p pseudo_fhe`):
//! one bootstrap takes seconds in a debug build.

use pseudo_fhe::chunks::{double, pack, Chunked};
use pseudo_fhe::client::ClientKeys;
use pseudo_fhe::store::{KEY_CLEAN_PERIOD, KEY_NOISE_MAX, PICK_VARIANCE, VALUE_HALF_VARIANCE};
use pseudo_fhe::wire::Kind;
use pseudo_fhe::{blocks_for, wire, Pace, SetOperands, Store};
use std::cell::Cell;
use tfhe::integer::{ClientKey, RadixCiphertext, ServerKey};

const BITS: usize = 8;
const CAPACITY: usize = 4;

struct Client {
    cks: ClientKey,
}

/// A SET's operands as the client sends them, through their wire format.
fn operands(keys: &ClientKeys, key_bits: usize, key: u64, value_bits: usize, value: u64) -> SetOperands {
    let id = keys.key_id();
    SetOperands {
        key: wire::decode_boxed(&keys.encrypt_set_key(key_bits, key).unwrap(), Kind::SetKey, id, "key", key_bits)
            .unwrap(),
        value: wire::decode_boxed(
            &keys.encrypt_set_value(value_bits, value).unwrap(),
            Kind::SetValue,
            id,
            "value",
            value_bits,
        )
        .unwrap(),
    }
}

impl Client {
    fn enc(&self, v: u64) -> RadixCiphertext {
        self.cks.encrypt_radix(v, blocks_for(BITS))
    }
    /// A stored key: its chunks packed back.
    fn key(&self, chunks: &[tfhe::shortint::Ciphertext]) -> u64 {
        let short: &tfhe::shortint::ClientKey = self.cks.as_ref();
        chunks.iter().enumerate().map(|(c, chunk)| short.decrypt_message_and_carry(chunk) << (4 * c)).sum()
    }
    /// A stored value: its chunks (twice their halves) packed back.
    fn value(&self, sks: &ServerKey, n: &Chunked) -> u64 {
        let short: &tfhe::shortint::ClientKey = self.cks.as_ref();
        n.halves
            .iter()
            .enumerate()
            .map(|(c, half)| short.decrypt_message_and_carry(&double(sks.as_ref(), half)) << (4 * c))
            .sum()
    }
    /// The clear view of the store: (key, value) of each occupied slot.
    fn slots(&self, sks: &ServerKey, store: &Store) -> Vec<Option<(u64, u64)>> {
        (0..store.capacity())
            .map(|i| {
                let kv = (self.key(&store.keys[i]), self.value(sks, &store.values[i]));
                self.cks.decrypt_bool(&store.occupied[i]).then_some(kv)
            })
            .collect()
    }
}

#[test]
fn get_set_hit_miss_overwrite_insert_full_and_duplicates() {
    let keys = ClientKeys::generate().unwrap();
    // The server key goes through its wire format, as in the database.
    let (key_id, compressed) = wire::decode_server_key(&keys.server_key_blob()).unwrap();
    assert_eq!(&key_id, keys.key_id());
    let sks = compressed.decompress();
    let client = Client { cks: keys.tfhe_key().clone() };
    let mut store = Store::empty(&sks, CAPACITY, BITS, BITS);
    let pauses = Cell::new(0usize);
    let mut pace = Pace::new(3, || pauses.set(pauses.get() + 1));
    let mut get = |store: &Store, key: u64| {
        let before = pauses.get();
        let r = store.get(&sks, &client.enc(key), &mut pace);
        assert_eq!(pauses.get() - before, 4, "GET pauses after each step of matches and of the selection");
        // The answer goes through its wire format and the client's decryption.
        let (found, value) = keys.decrypt_answer(&r).unwrap();
        let answer = wire::encode_get_answer(&key_id, BITS, &r);
        assert_eq!(keys.decrypt_get(&answer).unwrap(), found.then_some(value));
        (found, value)
    };
    let mut pace = Pace::new(3, || {});
    let pair = |k: u64, v: u64| operands(&keys, BITS, k, BITS, v);

    assert_eq!(get(&store, 0), (false, 0), "miss on an empty store, even for key 0");
    assert_eq!(get(&store, 42), (false, 0), "miss on an empty store");

    let stored = store.set(&sks, &pair(42, 7), &mut pace);
    assert!(client.cks.decrypt_bool(&stored), "insert into an empty store");
    assert_eq!(client.slots(&sks, &store), vec![Some((42, 7)), None, None, None], "insert fills the first free slot");
    assert_eq!(get(&store, 42), (true, 7), "hit");
    assert_eq!(get(&store, 43), (false, 0), "miss next to a hit");

    let stored = store.set(&sks, &pair(42, 9), &mut pace);
    assert!(client.cks.decrypt_bool(&stored));
    assert_eq!(client.slots(&sks, &store), vec![Some((42, 9)), None, None, None], "overwrite keeps one slot");
    assert_eq!(get(&store, 42), (true, 9), "hit after overwrite");

    for (k, v) in [(0u64, 100u64), (255, 255), (17, 1)] {
        assert!(client.cks.decrypt_bool(&store.set(&sks, &pair(k, v), &mut pace)), "insert {k}");
    }
    assert_eq!(client.slots(&sks, &store), vec![Some((42, 9)), Some((0, 100)), Some((255, 255)), Some((17, 1))]);
    assert_eq!(get(&store, 0), (true, 100), "key 0 is a real key once stored");
    assert_eq!(get(&store, 255), (true, 255));

    let before = client.slots(&sks, &store);
    let stored = store.set(&sks, &pair(99, 5), &mut pace);
    assert!(!client.cks.decrypt_bool(&stored), "full: reported only in the encrypted result");
    assert_eq!(client.slots(&sks, &store), before, "a full store is unchanged");
    assert_eq!(get(&store, 99), (false, 0));

    let stored = store.set(&sks, &pair(17, 2), &mut pace);
    assert!(client.cks.decrypt_bool(&stored), "overwrite works in a full store");
    let slots = client.slots(&sks, &store);
    assert_eq!(slots.iter().filter(|s| matches!(s, Some((17, _)))).count(), 1, "duplicate SET leaves one slot");
    assert_eq!(get(&store, 17), (true, 2));
}

/// The chunk comparison is right for every difference of two 4-bit chunks,
/// -15..=15 (the negacyclic half included), and ANDs the occupied flag.
#[test]
fn chunk_matching_covers_every_difference() {
    let keys = ClientKeys::generate().unwrap();
    let cks = keys.tfhe_key();
    let sks = tfhe::integer::ServerKey::new_radix_server_key(cks);
    let stored: Vec<_> = (0..16u64).map(|k| pack(&sks, &cks.encrypt_radix(k, 2))).collect();
    let (yes, no) = (cks.encrypt_bool(true), cks.encrypt_bool(false));
    for q in [0u64, 7, 15] {
        let matcher = pseudo_fhe::matching::Matcher::new(&sks, &cks.encrypt_radix(q, 2));
        for (k, chunks) in stored.iter().enumerate() {
            assert_eq!(cks.decrypt_bool(&matcher.matches_bool(chunks, &yes)), k as u64 == q, "stored {k}, query {q}");
        }
        assert!(!cks.decrypt_bool(&matcher.matches_bool(&stored[q as usize], &no)), "a free slot never matches");
    }
}

/// The first-free search works across blocks of slots (8 a block, then
/// blocks of blocks): in 17 slots, a SET of an absent key fills the first
/// free slot wherever it is.
#[test]
fn insert_finds_the_first_free_slot_across_blocks() {
    let keys = ClientKeys::generate().unwrap();
    let cks = keys.tfhe_key();
    let sks = ServerKey::new_radix_server_key(cks);
    let client = Client { cks: cks.clone() };
    for free in [12usize, 3, 16] {
        let mut store = Store::empty(&sks, 17, 2, 2);
        for i in 0..17 {
            store.occupied[i] = cks.encrypt_bool(i < free || i == 15);
        }
        let stored = store.set(&sks, &operands(&keys, 2, 2, 2, 3), &mut Pace::unpaced());
        assert!(cks.decrypt_bool(&stored));
        let slots = client.slots(&sks, &store);
        for (i, slot) in slots.iter().enumerate() {
            let expected = if i == free {
                Some((2, 3))
            } else if i < free || i == 15 {
                Some((0, 0))
            } else {
                None
            };
            assert_eq!(*slot, expected, "first free slot {free}: slot {i}");
        }
    }
}

/// A store of more than 128 slots cleans each batch's sum before the client
/// decrypts the answer (`ANSWER_VARIANCE_MAX`): GETs still find the one
/// occupied slot among 257 and miss an absent key.
#[test]
fn large_stores_clean_the_answer_in_batches() {
    let keys = ClientKeys::generate().unwrap();
    let cks = keys.tfhe_key();
    let sks = ServerKey::new_radix_server_key(cks);
    let mut store = Store::empty(&sks, 257, 2, 2);
    store.keys[200] = pack(&sks, &cks.encrypt_radix(3u64, 1));
    store.values[200] = Chunked::of(&sks, &cks.encrypt_radix(2u64, 1));
    store.occupied[200] = cks.encrypt_bool(true);
    for (key, expected) in [(3u64, (true, 2)), (1, (false, 0))] {
        let answer = store.get(&sks, &cks.encrypt_radix(key, 1), &mut Pace::unpaced());
        assert_eq!(keys.decrypt_answer(&answer).unwrap(), expected, "GET {key}");
    }
}

/// The noise of every stored ciphertext stays at its design level however
/// many SETs a store has seen (`fhe/src/encoding.rs`: variances in units of
/// one fresh bootstrap output): value halves `VALUE_HALF_VARIANCE` (3: three
/// bootstrap outputs), value chunks 12 (twice a half), occupied flags 1, key
/// chunks their recorded noise level, which stays at most `KEY_NOISE_MAX`
/// (15) because each SET cleans the keys that are due, one slot in
/// `KEY_CLEAN_PERIOD` (15). Measured with the client key after 16 SETs of a
/// 15-slot store, against the spread of 64 fresh bootstrap outputs; a bound
/// of 6 standard deviations is never crossed by chance (2e-9 a sample),
/// while keys never cleaned (variance 1 more per SET) would break the level
/// bound at once and the noise bound soon after.
#[test]
fn stored_noise_stays_at_its_design_level() {
    use pseudo_fhe::encoding::UNIT;
    let keys = ClientKeys::generate().unwrap();
    let cks = keys.tfhe_key();
    let sks = ServerKey::new_radix_server_key(cks);
    let short_cks: &tfhe::shortint::ClientKey = cks.as_ref();
    let sk: &tfhe::shortint::ServerKey = sks.as_ref();
    // The noise of a ciphertext holding a multiple of `scale`.
    let noise = |ct: &tfhe::shortint::Ciphertext, scale: u64| -> f64 {
        let phase = short_cks.decrypt_no_decode(ct).0;
        let value = (phase.wrapping_add(scale / 2)) / scale;
        phase.wrapping_sub(value.wrapping_mul(scale)) as i64 as f64
    };

    let identity = sk.generate_lookup_table(|x| x);
    let fresh: Vec<f64> =
        (0..64u64).map(|i| noise(&sk.apply_lookup_table(&short_cks.encrypt(i % 4), &identity), UNIT)).collect();
    let sigma = (fresh.iter().map(|n| n * n).sum::<f64>() / fresh.len() as f64).sqrt();
    assert!(sigma > 0.0 && sigma < UNIT as f64 / 64.0, "fresh bootstrap noise {sigma} is small and not zero");

    let slots = KEY_CLEAN_PERIOD;
    let mut store = Store::empty(&sks, slots, 8, 8);
    let level = |store: &Store, i: usize| store.keys[i].iter().map(|c| c.noise_level().get()).max().unwrap();
    for round in 0..16u64 {
        let key = if round % 3 == 0 { 5u64 } else { 9 };
        let stored = store.set(&sks, &operands(&keys, 8, key, 8, round * 7 % 256), &mut Pace::unpaced());
        assert!(cks.decrypt_bool(&stored));
        // The cleaning is spread: each SET cleans one slot's key of the fifteen.
        let cleaned = (0..slots).filter(|&i| level(&store, i) == 1).count();
        assert_eq!(cleaned, 1, "round {round}: keys cleaned");
        assert!((0..slots).all(|i| level(&store, i) <= KEY_NOISE_MAX), "round {round}: a key above its noise bound");
    }
    let bound = |variance: f64| 6.0 * sigma * variance.sqrt();
    let mut worst = 0.0f64;
    let check_answer = |what: &str, ct: &tfhe::shortint::Ciphertext, variance: f64| {
        let n = noise(ct, UNIT).abs();
        assert!(n < bound(variance), "{what}: noise {n:.3e} over 6 sd of variance {variance}");
    };
    for i in 0..slots {
        let mut check = |what: &str, ct: &tfhe::shortint::Ciphertext, scale: u64, variance: f64| {
            let n = noise(ct, scale).abs();
            worst = worst.max(n / (sigma * variance.sqrt()));
            assert!(
                n < bound(variance),
                "slot {i}, {what}: noise {n:.3e} over 6 sd of variance {variance} (sd of one fresh output {sigma:.3e})"
            );
        };
        for c in &store.keys[i] {
            check("key chunk", c, UNIT, c.noise_level().get() as f64);
        }
        for h in &store.values[i].halves {
            let v = VALUE_HALF_VARIANCE as f64;
            check("value half", h, UNIT / 2, v);
            check("value chunk (twice the half)", &double(sk, h), UNIT, 4.0 * v);
        }
        check("occupied", store.occupied[i].as_ref(), UNIT, 1.0);
    }
    // A GET answer is decrypted without a bootstrap: its chunks sum one pick
    // (PICK_VARIANCE) per slot, its found flag one match flag per slot.
    for key in [5u64, 77] {
        let answer = store.get(&sks, &cks.encrypt_radix(key, 4), &mut Pace::unpaced());
        for c in &answer.chunks {
            check_answer("answer chunk", c, (PICK_VARIANCE * slots) as f64);
        }
        check_answer("answer found flag", &answer.found, slots as f64);
        assert_eq!(keys.decrypt_answer(&answer).unwrap().0, key == 5);
    }
    println!("fresh bootstrap noise sd {sigma:.3e} (of a unit {UNIT:.3e}); worst stored noise {worst:.2} sd of its design variance");
}

/// The boxed accumulator of `boxed.rs`: rotated by an encrypted padding flag,
/// one blind rotation gives (-1)^flag · a_k for all 16 chunks a GLWE holds
/// (a 64-bit value), with the noise of one bootstrap output; read without a
/// rotation, a_k with the client's encryption noise only. A public (trivial)
/// flag gives the same signs.
#[test]
fn a_boxed_accumulator_is_selected_by_a_flag_in_one_rotation() {
    use pseudo_fhe::encoding::{self, UNIT};
    let keys = ClientKeys::generate().unwrap();
    let cks = keys.tfhe_key();
    let sks = ServerKey::new_radix_server_key(cks);
    let short_cks: &tfhe::shortint::ClientKey = cks.as_ref();
    let sk: &tfhe::shortint::ServerKey = sks.as_ref();
    let value = 0xfedc_ba98_7654_3210u64;
    let boxed =
        wire::decode_boxed(&keys.encrypt_set_value(64, value).unwrap(), Kind::SetValue, keys.key_id(), "value", 64)
            .unwrap();
    assert_eq!(boxed.chunks, 16);
    // Phases relative to -v_k/4, in units.
    let error = |ct: &tfhe::shortint::Ciphertext, k: usize, sign: i64| -> f64 {
        let expected = (((value >> (4 * k)) & 15) * (UNIT / 4)).wrapping_neg() as i64 * sign;
        (short_cks.decrypt_no_decode(ct).0 as i64).wrapping_sub(expected) as f64 / UNIT as f64
    };
    for (k, c) in boxed.constants(sk).iter().enumerate() {
        assert!(error(c, k, 1).abs() < 1e-6, "chunk {k} read without rotation: error {} units", error(c, k, 1));
    }
    let flag_of_bit = encoding::flag_of(sk, |x| x == 1);
    for bit in [0u64, 1, 1, 0] {
        let flag = sk.apply_lookup_table(&short_cks.encrypt(bit), &flag_of_bit);
        let trivial = sk.create_trivial(0);
        let mut trivial_flag = trivial.clone();
        encoding::add_constant(&mut trivial_flag, bit * encoding::FLAG);
        for (what, f) in [("encrypted", &flag), ("trivial", &trivial_flag)] {
            let out = boxed.rotate_by_flag(sk, f);
            assert_eq!(out.len(), 16);
            let sign = if bit == 1 { -1 } else { 1 };
            for (k, c) in out.iter().enumerate() {
                // One bootstrap output's noise is about 1e-3 units.
                assert!(
                    error(c, k, sign).abs() < 0.05,
                    "{what} flag {bit}, chunk {k}: error {} units",
                    error(c, k, sign)
                );
            }
        }
    }
}
