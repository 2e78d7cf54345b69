//! Keeps plaintext out of the server log when a statement fails.
//!
//! With PostgreSQL's default `log_min_error_statement = error`, the server log
//! gets the full text of every failing statement, literals included: a
//! refused `pseudo_encrypt('user-1', 'secret')` would put `secret` there. An
//! `emit_log_hook` sets `hide_stmt` on every message emitted while the current
//! statement mentions `pseudo_` (any of the extension's functions), and on
//! every message of the extension itself: the message is logged, the
//! statement is not. Loaded with the library, so it covers a session from its
//! first pseudo_ext call; with `shared_preload_libraries = 'pseudo_ext'` it
//! covers every statement. `log_statement` and `log_min_duration_statement`
//! log statements by design and are flagged by `pseudo_check_config()`.
//!
//! The same hook completes PostgreSQL's "permission denied" errors on our
//! objects with a HINT naming the role to grant ([`crate::role_hints`]).
//! Apart from that hint's copy, the hook only reads the message and the query
//! string and sets a flag.

use crate::no_unwind::no_unwind;
use pgrx::pg_sys;
use std::ffi::CStr;

static mut PREVIOUS_HOOK: pg_sys::emit_log_hook_type = None;

/// Called once from `_PG_init`.
pub fn install() {
    // SAFETY: _PG_init runs once per backend, before any statement, single-threaded.
    unsafe {
        PREVIOUS_HOOK = pg_sys::emit_log_hook;
        pg_sys::emit_log_hook = Some(hide_statement);
    }
}

fn mentions_pseudo(text: &[u8]) -> bool {
    text.windows(7).any(|w| w.eq_ignore_ascii_case(b"pseudo_"))
}

unsafe extern "C-unwind" fn hide_statement(edata: *mut pg_sys::ErrorData) {
    // Runs while an error is being reported: nothing here may raise or unwind.
    no_unwind(|| {
        // SAFETY: PostgreSQL passes a valid ErrorData; the strings are NUL-terminated or NULL.
        unsafe {
            if let Some(e) = edata.as_mut() {
                let ours = !e.message.is_null() && CStr::from_ptr(e.message).to_bytes().starts_with(b"pseudo_ext:");
                let query = pg_sys::debug_query_string;
                let about_us = !query.is_null() && mentions_pseudo(CStr::from_ptr(query).to_bytes());
                if ours || about_us {
                    e.hide_stmt = true;
                }
                crate::role_hints::add_hint(e);
            }
        }
    });
    // SAFETY: the hook that was installed before ours, called as PostgreSQL would.
    unsafe {
        if let Some(previous) = PREVIOUS_HOOK {
            previous(edata);
        }
    }
}
