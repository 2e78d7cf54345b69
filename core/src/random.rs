//! Randomness for nonces, subject keys, key ids and root keys.
//!
//! Every call asks the operating system (`getrandom(2)`): a user-space generator
//! seeded once could be duplicated by `fork()` (the postmaster forks every
//! backend), and a repeated CCM nonce under one key reveals plaintext. The
//! system call costs a fraction of a microsecond; measured in `bench/`.

use crate::CoreError;
use rand::rngs::OsRng;
use rand::RngCore;

/// Fills `buf` from the OS CSPRNG.
pub fn fill(buf: &mut [u8]) -> Result<(), CoreError> {
    OsRng.try_fill_bytes(buf).map_err(|_| CoreError::Randomness)
}

/// `N` fresh random bytes.
pub fn bytes<const N: usize>() -> Result<[u8; N], CoreError> {
    let mut out = [0u8; N];
    fill(&mut out)?;
    Ok(out)
}
