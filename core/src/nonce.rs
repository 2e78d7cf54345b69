//! Nonces for sealing values, without a system call per value: a ChaCha20
//! generator seeded from the OS once per process.
//!
//! A generator's state must never be used by two processes: the postmaster
//! forks every backend, and a repeated CCM nonce under one key reveals the
//! XOR of two plaintexts and lets tags be forged. So the generator remembers
//! the process id it was seeded in, and every call passes the current one (in
//! PostgreSQL `MyProcPid`, which each process sets after `fork`; a read of a
//! global, where `getpid()` is a system call). A different id reseeds from
//! the OS before the next nonce: a forked child never continues its parent's
//! stream. Within a process the nonces are a ChaCha20 keystream (a CSPRNG:
//! any two 13-byte nonces are equal with probability 2^-104, as for nonces
//! fresh from the OS); across processes the seeds are independent.
//! `tests/nonce.rs` forks and checks it.

use crate::envelope::NONCE_LEN;
use crate::{random, CoreError};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::cell::RefCell;

thread_local! {
    static GENERATOR: RefCell<Option<(u32, ChaCha20Rng)>> = const { RefCell::new(None) };
}

/// A fresh nonce for process `process_id` (the caller's current process).
pub fn next(process_id: u32) -> Result<[u8; NONCE_LEN], CoreError> {
    GENERATOR.with_borrow_mut(|generator| {
        if generator.as_ref().is_none_or(|(seeded_in, _)| *seeded_in != process_id) {
            *generator = Some((process_id, ChaCha20Rng::from_seed(random::bytes::<32>()?)));
        }
        let (_, rng) = generator.as_mut().expect("seeded above");
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        Ok(nonce)
    })
}
