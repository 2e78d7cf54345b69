//! HINTs for PostgreSQL's own "permission denied" errors on the extension's
//! objects: which role to grant. The executor raises them before any of our
//! code runs, so they are completed in the `emit_log_hook` of
//! [`crate::pg::log_filter`], which sees every error before it reaches the client
//! and the log. Only an error without a hint gets one; the text is static and
//! copied into `ErrorContext`, where PostgreSQL keeps the rest of the error.

use pgrx::pg_sys;
use std::ffi::CStr;

/// The role a function's EXECUTE privilege is granted to, by name prefix.
fn hint_for_function(name: &[u8]) -> Option<&'static CStr> {
    Some(match name {
        b"pseudo_encrypt" | b"pseudo_rewrap_column" | b"pseudo_encrypt_searchable" => {
            c"Encrypting needs the role pseudo_writer: GRANT pseudo_writer TO the role that calls it."
        }
        b"pseudo_decrypt" => {
            c"Decrypting needs the role pseudo_reader: GRANT pseudo_reader TO the role that reads plaintext."
        }
        b"pseudo_rewrap" => {
            c"Rewrapping needs both pseudo_reader and pseudo_writer: GRANT pseudo_reader, pseudo_writer TO the role."
        }
        b"pseudo_needs_rewrap" => c"It needs one of the roles pseudo_reader, pseudo_writer or pseudo_admin.",
        b"pseudo_search" | b"pseudo_matches" => {
            c"Searching needs the role pseudo_searcher: GRANT pseudo_searcher TO the role that searches."
        }
        b"pseudo_rotate"
        | b"pseudo_shred"
        | b"pseudo_subject_keys"
        | b"pseudo_rotate_root_key"
        | b"pseudo_retire_root_key"
        | b"pseudo_destroy_root_key"
        | b"pseudo_check_config"
        | b"pseudo_create_search_index"
        | b"pseudo_rotate_search_index"
        | b"pseudo_reindex_search_column"
        | b"pseudo_drop_search_index" => {
            c"Key administration needs the role pseudo_admin: GRANT pseudo_admin TO the administering role."
        }
        b"pseudo_fhe_create_store" | b"pseudo_fhe_get" | b"pseudo_fhe_set" | b"pseudo_fhe_drop_store" => {
            c"The FHE key/value store needs the role pseudo_fhe_user: GRANT pseudo_fhe_user TO the role."
        }
        _ => return None,
    })
}

fn hint_for(message: &[u8]) -> Option<&'static CStr> {
    if let Some(rest) = message
        .strip_prefix(b"permission denied for function ")
        .or_else(|| message.strip_prefix(b"permission denied for procedure "))
    {
        return hint_for_function(rest);
    }
    match message {
        b"permission denied for schema pseudo_keys" => Some(
            c"Key tables belong to the extension owner; pseudo_admin may read the views pseudo_keys.subject_keys, key_counts, root_key_epochs and the audit_log.",
        ),
        b"permission denied for schema pseudo_fhe" => {
            Some(c"FHE stores are used through the pseudo_fhe_* functions and the view pseudo_fhe.stores, with the role pseudo_fhe_user.")
        }
        _ => None,
    }
}

/// Adds the hint to `e` if it is a permission error on one of our objects.
///
/// # Safety
/// `e` must be the `ErrorData` PostgreSQL passes to `emit_log_hook`.
pub unsafe fn add_hint(e: &mut pg_sys::ErrorData) {
    if e.sqlerrcode != pgrx::PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE as i32
        || !e.hint.is_null()
        || e.message.is_null()
    {
        return;
    }
    // SAFETY: a NUL-terminated message; the copy lives in ErrorContext like the message.
    unsafe {
        if let Some(hint) = hint_for(CStr::from_ptr(e.message).to_bytes()) {
            e.hint = pg_sys::MemoryContextStrdup(pg_sys::ErrorContext, hint.as_ptr());
        }
    }
}
