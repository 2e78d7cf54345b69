//! The audit of `pseudo_rewrap`: one `rewrap` row per transaction that
//! re-encrypted values, with their count, their new key ids and the tables
//! the statements that rewrapped them wrote. Written by the code that did the
//! work, never by a function a caller could call with made-up numbers.
//!
//! Each rewrap is tallied in the backend, per subtransaction: an aborted one
//! takes its rewraps with it. The tally is written as one row before COMMIT or
//! PREPARE, as the extension owner, so it commits with the work (a procedure
//! that commits in batches, like `pseudo_rewrap_column`, writes one row per
//! batch). One row per transaction rather than per statement: a statement
//! boundary is not visible from inside a function called per row (a SQL
//! function around `pseudo_rewrap` runs an executor per row). When a
//! statement's executor ends, the table it wrote is noted with the rewraps it
//! made (`ExecutorEnd_hook`). A tally of many subjects is written early, in
//! rows of at most [`MAX_KEY_IDS_PER_ROW`] key ids, taking only the current
//! subtransaction's parts (an outer one could still commit while this one
//! aborts).

use crate::error::{OrRaise, PseudoError};
use crate::key_store;
use crate::owner_context::as_extension_owner;
use pgrx::prelude::*;
use pgrx::{PgList, Uuid};
use pseudo_core::KeyId;
use std::cell::RefCell;

/// Distinct key ids after which the tally is written mid-statement, so one
/// statement over many subjects keeps a bounded list (and several rows).
const MAX_KEY_IDS_PER_ROW: usize = 10_000;

/// The rewraps of one subtransaction since the last write.
struct Part {
    subxact: pg_sys::SubTransactionId,
    values: i64,
    key_ids: Vec<KeyId>,
    /// Tables written by statements that rewrapped values of this part.
    tables: Vec<pg_sys::Oid>,
    /// Rewraps since a statement end last noted its table.
    since_statement_end: bool,
}

thread_local! {
    static PENDING: RefCell<Vec<Part>> = const { RefCell::new(Vec::new()) };
}

static mut PREVIOUS_EXECUTOR_END: pg_sys::ExecutorEnd_hook_type = None;

/// Called once from `_PG_init`.
pub fn install() {
    // SAFETY: _PG_init runs once per backend, before any statement, single-threaded.
    unsafe {
        PREVIOUS_EXECUTOR_END = pg_sys::ExecutorEnd_hook;
        pg_sys::ExecutorEnd_hook = Some(note_table_at_executor_end);
    }
}

/// Records that a value was re-encrypted under `new_key`.
pub fn note_rewrap(new_key: &KeyId) {
    // SAFETY: reads the backend's transaction state.
    let subxact = unsafe { pg_sys::GetCurrentSubTransactionId() };
    let full = PENDING.with_borrow_mut(|parts| {
        if parts.last().is_none_or(|p| p.subxact != subxact) {
            parts.push(Part { subxact, values: 0, key_ids: Vec::new(), tables: Vec::new(), since_statement_end: false });
        }
        let part = parts.last_mut().expect("pushed above");
        part.values += 1;
        part.since_statement_end = true;
        if part.key_ids.last() != Some(new_key) {
            part.key_ids.push(*new_key);
        }
        if part.key_ids.len() >= MAX_KEY_IDS_PER_ROW {
            part.key_ids.sort_unstable();
            part.key_ids.dedup();
        }
        part.key_ids.len() >= MAX_KEY_IDS_PER_ROW
    });
    if full {
        write_pending().or_raise();
    }
}

/// A subtransaction aborted: its rewraps (and its children's) did not happen.
pub fn at_subtransaction_abort(subxact: pg_sys::SubTransactionId) {
    PENDING.with_borrow_mut(|parts| parts.retain(|p| p.subxact < subxact));
}

/// The transaction ended: anything still tallied was written or rolled back.
pub fn at_transaction_end() {
    PENDING.with_borrow_mut(Vec::clear);
}

/// Writes the transaction's tally (called before COMMIT and PREPARE, where
/// no statement's snapshot is active: the insert gets its own).
pub fn write_before_commit() -> Result<(), PseudoError> {
    if PENDING.with_borrow(Vec::is_empty) {
        return Ok(());
    }
    // SAFETY: a snapshot of the still open transaction, pushed and popped
    // around the insert (an error aborts the transaction, which pops it).
    unsafe {
        let pushed = !pg_sys::ActiveSnapshotSet();
        if pushed {
            pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        }
        let written = write_pending();
        if pushed {
            pg_sys::PopActiveSnapshot();
        }
        written
    }
}

/// Notes the table a statement wrote with the rewraps made while it ran.
/// Nothing here can fail: reading the plan, then pushing to a Vec.
#[pg_guard]
unsafe extern "C-unwind" fn note_table_at_executor_end(query_desc: *mut pg_sys::QueryDesc) {
    // SAFETY: PostgreSQL passes a valid QueryDesc; read before it is freed.
    if let Some(table) = unsafe { written_table(query_desc) } {
        PENDING.with_borrow_mut(|parts| {
            for part in parts.iter_mut().filter(|p| p.since_statement_end) {
                part.since_statement_end = false;
                if !part.tables.contains(&table) {
                    part.tables.push(table);
                }
            }
        });
    }
    // SAFETY: the previous hook or the standard one, as every hook must.
    unsafe {
        match PREVIOUS_EXECUTOR_END {
            Some(previous) => pg_sys::ffi::pg_guard_ffi_boundary(|| previous(query_desc)),
            None => pg_sys::standard_ExecutorEnd(query_desc),
        }
    }
}

/// The one table an INSERT, UPDATE or MERGE wrote, if there was exactly one.
unsafe fn written_table(query_desc: *mut pg_sys::QueryDesc) -> Option<pg_sys::Oid> {
    // SAFETY: the caller passes a live QueryDesc; its plan and range table
    // are lists of the documented node types.
    unsafe {
        let stmt = (*query_desc).plannedstmt;
        if stmt.is_null() || (*stmt).commandType == pg_sys::CmdType::CMD_SELECT {
            return None;
        }
        let results = PgList::<std::ffi::c_void>::from_pg((*stmt).resultRelations);
        if results.len() != 1 {
            return None;
        }
        let index = results.get_int(0)?;
        let rtable = PgList::<pg_sys::RangeTblEntry>::from_pg((*stmt).rtable);
        let rte = rtable.get_ptr(usize::try_from(index).ok()?.checked_sub(1)?)?;
        Some((*rte).relid).filter(|oid| *oid != pg_sys::InvalidOid)
    }
}

/// Writes one audit row for the parts of the current subtransaction and its
/// committed children; outer parts wait (at commit, that is all of them).
fn write_pending() -> Result<(), PseudoError> {
    // SAFETY: reads the backend's transaction state.
    let current = unsafe { pg_sys::GetCurrentSubTransactionId() };
    let mine = PENDING.with_borrow_mut(|parts| {
        let first = parts.iter().position(|p| p.subxact >= current).unwrap_or(parts.len());
        parts.split_off(first)
    });
    let (mut values, mut key_ids, mut tables) = (0i64, Vec::new(), Vec::new());
    for part in mine {
        values += part.values;
        key_ids.extend(part.key_ids);
        tables.extend(part.tables);
    }
    // Nothing to record, or the extension was dropped in this transaction.
    if values == 0 || !crate::owner_context::relation_exists(c"audit_log") {
        return Ok(());
    }
    key_ids.sort_unstable();
    key_ids.dedup();
    tables.sort_unstable_by_key(|oid| oid.to_u32());
    tables.dedup();
    let key_ids = key_ids.iter().map(|id| Uuid::from_bytes(*id)).collect();
    as_extension_owner(|| Spi::connect_mut(|client| key_store::audit_rewrap(client, key_ids, values, tables)))
}
