//! Randomness for subject keys, key ids, root keys, wrapping nonces and the
//! seeds of the value nonce generator ([`crate::nonce`]).
//!
//! Every call asks the operating system (`getrandom(2)`): nothing here can be
//! duplicated by `fork()`. Value nonces, one per encrypted value, come from
//! [`crate::nonce`] instead: the system call cost about 0.25 µs per value.

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
