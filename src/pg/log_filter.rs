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
//! Decrypted plaintext also reaches PostgreSQL's own messages: `invalid input
//! syntax for type integer: "<plaintext>"` from a cast, `Key (e)=(<plaintext>)`
//! from a unique violation, a trigger's `RAISE`. So every message that is not
//! pseudo_ext's own, raised while a statement that uses pseudo_ext runs (its
//! text mentions `pseudo_`, or `pseudo_encrypt`/`pseudo_decrypt` ran in it:
//! through a view, a trigger or a wrapper function too), is kept out of the
//! server log: the hook turns its `output_to_server` off and logs one line with
//! its level and SQLSTATE instead. The client still gets the whole message.
//! pseudo_ext's own messages never carry data and are logged as they are.
//!
//! The same hook completes PostgreSQL's "permission denied" errors on our
//! objects with a HINT naming the role to grant ([`crate::pg::role_hints`]).

use crate::pg::backend;
use crate::pg::no_unwind::no_unwind;
use pgrx::pg_sys;
use std::cell::Cell;
use std::ffi::CStr;

thread_local! {
    /// Start of the last statement in which plaintext passed through pseudo_ext.
    static PLAINTEXT_STATEMENT: Cell<pg_sys::TimestampTz> = const { Cell::new(pg_sys::TimestampTz::MIN) };
    /// Set while the hook logs its redacted line, which it must not redact again.
    static REDACTING: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current top-level statement as one that handles plaintext (a
/// function called from a view, trigger or SQL function runs within it).
pub fn note_plaintext_statement() {
    PLAINTEXT_STATEMENT.set(backend::statement_start());
}

fn in_plaintext_statement() -> bool {
    PLAINTEXT_STATEMENT.get() == backend::statement_start()
}

/// Replaces `e`'s server-log copy with its level and SQLSTATE.
fn redact_for_server_log(e: &mut pg_sys::ErrorData) {
    e.output_to_server = false;
    let level = match e.elevel as u32 {
        pg_sys::PGERROR => "ERROR",
        pg_sys::WARNING => "WARNING",
        pg_sys::NOTICE => "NOTICE",
        pg_sys::INFO => "INFO",
        pg_sys::LOG => "LOG",
        _ => "message",
    };
    // PostgreSQL packs a SQLSTATE as five 6-bit characters (MAKE_SQLSTATE).
    let code: String = (0..5).map(|i| (((e.sqlerrcode >> (6 * i)) & 0x3f) as u8 + b'0') as char).collect();
    REDACTING.set(true);
    pgrx::log!("pseudo_ext: {level} {code} in a statement that uses pseudo_ext; message not logged (it may hold decrypted data)");
    REDACTING.set(false);
}

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
                crate::pg::role_hints::add_hint(e);
                if !ours && e.output_to_server && (about_us || in_plaintext_statement()) && !REDACTING.get() {
                    e.hide_stmt = true;
                    redact_for_server_log(e);
                }
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
