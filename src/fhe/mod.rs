//! The private key/value store on TFHE ciphertexts (`pseudo_fhe` computes;
//! this is its PostgreSQL side).
//!
//! * [`functions`]: the SQL-callable functions, one-line wrappers.
//! * [`store`]: the `pseudo_fhe` tables: stores, slots, ownership, limits.
//! * [`pool`]: the worker threads inside a backend, and interrupts between steps.

pub mod functions;
pub mod pool;
pub mod store;
