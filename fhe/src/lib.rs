//! A private key/value store computed on TFHE ciphertexts (TFHE-rs integer
//! API), without PostgreSQL. The client holds the secret key; the server
//! holds only the server (evaluation) key and the slots, and computes:
//!
//! * **private GET**: the value stored under an encrypted key, and an
//!   encrypted "found" flag, without learning the key, the value or whether
//!   it was found;
//! * **private SET**: overwrite the slot holding an encrypted key, or fill the
//!   first free slot, without learning which happened. Keys stay unique, so a
//!   repeated SET of the same key leaves one slot. A full store is reported
//!   only inside the encrypted result.
//!
//! * [`store`]: the slots, GET and SET;
//! * [`boxed`]: a SET's key and value as client-encrypted accumulators, all
//!   chunks selected by a flag in one blind rotation;
//! * [`chunks`]: keys and values as 4-bit chunks with their halves;
//! * [`matching`]: an encrypted query against every stored key, chunk by chunk;
//! * [`encoding`]: plaintexts beyond TFHE-rs' integers (padding flags, half
//!   units) and the tables that make them;
//! * [`params`]: the one TFHE parameter set and the shapes derived from it;
//! * [`wire`]: the bytes clients and the database exchange, decoded with
//!   size limits and conformance checks;
//! * [`client`]: the client key, encryption and decryption;
//! * [`error`]: what can be wrong with bytes handed to a store.

#![forbid(unsafe_code)]

pub mod boxed;
pub mod chunks;
pub mod client;
pub mod encoding;
pub mod error;
pub mod matching;
pub mod params;
pub mod store;
pub mod wire;

pub use error::FheError;
pub use params::{blocks_for, BITS_PER_BLOCK};
pub use store::{Found, Pace, SetOperands, Store};
/// The TFHE-rs this crate is built on, for callers that name its types.
pub use tfhe;
