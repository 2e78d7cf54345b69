//! PostgreSQL calls our transaction, subtransaction and relcache callbacks and
//! the `emit_log_hook` from C. A Rust panic must never unwind into those C
//! frames, and most of them run where an ERROR is not allowed either (after
//! commit, during abort, while an error is being reported). So each one runs
//! its body through [`no_unwind`]; the one that raises an ERROR on purpose
//! (refusing a PREPARE, before the point of no return) is `#[pg_guard]` as
//! well. `tests/callbacks.sh` checks that every function registered with
//! PostgreSQL does one of the two.

/// Runs `f`, stopping any panic here; returns whether `f` completed.
pub fn no_unwind(f: impl FnOnce()) -> bool {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok()
}
