//! The pure core of pseudo_ext: everything that can be computed without a
//! PostgreSQL server. The extension crate is a thin pgrx layer over it.
//!
//! * [`envelope`]: the on-disk format of a `pseudo_text` value and its text (hex) form.
//! * [`subject_key`]: a data subject's AES-128-CCM key; seals and opens envelopes.
//! * [`root_key`]: the root key that wraps subject keys and the subject-digest key.
//! * [`search_term`]: search index keys, normalization and the terms that make values findable.
//! * [`key_file`]: the text format of a root key source (one key per line).
//! * [`cached_keys`]: the bounded, CLOCK-evicted set of raw keys each backend caches.
//! * [`random`]: the OS CSPRNG, per call (keys, key ids, wrapping nonces).
//! * [`nonce`]: value nonces from a per-process generator seeded by [`random`].
//!
//! Nothing here logs, prints or formats key bytes or plaintext: secret types have
//! no `Debug` and are zeroized on drop.

#![forbid(unsafe_code)]

pub mod cached_keys;
pub mod envelope;
pub mod error;
pub mod key_file;
pub mod nonce;
pub mod random;
pub mod root_key;
pub mod search_term;
pub mod subject_key;

pub use envelope::{Envelope, KeyId};
pub use error::CoreError;
pub use root_key::{DigestKey, RootKey};
pub use subject_key::SubjectKey;
