//! Pseudonymization: `pseudo_text`, per-subject keys, crypto-shredding and
//! the root key that wraps them. Dependencies run one way: SQL surface
//! ([`functions`], [`type_io`]) → [`key_cache`] → [`key_store`] →
//! [`root_key_source`]; [`root_rotation`] → [`key_store`] (see
//! `docs/architecture.md`).
//!
//! * [`type_io`]: the `pseudo_text` type's text and binary I/O.
//! * [`functions`]: the SQL-callable functions, one-line wrappers.
//! * [`key_cache`]: per-backend cache of unwrapped keys and its invalidation.
//! * [`key_store`]: the `pseudo_keys` tables, reached only as the extension owner.
//! * [`key_audit`]: the `create` and `rewrap` audit rows, one per transaction, written by the code that did the work.
//! * [`root_key_source`]: the root key file or command; creating and editing the file.
//! * [`root_key_users`]: which databases use which keys of a shared root key file.
//! * [`root_rotation`]: root key epochs: rotation, retirement, rewrapping.
//! * [`search`]: equality search: index keys, the terms a transaction writes, search and recheck.
//! * [`search_store`]: the search tables (`pseudo_keys.search_key`, `search_term`), reached as the extension owner.
//! * [`citus`]: on a Citus worker, keys are created through the coordinator.
//! * [`config_check`]: the root key findings of `pseudo_check_config()`.

pub mod citus;
pub mod config_check;
pub mod functions;
pub mod key_audit;
pub mod key_cache;
pub mod key_store;
pub mod root_key_source;
pub mod root_key_users;
pub mod root_rotation;
pub mod search;
pub mod search_store;
pub mod type_io;
