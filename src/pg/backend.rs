//! This backend and its transaction: process, database, recovery and
//! transaction state, pending interrupts. Reads of backend globals, each
//! behind a safe function.

use pgrx::pg_sys;

/// This process's id: `MyProcPid`, which PostgreSQL sets in every process
/// after `fork` (a global read, not a system call).
pub fn process_id() -> u32 {
    // SAFETY: reads a backend global set at process start.
    unsafe { pg_sys::MyProcPid as u32 }
}

/// The database this backend is connected to.
pub fn database_id() -> pg_sys::Oid {
    // SAFETY: reads a backend global set when the backend connects.
    unsafe { pg_sys::MyDatabaseId }
}

/// The cluster's system identifier (from the control file).
pub fn system_identifier() -> u64 {
    // SAFETY: reads the control file's identifier, set at startup.
    unsafe { pg_sys::GetSystemIdentifier() }
}

/// Whether this is a process the postmaster started (a backend or worker),
/// not a single-user or bootstrap process.
pub fn under_postmaster() -> bool {
    // SAFETY: reads a process-wide flag set once at process start.
    unsafe { pg_sys::IsUnderPostmaster }
}

/// Whether the server is a standby still replaying WAL.
pub fn recovery_in_progress() -> bool {
    // SAFETY: reads shared memory state; callable from any backend.
    unsafe { pg_sys::RecoveryInProgress() }
}

/// Whether this transaction cannot write (a hot standby, or READ ONLY).
pub fn read_only_transaction() -> bool {
    // SAFETY: reads a backend global of the current transaction.
    recovery_in_progress() || unsafe { pg_sys::XactReadOnly }
}

/// Whether the current transaction runs at READ COMMITTED.
pub fn read_committed() -> bool {
    // SAFETY: reads a backend global of the current transaction.
    unsafe { pg_sys::XactIsoLevel == pg_sys::XACT_READ_COMMITTED as i32 }
}

/// The current subtransaction's id (1 for the top level; inner ones are larger).
pub fn subtransaction_id() -> pg_sys::SubTransactionId {
    // SAFETY: reads the backend's transaction state.
    unsafe { pg_sys::GetCurrentSubTransactionId() }
}

/// When the current statement started: one value per statement, also for
/// the statements of a function.
pub fn statement_start() -> pg_sys::TimestampTz {
    // SAFETY: reads the backend's statement start time.
    unsafe { pg_sys::GetCurrentStatementStartTimestamp() }
}

/// Whether a cancel or a termination is pending (the next
/// `CHECK_FOR_INTERRUPTS` raises it).
pub fn cancel_or_termination_pending() -> bool {
    // SAFETY: reads flags the backend's signal handlers set.
    unsafe { pg_sys::InterruptPending != 0 && (pg_sys::QueryCancelPending != 0 || pg_sys::ProcDiePending != 0) }
}

/// Runs `f` with a snapshot of the open transaction active, pushing one
/// only when none is (before COMMIT no statement's snapshot is).
pub fn with_active_snapshot<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: pushes a snapshot of the still open transaction; popped below,
    // or by the transaction abort an error in `f` leads to.
    let pushed = unsafe {
        let pushed = !pg_sys::ActiveSnapshotSet();
        if pushed {
            pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        }
        pushed
    };
    let result = f();
    if pushed {
        // SAFETY: pops the snapshot pushed above; `f` returned, so it is on top.
        unsafe { pg_sys::PopActiveSnapshot() };
    }
    result
}

/// Makes every setting under `prefix.` that the extension does not define an
/// error instead of a silent placeholder. Call from `_PG_init`.
pub fn reserve_setting_prefix(prefix: &std::ffi::CStr) {
    // SAFETY: called from _PG_init, once per backend; the name is a C string.
    unsafe { pg_sys::MarkGUCPrefixReserved(prefix.as_ptr()) }
}
