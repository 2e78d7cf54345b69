//! Which table a statement wrote: an `ExecutorEnd` hook that hands the one
//! table an INSERT, UPDATE or MERGE wrote to a callback (the audit notes
//! the tables a rewrap went into).

use pgrx::prelude::*;
use pgrx::{pg_sys, PgList};
use std::cell::Cell;

thread_local! {
    static CALLBACK: Cell<Option<fn(pg_sys::Oid)>> = const { Cell::new(None) };
    static PREVIOUS: Cell<pg_sys::ExecutorEnd_hook_type> = const { Cell::new(None) };
}

/// Calls `f` at the end of every statement that wrote exactly one table,
/// with that table, before the statement's plan is freed. Call once, from
/// `_PG_init`; `f` must not fail.
pub fn on_statement_end(f: fn(pg_sys::Oid)) {
    CALLBACK.set(Some(f));
    // SAFETY: _PG_init runs once per backend, before any statement, on the
    // main thread: the hook chain is ours to extend.
    unsafe {
        PREVIOUS.set(pg_sys::ExecutorEnd_hook);
        pg_sys::ExecutorEnd_hook = Some(at_executor_end);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn at_executor_end(query_desc: *mut pg_sys::QueryDesc) {
    // SAFETY: PostgreSQL passes the statement's live QueryDesc.
    if let (Some(table), Some(f)) = (unsafe { written_table(query_desc) }, CALLBACK.get()) {
        f(table);
    }
    // SAFETY: the previous hook or the standard one, as every hook must.
    unsafe {
        match PREVIOUS.get() {
            Some(previous) => pg_sys::ffi::pg_guard_ffi_boundary(|| previous(query_desc)),
            None => pg_sys::standard_ExecutorEnd(query_desc),
        }
    }
}

/// The one table an INSERT, UPDATE or MERGE wrote, if there was exactly one.
///
/// # Safety
/// `query_desc` is a live QueryDesc.
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
