//! Latency of private GET and SET (this crate) beside the naive variant
//! (eq + if_then_else + sum), for capacity 16 and 64 and 8- and 16-bit keys
//! and values, in one run on one machine. Not a test.
//!   cargo run --profile fhe -p pseudo_fhe --example kv_bench [CAPACITY...]

use pseudo_fhe::{blocks_for, Store};
use std::time::Instant;
use tfhe::integer::IntegerCiphertext;
use tfhe::integer::{ClientKey, RadixCiphertext, ServerKey};
use tfhe::shortint::parameters::PARAM_MESSAGE_2_CARRY_2_KS_PBS;

fn naive_get(sks: &ServerKey, store: &Store, key: &RadixCiphertext) -> RadixCiphertext {
    let picked: Vec<RadixCiphertext> = store
        .keys
        .iter()
        .zip(&store.values)
        .zip(&store.occupied)
        .map(|((k, v), o)| {
            let hit = sks.boolean_bitand(&sks.eq_parallelized(k, key), o);
            let zero: RadixCiphertext = sks.create_trivial_zero_radix(v.blocks().len());
            sks.cmux_parallelized(&hit, v, &zero)
        })
        .collect();
    picked.into_iter().reduce(|a, b| sks.add_parallelized(&a, &b)).unwrap()
}

fn main() {
    let capacities: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let capacities = if capacities.is_empty() { vec![16, 64] } else { capacities };
    let cks = if std::env::var("KS32").is_ok() {
        ClientKey::new(tfhe::shortint::parameters::PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128)
    } else {
        ClientKey::new(PARAM_MESSAGE_2_CARRY_2_KS_PBS)
    };
    let sks = ServerKey::new_radix_server_key(&cks);
    println!("{:>8} {:>5} {:>10} {:>10} {:>12}", "capacity", "bits", "GET s", "SET s", "naive GET s");
    for &capacity in &capacities {
        for bits in [8usize, 16] {
            let enc = |v: u64| cks.encrypt_radix(v, blocks_for(bits));
            let mut store = Store::empty(&sks, capacity, bits, bits);
            // Half full, with real ciphertexts in every slot.
            for i in 0..capacity as u64 {
                store.keys[i as usize] = enc(i * 3);
                store.values[i as usize] = enc(i);
                store.occupied[i as usize] = cks.encrypt_bool(i % 2 == 0);
            }
            let query = enc(6);
            let _ = store.get(&sks, &query); // warm-up: FFT plans, thread pool
            let t = Instant::now();
            let r = store.get(&sks, &query);
            let get = t.elapsed().as_secs_f64();
            assert_eq!(cks.decrypt_radix::<u64>(&r.value), 2);
            if std::env::var("PARTS").is_ok() {
                let t = Instant::now();
                let flags = store.matches(&sks, &query);
                let m = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let _ = sks.boolean_one_hot_dot_prod(&flags, &store.values);
                let d = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let _ = pseudo_fhe::any(&sks, &flags);
                let a = t.elapsed().as_secs_f64();
                println!("   GET parts: matches {m:.2} s, dot product {d:.2} s, found (OR tree) {a:.2} s");
            }
            let t = Instant::now();
            let stored = store.set(&sks, &enc(1000 % (1 << bits)), &enc(5));
            let set = t.elapsed().as_secs_f64();
            assert!(cks.decrypt_bool(&stored));
            let t = Instant::now();
            let n = naive_get(&sks, &store, &query);
            let naive = t.elapsed().as_secs_f64();
            assert_eq!(cks.decrypt_radix::<u64>(&n), 2);
            println!("{capacity:>8} {bits:>5} {get:>10.2} {set:>10.2} {naive:>12.2}");
        }
    }
}
