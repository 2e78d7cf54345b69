//! What the current transaction has done to key state, shared by the key
//! store (which writes keys) and the key cache's transaction callbacks
//! (which must know whether an abort can leave stale cached keys). Atomics
//! only: the callbacks read them in the middle of anything.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counts ended transactions: tells the key store which one it is in.
static XACT_SERIAL: AtomicU64 = AtomicU64::new(0);
/// Set when the current transaction wrote key state (created a key or the
/// first root-key row, or shredded): only then can an abort leave stale
/// entries, so only then does an abort drop the cache.
static XACT_WROTE_KEYS: AtomicBool = AtomicBool::new(false);

/// Marks the current transaction as one that wrote key state.
pub fn note_key_write() {
    XACT_WROTE_KEYS.store(true, Ordering::Release);
}

/// Whether the current transaction wrote key state.
pub fn wrote_keys() -> bool {
    XACT_WROTE_KEYS.load(Ordering::Acquire)
}

/// The transaction ended: returns whether it wrote key state, and starts
/// the next one clean.
pub fn at_transaction_end() -> bool {
    XACT_SERIAL.fetch_add(1, Ordering::AcqRel);
    XACT_WROTE_KEYS.swap(false, Ordering::AcqRel)
}

/// Which transaction this is, as a number that changes when one ends.
pub fn transaction_serial() -> u64 {
    XACT_SERIAL.load(Ordering::Acquire)
}
