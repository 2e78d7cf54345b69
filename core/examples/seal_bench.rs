//! Raw AES-128-CCM seal and open with one key, no PostgreSQL: the floor under
//! `pseudo_encrypt`/`pseudo_decrypt`. Prints seconds per 1,000,000 operations
//! on 32-byte plaintexts (the benchmark's row size). Used by `bench/run.sh`.

use pseudo_core::envelope::Envelope;
use pseudo_core::SubjectKey;
use std::hint::black_box;
use std::time::Instant;

fn best_of<F: FnMut()>(runs: usize, mut f: F) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    const N: usize = 1_000_000;
    let key = SubjectKey::new(&[7u8; 16]);
    let id = [9u8; 16];
    let plaintext = [b'a'; 32];
    let mut out = vec![0u8; 46 + 32];
    // The process id read once, as the extension reads MyProcPid.
    let process = std::process::id();
    let seal = best_of(3, || {
        for _ in 0..N {
            key.seal_into_in_process(process, &id, b"", black_box(&plaintext), &mut out).unwrap();
            black_box(&out);
        }
    });
    let sealed = key.seal(&id, b"", &plaintext).unwrap();
    let env = Envelope::parse(&sealed).unwrap();
    let mut back = vec![0u8; 32];
    let open = best_of(3, || {
        for _ in 0..N {
            key.open_into(black_box(&env), b"", &mut back).unwrap();
            black_box(&back);
        }
    });
    println!("seal {seal:.4}");
    println!("open {open:.4}");
}
