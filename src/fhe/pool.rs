//! The worker threads of the FHE store, inside a backend.
//!
//! PostgreSQL backends are single-threaded: signal handlers, `elog`, memory
//! contexts and SPI assume the main thread. TFHE-rs computes on rayon's
//! global pool, so that pool is built here, on first use, with care:
//!
//! * only in a backend (`IsUnderPostmaster`), never in the postmaster, which
//!   forks every backend (threads do not survive `fork`);
//! * with every signal blocked while the workers are spawned, so they inherit
//!   a full mask and each also blocks all signals again when it starts: the
//!   postmaster's and the backend's signals (SIGINT for cancel, SIGTERM,
//!   SIGALRM for `statement_timeout`, ...) are always delivered to the main
//!   thread;
//! * workers run only TFHE-rs code on Rust-allocated memory: no PostgreSQL
//!   function is called off the main thread. The main thread splits the work
//!   into steps of one slot per worker and runs `CHECK_FOR_INTERRUPTS`
//!   between them ([`pseudo_fhe::Pace::per_thread`]), so cancel and
//!   `statement_timeout` stop a GET or SET within one slot's work.
//!
//! `pseudo_ext.fhe_threads` (superuser, default 2; 0 = one per CPU) sizes the
//! pool; it is read once per backend, when the pool is built. A small default:
//! every backend that uses a store gets its own pool.

use crate::error::PseudoError;
use crate::pg::{backend, os};
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use pseudo_fhe::tfhe::integer::{CompressedServerKey, ServerKey};
use std::sync::OnceLock;

pub static FHE_THREADS: GucSetting<i32> = GucSetting::<i32>::new(2);

pub fn define_gucs() {
    GucRegistry::define_int_guc(
        c"pseudo_ext.fhe_threads",
        c"Worker threads per backend for the FHE key/value store (0: one per CPU; default 2).",
        c"Read once per backend, when its first FHE call builds the pool.",
        &FHE_THREADS,
        0,
        256,
        GucContext::Suset,
        GucFlags::empty(),
    );
}

static POOL: OnceLock<Result<usize, String>> = OnceLock::new();

fn build() -> Result<usize, String> {
    let threads = match FHE_THREADS.get() {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n as usize,
    };
    if !backend::under_postmaster() {
        return Err("the FHE store runs only in a backend".into());
    }
    // The workers start with every signal blocked (inherited, and again in
    // their start handler): PostgreSQL's handlers run on the main thread only.
    let built = os::with_all_signals_blocked(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("pseudo_fhe worker {i}"))
            .start_handler(|_| os::block_all_signals())
            .build_global()
    });
    built.map(|()| threads).map_err(|e| e.to_string())
}

/// Builds the pool on first use; the number of worker threads.
pub fn ensure() -> Result<usize, PseudoError> {
    POOL.get_or_init(build).clone().map_err(|why| PseudoError::FheThreads { why })
}

/// Between batches, on the main thread: raises the pending cancel or
/// `statement_timeout` error, if any.
pub fn check_for_interrupts() {
    pgrx::check_for_interrupts!();
}

/// Decompresses a server key on the workers (the pool: [`ensure`] first)
/// while the main thread keeps answering cancel and `statement_timeout` (it
/// takes seconds). A cancelled decompression finishes on the workers and is
/// dropped; a panic there comes back to the main thread (an ERROR), never
/// unwinds out of a worker (which would abort the backend).
pub fn decompress(compressed: CompressedServerKey) -> ServerKey {
    use std::sync::mpsc::RecvTimeoutError;
    let (done, result) = std::sync::mpsc::channel();
    rayon::spawn(move || {
        let _ = done.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| compressed.decompress())));
    });
    loop {
        match result.recv_timeout(std::time::Duration::from_millis(20)) {
            Ok(Ok(key)) => return key,
            Err(RecvTimeoutError::Timeout) => check_for_interrupts(),
            Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => panic!("server key decompression failed"),
        }
    }
}
